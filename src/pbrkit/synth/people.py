"""People, spells and offending: the engine of the synthetic population.

A person enters at their first supervised sentence and then lives a chain of
*spells*: periods at liberty that begin at an order start or a release. While
at liberty they offend as a Poisson process whose rate comes from their
covariates (through the published OGRS3 risk structure) times a personal
gamma frailty, so the count of offences in a year is gamma-Poisson
(negative binomial), with the heavy tail of prolific offenders seen in life.
Each offence reaches a court or a caution after a lognormal delay. Some
disposals are new sentences: the earliest such disposal ends the spell, and
the next spell starts at once (community sentences) or on release (custody).
So reoffending feeds the next cohorts: prior offences grow, people age, and
volumes respond to reoffending.

Everything is vectorised over all the spells of one generation (the k-th spell
of every person), so a seven-year national population takes a couple of dozen
NumPy passes. The only randomness is the `numpy.random.Generator` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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

CUSTODY_SHORT, CUSTODY_LONG, COMMUNITY_ORDER, SUSPENDED = 0, 1, 2, 3
VIOLENT_OFFENCES = (0, 4)  # violence, robbery
DAYS_PER_YEAR = 365.25


@dataclass
class People:
    """Who enters, when, and what they carry for life."""

    entry_day: np.ndarray  # float, days since 1970-01-01
    female: np.ndarray  # bool
    entry_age: np.ndarray  # float years
    first_sanction_age: np.ndarray  # float years (OGRS3 "age at first sanction")
    area: np.ndarray  # int index into AREAS
    frailty: np.ndarray  # gamma, mean 1: the personal offending propensity
    harm: np.ndarray  # normal: personal propensity to be assessed high risk of harm
    entry_prior: np.ndarray  # int, previous sanctions at entry
    desist_day: np.ndarray  # float: the end of the criminal career


@dataclass
class Spells:
    """Periods at liberty, one row each; supervised ones become episodes."""

    person: np.ndarray
    start: np.ndarray  # float day
    sentence: np.ndarray  # int code, as SENTENCES
    prior: np.ndarray  # int, previous proven offences at start
    age: np.ndarray  # float years at start
    offence: np.ndarray  # int index offence type (OGRS3 categories)
    high_risk: np.ndarray  # bool: high risk of serious harm (NPS)
    ogrs: np.ndarray  # float, OGRS3 2-year probability in percent
    supervised: np.ndarray  # bool


@dataclass
class Offences:
    person: np.ndarray
    offence_day: np.ndarray  # float
    disposal_day: np.ndarray  # float


def draw_people(params: SynthParams, rng: np.random.Generator, first_day: float, last_day: float,
                scale: float, area_shares: np.ndarray) -> People:
    """New entrants arrive at a steady rate over the whole simulated span."""
    years = (last_day - first_day) / DAYS_PER_YEAR
    n = int(rng.poisson(params.entrants_per_year * scale * years))
    entry_day = np.sort(rng.uniform(first_day, last_day, n))
    female = rng.random(n) < params.female_share
    excess = rng.gamma(params.entry_age_shape, params.entry_age_mean_excess / params.entry_age_shape, n)
    entry_age = np.minimum(params.entry_age_min + excess, 80.0)
    # Previous (unsupervised) sanctions: negative binomial with mean entry_prior_mean.
    k = params.entry_prior_shape
    entry_prior = rng.negative_binomial(k, k / (k + params.entry_prior_mean), n)
    # A record builds up over a career: about one sanction a year since the first.
    career = np.where(entry_prior > 0, rng.gamma(2.0, 0.5, n) * entry_prior, 0.0)
    first_sanction_age = np.maximum(entry_age - career, 10.0)
    area = rng.choice(len(area_shares), size=n, p=area_shares)
    frailty = rng.gamma(params.frailty_shape, 1.0 / params.frailty_shape, n)
    harm = rng.normal(0.0, 1.0, n)
    desist_day = entry_day + rng.exponential(params.career_mean_years * DAYS_PER_YEAR, n)
    return People(entry_day, female, entry_age, first_sanction_age, area, frailty, harm, entry_prior,
                  desist_day)


def ogrs3_linear(age: np.ndarray, female: np.ndarray, prior: np.ndarray,
                 first_sanction_age: np.ndarray, offence: np.ndarray) -> np.ndarray:
    """The OGRS3 linear predictor x (domain.md s.7), without the intercept."""
    years_since_first = np.maximum(age - first_sanction_age, 0.0)
    copas = np.log((1.0 + prior) / (10.0 + years_since_first))
    band = np.searchsorted(np.asarray(OGRS3_AGE_BREAKS), age, side="right")
    age_sex = np.where(female, np.asarray(OGRS3_AGE_SEX_FEMALE)[band], np.asarray(OGRS3_AGE_SEX_MALE)[band])
    status = np.where(prior > 0, OGRS3_STATUS_REPEAT, OGRS3_STATUS_FIRST)
    return OGRS3_COPAS * copas + age_sex + status + np.asarray(OGRS3_OFFENCE_TERMS)[offence]


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def describe_spells(params: SynthParams, rng: np.random.Generator, people: People,
                    person: np.ndarray, start: np.ndarray, sentence: np.ndarray,
                    prior: np.ndarray, ora_day: float) -> tuple[Spells, np.ndarray]:
    """Covariates, risk tier, OGRS score and offending rate of new spells."""
    n = person.size
    age = people.entry_age[person] + (start - people.entry_day[person]) / DAYS_PER_YEAR
    offence = rng.choice(len(params.offence_type_probs), size=n, p=np.asarray(params.offence_type_probs))
    female = people.female[person]
    x = ogrs3_linear(age, female, prior, people.first_sanction_age[person], offence)
    ogrs = 100.0 * _logistic(OGRS3_INTERCEPT_2YR + x)
    high_logit = (params.high_intercept
                  + params.high_person_sd * people.harm[person]
                  + params.high_violent_offence * np.isin(offence, VIOLENT_OFFENCES)
                  + params.high_custody_long * (sentence == CUSTODY_LONG)
                  + params.high_female * female)
    high_risk = rng.random(n) < _logistic(high_logit)
    supervised = (sentence != CUSTODY_SHORT) | (start >= ora_day) | (age < params.young_adult_age)
    log_rate = (params.rate_intercept + params.rate_ogrs_slope * x
                + params.rate_high_tier * high_risk
                + params.rate_custody_short * (sentence == CUSTODY_SHORT))
    one_off = high_risk & (rng.random(n) < params.high_one_off_share)
    rate = np.exp(log_rate) * people.frailty[person] * np.where(one_off, params.one_off_rate_factor, 1.0)
    spells = Spells(person, start, sentence, prior, age, offence, high_risk, ogrs, supervised)
    return spells, rate


def _disposal_delays(params: SynthParams, rng: np.random.Generator, shape) -> np.ndarray:
    return np.exp(rng.normal(np.log(params.disposal_median_days), params.disposal_sigma, shape))


def offend(params: SynthParams, rng: np.random.Generator, spells: Spells, rate_per_year: np.ndarray,
           horizon: np.ndarray, chunk: int = 4) -> tuple[Offences, np.ndarray, np.ndarray]:
    """Offending during each spell, until the first disposal that is a new sentence.

    `horizon` is each spell's last possible offending day (the end of the
    window, or the end of the person's career). Returns the offences, the
    spell's end day (inf when no sentence ends it) and the number of offences
    in each spell.
    """
    n = spells.start.size
    rate = rate_per_year / DAYS_PER_YEAR
    p_sentence = _logistic(params.sentence_intercept + params.sentence_prior_slope * np.log1p(spells.prior))
    stop = np.full(n, np.inf)
    clock = spells.start.astype(float).copy()
    active = np.flatnonzero(rate > 0)
    parts_spell, parts_day, parts_disp = [], [], []
    while active.size:
        m = active.size
        times = clock[active, None] + np.cumsum(rng.standard_exponential((m, chunk)), axis=1) / rate[active, None]
        disp = times + _disposal_delays(params, rng, (m, chunk))
        sentenced = rng.random((m, chunk)) < p_sentence[active, None]
        limit = np.minimum(stop[active], horizon[active])
        live = times < limit[:, None]
        candidate = np.where(live & sentenced, disp, np.inf).min(axis=1)
        stop[active] = np.minimum(stop[active], candidate)
        rows, cols = np.nonzero(live)
        parts_spell.append(active[rows])
        parts_day.append(times[rows, cols])
        parts_disp.append(disp[rows, cols])
        clock[active] = times[:, -1]
        active = active[times[:, -1] < np.minimum(stop[active], horizon[active])]
    spell_of = np.concatenate(parts_spell) if parts_spell else np.zeros(0, dtype=np.int64)
    day = np.concatenate(parts_day) if parts_day else np.zeros(0)
    disp = np.concatenate(parts_disp) if parts_disp else np.zeros(0)
    # A later sentencing offence may have ended the spell earlier than one seen first.
    keep = (day < stop[spell_of]) & (day < horizon[spell_of])
    spell_of, day, disp = spell_of[keep], day[keep], disp[keep]
    counts = np.bincount(spell_of, minlength=n)
    return Offences(spells.person[spell_of], day, disp), stop, counts


def resentence(params: SynthParams, rng: np.random.Generator, prior: np.ndarray) -> np.ndarray:
    """The new sentence for a proven offence that brings one; longer records, more short custody."""
    logits = np.tile(np.asarray(params.resentence_logits, dtype=float), (prior.size, 1))
    logits[:, CUSTODY_SHORT] += params.resentence_short_custody_prior_slope * np.log1p(prior)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    u = rng.random(prior.size)[:, None]
    return (u > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 3)


def served_days(params: SynthParams, rng: np.random.Generator, sentence: np.ndarray) -> np.ndarray:
    """Time in custody before release (zero for community sentences)."""
    lo, hi = params.short_custody_served_days
    short = rng.uniform(lo, hi, sentence.size)
    long_ = 182.0 + rng.exponential(params.long_custody_served_days_mean - 182.0, sentence.size)
    return np.select([sentence == CUSTODY_SHORT, sentence == CUSTODY_LONG], [short, long_], 0.0)


def _concat_spells(parts: list[Spells]) -> Spells:
    return Spells(*(np.concatenate([getattr(p, f) for p in parts]) for f in Spells.__dataclass_fields__))


def _concat_offences(parts: list[Offences]) -> Offences:
    return Offences(*(np.concatenate([getattr(p, f) for p in parts]) for f in Offences.__dataclass_fields__))


def simulate(params: SynthParams, rng: np.random.Generator, first_day: float, last_day: float,
             ora_day: float, scale: float, area_shares: np.ndarray,
             on_generation: Callable[[int, int], None] | None = None) -> tuple[People, Spells, Offences]:
    """Run every person's chain of spells from `first_day` (burn-in start) to `last_day`."""
    people = draw_people(params, rng, first_day, last_day, scale, area_shares)
    n = people.entry_day.size
    person = np.arange(n)
    sentence = rng.choice(4, size=n, p=np.asarray(params.entry_sentence_probs))
    # The index offence that brought each entrant to their first sentence.
    entry_disposal = people.entry_day - served_days(params, rng, sentence)
    entry_offence_day = entry_disposal - _disposal_delays(params, rng, n)
    offence_parts = [Offences(person, entry_offence_day, entry_disposal)]
    spell_parts: list[Spells] = []
    start, prior = people.entry_day, people.entry_prior
    generation = 0
    while person.size:
        spells, rate = describe_spells(params, rng, people, person, start, sentence, prior, ora_day)
        spell_parts.append(spells)
        horizon = np.minimum(people.desist_day[person], last_day)
        offences, stop, counts = offend(params, rng, spells, rate, horizon)
        offence_parts.append(offences)
        generation += 1
        if on_generation is not None:
            on_generation(generation, person.size)
        ends = np.flatnonzero(stop < last_day)
        prior = spells.prior[ends] + counts[ends]
        sentence = resentence(params, rng, prior)
        start = stop[ends] + served_days(params, rng, sentence)
        alive = start < last_day
        person, start, prior, sentence = spells.person[ends][alive], start[alive], prior[alive], sentence[alive]
    return people, _concat_spells(spell_parts), _concat_offences(offence_parts)
