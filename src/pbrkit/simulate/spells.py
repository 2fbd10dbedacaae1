"""A person's spell at liberty and what the courts do: the synthetic population's
model, driven by common random numbers.

The simulated market must be the world `pbrkit.synth` generates, only carried
forward under a contract: the same OGRS3-based offending rates with their
gamma frailty, the same courts, sentences and supervision. So this module
reuses `pbrkit.synth.people`'s functions and `SynthParams`' calibrated values
and differs in one thing only: each random choice takes a uniform number from
`draws` (addressed by person and event) instead of a generator, so the design
world and the counterfactual draw the same luck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbrkit.synth.params import OGRS3_INTERCEPT_2YR, SynthParams
from pbrkit.synth.people import (
    CUSTODY_LONG,
    CUSTODY_SHORT,
    DAYS_PER_YEAR,
    VIOLENT_OFFENCES,
    ogrs3_linear,
)

SYNTH = SynthParams()
TIER_LOW, TIER_MEDIUM, TIER_HIGH = 0, 1, 2
_OFFENCE_PROBS = np.asarray(SYNTH.offence_type_probs)
_RESENTENCE = np.asarray(SYNTH.resentence_logits, dtype=float)


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class SpellTraits:
    """What a new spell's start fixes: the index offence, risk and the offending rate."""

    offence: np.ndarray  # OGRS3 offence category
    high_risk: np.ndarray  # bool: high risk of serious harm (NPS)
    ogrs: np.ndarray  # OGRS3 2-year score, percent
    rate: np.ndarray  # offences a year at liberty, at status-quo supervision (frailty included)
    risk_rate: np.ndarray  # the same from the covariates alone: what an assessment can see
    supervised: np.ndarray  # bool: the spell is an episode of supervision
    tier: np.ndarray  # TIER_LOW / TIER_MEDIUM / TIER_HIGH


def spell_traits(
    sp: SynthParams, *, age: np.ndarray, female: np.ndarray, prior: np.ndarray, first_age: np.ndarray,
    harm: np.ndarray, frailty: np.ndarray, sentence: np.ndarray, start: np.ndarray, ora_day: float,
    u_offence: np.ndarray, u_high: np.ndarray, u_one_off: np.ndarray,
) -> SpellTraits:
    """`pbrkit.synth.people.describe_spells`, with the three random choices given."""
    offence = np.minimum(np.searchsorted(np.cumsum(_OFFENCE_PROBS), u_offence, side="right"),
                         len(_OFFENCE_PROBS) - 1)
    x = ogrs3_linear(age, female, prior, first_age, offence)
    ogrs = 100.0 * logistic(OGRS3_INTERCEPT_2YR + x)
    high_logit = (sp.high_intercept + sp.high_person_sd * harm
                  + sp.high_violent_offence * np.isin(offence, VIOLENT_OFFENCES)
                  + sp.high_custody_long * (sentence == CUSTODY_LONG)
                  + sp.high_female * female)
    high = u_high < logistic(high_logit)
    supervised = (sentence != CUSTODY_SHORT) | (start >= ora_day) | (age < sp.young_adult_age)
    risk_rate = np.exp(sp.rate_intercept + sp.rate_ogrs_slope * x + sp.rate_high_tier * high
                       + sp.rate_custody_short * (sentence == CUSTODY_SHORT))
    one_off = high & (u_one_off < sp.high_one_off_share)
    rate = risk_rate * frailty * np.where(one_off, sp.one_off_rate_factor, 1.0)
    tier = np.where(high, TIER_HIGH, np.where(ogrs >= sp.medium_ogrs_cut, TIER_MEDIUM, TIER_LOW))
    return SpellTraits(offence, high, ogrs, rate, risk_rate, supervised, tier.astype(np.int8))


def sentence_probability(sp: SynthParams, prior: np.ndarray) -> np.ndarray:
    """Chance a proven offence brings a new sentence (synth's rule)."""
    return logistic(sp.sentence_intercept + sp.sentence_prior_slope * np.log1p(prior))


def disposal_delay(sp: SynthParams, z: np.ndarray) -> np.ndarray:
    """Offence to conviction or caution, days: lognormal (synth's), from a normal z."""
    return np.exp(np.log(sp.disposal_median_days) + sp.disposal_sigma * z)


def new_sentence(sp: SynthParams, prior: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`pbrkit.synth.people.resentence` with the uniform given."""
    logits = np.broadcast_to(_RESENTENCE, (prior.size, 4)).copy()
    logits[:, CUSTODY_SHORT] += sp.resentence_short_custody_prior_slope * np.log1p(prior)
    probs = np.exp(logits)
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return np.minimum((u[:, None] > cum).sum(axis=1), 3).astype(np.int8)


def served_days(sp: SynthParams, sentence: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`pbrkit.synth.people.served_days` with the uniform given: time in custody
    before release (zero for community sentences)."""
    lo, hi = sp.short_custody_served_days
    short = lo + (hi - lo) * u
    long_ = 182.0 - (sp.long_custody_served_days_mean - 182.0) * np.log(u)
    return np.select([sentence == CUSTODY_SHORT, sentence == CUSTODY_LONG], [short, long_], 0.0)


def age_at(entry_age: np.ndarray, entry_day: np.ndarray, day: np.ndarray) -> np.ndarray:
    return entry_age + (day - entry_day) / DAYS_PER_YEAR


__all__ = [
    "SYNTH", "TIER_HIGH", "TIER_LOW", "TIER_MEDIUM", "SpellTraits", "age_at", "disposal_delay", "logistic",
    "new_sentence", "sentence_probability", "served_days", "spell_traits",
]
