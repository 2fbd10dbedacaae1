"""A person's spell at liberty and what the courts do: the synthetic population's
model, driven by common random numbers.

The simulated market must be the world `pbrkit.synth` generates, only carried
forward under a contract: the same OGRS3-based offending rates with their
gamma frailty, the same courts, sentences and supervision. So the kernel
takes `SynthParams`' calibrated values and `pbrkit.synth.people`'s constants,
and its arithmetic (`kernel_jit.spell_traits`, `ogrs3_linear`,
`sentence_probability`, `new_sentence`, `served_days`, `court_delay`) is
synth's, operation for operation, with one difference only: each random
choice takes a uniform number from `draws` (addressed by person and event)
instead of a generator, so the design world and the counterfactual draw the
same luck. The tests hold the two to each other.
"""

from __future__ import annotations

import numpy as np

from pbrkit.simulate.kernel_jit import SpellModel
from pbrkit.synth.params import (
    OGRS3_AGE_BREAKS,
    OGRS3_AGE_SEX_FEMALE,
    OGRS3_AGE_SEX_MALE,
    OGRS3_COPAS,
    OGRS3_INTERCEPT_2YR,
    OGRS3_OFFENCE_TERMS,
    OGRS3_STATUS_FIRST,
    OGRS3_STATUS_REPEAT,
    SynthParams,
)
from pbrkit.synth.people import CUSTODY_LONG, CUSTODY_SHORT, DAYS_PER_YEAR, VIOLENT_OFFENCES

SYNTH = SynthParams()
TIER_LOW, TIER_MEDIUM, TIER_HIGH = 0, 1, 2


def spell_model(sp: SynthParams, ora_day: float) -> SpellModel:
    """The spell and court model's parameters, as the kernel's compiled loops take them."""
    offence_probs = np.asarray(sp.offence_type_probs)
    lo, hi = sp.short_custody_served_days
    logits = np.asarray(sp.resentence_logits, dtype=float)
    return SpellModel(
        offence_cum=_floats(np.cumsum(offence_probs)),
        violent=tuple(bool(v) for v in np.isin(np.arange(offence_probs.size), VIOLENT_OFFENCES)),
        ogrs3_age_breaks=tuple(OGRS3_AGE_BREAKS), ogrs3_age_sex_male=_floats(OGRS3_AGE_SEX_MALE),
        ogrs3_age_sex_female=_floats(OGRS3_AGE_SEX_FEMALE), ogrs3_offence_terms=_floats(OGRS3_OFFENCE_TERMS),
        ogrs3_copas=OGRS3_COPAS, ogrs3_status_first=OGRS3_STATUS_FIRST, ogrs3_status_repeat=OGRS3_STATUS_REPEAT,
        ogrs3_intercept=OGRS3_INTERCEPT_2YR,
        high_intercept=sp.high_intercept, high_person_sd=sp.high_person_sd,
        high_violent_offence=sp.high_violent_offence, high_custody_long=sp.high_custody_long,
        high_female=sp.high_female, young_adult_age=float(sp.young_adult_age),
        rate_intercept=sp.rate_intercept, rate_ogrs_slope=sp.rate_ogrs_slope, rate_high_tier=sp.rate_high_tier,
        rate_custody_short=sp.rate_custody_short, high_one_off_share=sp.high_one_off_share,
        one_off_rate_factor=sp.one_off_rate_factor, medium_ogrs_cut=sp.medium_ogrs_cut,
        sentence_intercept=sp.sentence_intercept, sentence_prior_slope=sp.sentence_prior_slope,
        resentence_logits=_floats(logits), resentence_weights=_floats(np.exp(logits)),
        resentence_short_slope=sp.resentence_short_custody_prior_slope,
        short_served_lo=float(lo), short_served_hi=float(hi), long_served_mean=sp.long_custody_served_days_mean,
        log_median_delay=float(np.log(sp.disposal_median_days)), delay_sigma=sp.disposal_sigma,
        custody_short=CUSTODY_SHORT, custody_long=CUSTODY_LONG,
        tier_low=TIER_LOW, tier_medium=TIER_MEDIUM, tier_high=TIER_HIGH,
        ora_day=float(ora_day), days_per_year=DAYS_PER_YEAR,
    )


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


__all__ = ["SYNTH", "TIER_HIGH", "TIER_LOW", "TIER_MEDIUM", "spell_model"]
