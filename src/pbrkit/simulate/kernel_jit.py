"""The quarter step's per-person loops, compiled with Numba.

Spells start and end person by person, and offences come person by person
in time order, each able to end the person's spell, so the step is a set of
loops over people; as whole-array NumPy passes they took most of a
replicate's time. `kernel.World` keeps the population and the log, and calls
these loops for the work.

The numbers are the model's exactly, not approximately, so a run's results
do not depend on which code computed them:

- every draw is `draws`' SplitMix64 hash at the same address (`_uniform`,
  `_uniform_pair` and `_exponential` are its scalar form; a test holds them
  to `draws` bit for bit);
- the courts' normal quantile is scipy's own `ndtri`, called through
  `scipy.special.cython_special`'s C entry point; logs and exps are the C
  library's, as NumPy's are;
- floating-point operations come in the same order as in the array
  arithmetic they restate (`pbrkit.synth`'s model; the tests restate it too):
  tallies are summed in row order, and offence times are added up in rounds
  (the first offence, then `CHUNK` offences, then twice as many, each round
  from the time of its start).

Everything compiled is in this one file, and whatever it needs from other
modules (the synthetic population's parameters, the draws' purposes, the
run's parameters) comes in as arguments: Numba caches machine code next to
the source (`cache=True`, so worker processes load it instead of compiling)
and notices only edits to the file a function is defined in, so code or
constants taken from another file would be baked in stale.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import llvmlite.binding
import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

#: Offences drawn per person in the first round after the first (doubling after).
CHUNK = 4
FOLLOW_UP_DAYS = 365  # an offence counts 0..364 days after the start
DISPOSAL_DAYS = 547  # ... if disposed of at most this long after it
#: How far ahead `_prefetch` asks for a person's columns: rows of a pass over
#: everyone, and people of a list of rows.
PREFETCH_ROWS, PREFETCH_PEOPLE = 32, 16
AT_LIBERTY, WAITING = 0, 1  # `population`'s phases
EVENT_COLUMNS = 6  # a service event's episode, due day, done day, complete, proper, operator
EPISODE_COLUMNS = 7  # a new episode's start, provider, age, tier, case-mix cell, operator, risk quintile

# scipy's ndtri, bound by name so that cached machine code finds it in any process.
llvmlite.binding.add_symbol("pbrkit_scipy_ndtri", get_cython_function_address("scipy.special.cython_special", "ndtri"))
_ndtri = types.ExternalFunction("pbrkit_scipy_ndtri", types.float64(types.float64, types.intc))


@intrinsic
def _prefetch(typingctx, row, *columns):
    """Ask the CPU to bring `row` of each column into cache ahead of its use
    (no effect on results). A loop over scattered people (those who offend,
    those whose spell starts) would otherwise wait on memory for each of
    their columns in turn."""
    columns = columns[0] if len(columns) == 1 and isinstance(columns[0], types.BaseTuple) else columns  # as one tuple

    def codegen(context, builder, signature, args):
        i32, bytes_ = llvm_ir.IntType(32), llvm_ir.IntType(8).as_pointer()
        prefetch = cgutils.get_or_insert_function(
            builder.module, llvm_ir.FunctionType(llvm_ir.VoidType(), [bytes_, i32, i32, i32]), "llvm.prefetch.p0")
        for n, ty in enumerate(signature.args[1]):
            array = context.make_array(ty)(context, builder, builder.extract_value(args[1], n))
            first = [args[0]] + [context.get_constant(types.intp, 0)] * (ty.ndim - 1)
            address = cgutils.get_item_pointer(context, builder, ty, array, first, wraparound=False)
            builder.call(prefetch, [builder.bitcast(address, bytes_), i32(0), i32(3), i32(1)])  # a read, kept, data
        return context.get_dummy_value()
    return types.void(row, types.StarArgTuple(columns)), codegen


class Purposes(NamedTuple):
    """The purposes of `draws`' addresses the loops use."""

    gap: int
    court: int
    new_sentence: int
    served: int
    offence_type: int
    high_risk: int
    one_off: int
    allocation: int
    subcontract: int
    event_proper: int
    event_late: int
    event_late_days: int
    event_not_done: int
    event_audit: int


class SpellModel(NamedTuple):
    """The synthetic population's spell and court model (`spells`, `pbrkit.synth`)."""

    # (Tables are tuples: values, not arrays, which a loop would reference-count.)
    offence_cum: tuple  # cumulative offence-type probabilities
    violent: tuple  # bool, by offence type
    ogrs3_age_breaks: tuple
    ogrs3_age_sex_male: tuple
    ogrs3_age_sex_female: tuple
    ogrs3_offence_terms: tuple
    ogrs3_copas: float
    ogrs3_status_first: float
    ogrs3_status_repeat: float
    ogrs3_intercept: float
    high_intercept: float
    high_person_sd: float
    high_violent_offence: float
    high_custody_long: float
    high_female: float
    young_adult_age: float
    rate_intercept: float
    rate_ogrs_slope: float
    rate_high_tier: float
    rate_custody_short: float
    high_one_off_share: float
    one_off_rate_factor: float
    medium_ogrs_cut: float
    sentence_intercept: float
    sentence_prior_slope: float
    resentence_logits: tuple
    resentence_weights: tuple  # np.exp(resentence_logits)
    resentence_short_slope: float
    short_served_lo: float
    short_served_hi: float
    long_served_mean: float
    log_median_delay: float
    delay_sigma: float
    custody_short: int
    custody_long: int
    tier_low: int
    tier_medium: int
    tier_high: int
    ora_day: float
    days_per_year: float


class EventModel(NamedTuple):
    """How service events are done and checked (`ModelParams`), and the episode's terms."""

    late_log_q: float  # log(1 - 1 / late_mean_days): the geometric lateness
    not_done_share: float
    proper_on_time_share: float
    audit_rate: float
    empty_cost: float
    effect: tuple  # by kind: the cut in offending an event done properly brings
    status_quo_quality: float
    plan_days_before: int
    induction_due_days: int
    supervision_days: float


class Cases(NamedTuple):
    """Where new cases go (`kernel.Routing`) and the case-mix cells' codes (`world`)."""

    contract_share: float
    area_operator: np.ndarray
    area_provider: np.ndarray
    subcontractors: np.ndarray  # (areas, n) operator ids, -1 none
    subcontract_share: float
    paid_cohort: bool
    nps: int
    n_areas: int
    age_cuts: tuple
    prior_cuts: tuple
    risk_cuts: tuple
    level_of_cell: np.ndarray  # the payment segment's level of each case-mix cell
    risk_bands: int


# --- draws ------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S6, _S11, _S27, _S30, _S31, _S32, _S33 = (np.uint64(s) for s in (6, 11, 27, 30, 31, 32, 33))
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _mix(key, person, counter, purpose):
    """`draws`' SplitMix64 finaliser at one address (arithmetic wraps modulo 2**64)."""
    x = (np.uint64(person) << _S33) | (np.uint64(counter) << _S6) | np.uint64(purpose)
    x = x * _GOLDEN + key
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    return x ^ (x >> _S31)


@njit(cache=True, nogil=True)
def _uniform(key, person, counter, purpose):
    """`draws.uniform` at one address."""
    return (np.float64(_mix(key, person, counter, purpose) >> _S11) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _uniform_pair(key, person, counter, purpose):
    """`draws.uniform_pair` at one address."""
    x = _mix(key, person, counter, purpose)
    return (np.float64(x >> _S32) + 0.5) * (1.0 / 4294967296.0), (np.float64(x & _LOW32) + 0.5) * (1.0 / 4294967296.0)


@njit(cache=True, nogil=True)
def _exponential(key, person, counter, purpose):
    """`draws.exponential` at one address."""
    return -math.log(_uniform(key, person, counter, purpose))


# --- the spell model (scalar forms of `pbrkit.synth`'s array arithmetic) --------------
@njit(cache=True, nogil=True)
def _logistic(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, nogil=True)
def _one_if(b):
    """A bool as NumPy's arithmetic takes it."""
    return 1.0 if b else 0.0


@njit(cache=True, nogil=True)
def _right_of(cuts, x):
    """np.searchsorted(cuts, x, side="right"): how many cuts are at or below x."""
    n = 0
    while n < len(cuts) and cuts[n] <= x:
        n += 1
    return n


@njit(cache=True, nogil=True)
def court_delay(u, m):
    """Days from offence to disposal for the uniform u: lognormal (synth's)."""
    return math.exp(m.log_median_delay + m.delay_sigma * _ndtri(u, 0))


@njit(cache=True, nogil=True)
def sentence_probability(prior, m):
    """Chance a proven offence brings a new sentence (synth's rule)."""
    return _logistic(m.sentence_intercept + m.sentence_prior_slope * math.log1p(prior))


@njit(cache=True, nogil=True)
def sentence_probabilities(prior, m):
    """`sentence_probability` for a whole column."""
    out = np.empty(prior.size)
    for i in range(prior.size):
        out[i] = sentence_probability(prior[i], m)
    return out


@njit(cache=True, nogil=True)
def new_sentence(prior, u, m):
    """`pbrkit.synth.people.resentence` with the uniform given: the sentence a
    proven offence brings, shifting to short custody with a longer record."""
    short = math.exp(m.resentence_logits[m.custody_short] + m.resentence_short_slope * math.log1p(prior))
    weights = m.resentence_weights  # exp of the other logits, which do not change
    total = 0.0
    for s in range(len(weights)):
        total += short if s == m.custody_short else weights[s]
    sentence, cum = 0, 0.0
    for s in range(len(weights)):
        cum += short if s == m.custody_short else weights[s]
        sentence += u > cum / total
    return min(sentence, len(weights) - 1)


@njit(cache=True, nogil=True)
def served_days(sentence, u, m):
    """Time in custody before release (zero for community sentences)."""
    if sentence == m.custody_short:
        return m.short_served_lo + (m.short_served_hi - m.short_served_lo) * u
    if sentence == m.custody_long:
        return 182.0 - (m.long_served_mean - 182.0) * math.log(u)
    return 0.0


@njit(cache=True, nogil=True)
def ogrs3_linear(age, female, prior, first_age, offence, m):
    """`pbrkit.synth.people.ogrs3_linear`: the OGRS3 linear predictor, without the intercept."""
    copas = math.log((1.0 + prior) / (10.0 + max(age - first_age, 0.0)))
    band = _right_of(m.ogrs3_age_breaks, age)
    age_sex = m.ogrs3_age_sex_female[band] if female else m.ogrs3_age_sex_male[band]
    status = m.ogrs3_status_repeat if prior > 0 else m.ogrs3_status_first
    return m.ogrs3_copas * copas + age_sex + status + m.ogrs3_offence_terms[offence]


@njit(cache=True, nogil=True)
def spell_traits(age, female, prior, first_age, harm, frailty, sentence, start, u_offence, u_high, u_one_off, m):
    """`pbrkit.synth.people.describe_spells` for one new spell, with its three
    random choices given: (offending rate, the rate an assessment sees,
    supervised, risk tier)."""
    offence = min(_right_of(m.offence_cum, u_offence), len(m.offence_cum) - 1)
    x = ogrs3_linear(age, female, prior, first_age, offence, m)
    ogrs = 100.0 * _logistic(m.ogrs3_intercept + x)
    high_logit = (m.high_intercept + m.high_person_sd * harm + m.high_violent_offence * _one_if(m.violent[offence])
                  + m.high_custody_long * _one_if(sentence == m.custody_long) + m.high_female * _one_if(female))
    high = u_high < _logistic(high_logit)
    supervised = sentence != m.custody_short or start >= m.ora_day or age < m.young_adult_age
    risk_rate = math.exp(m.rate_intercept + m.rate_ogrs_slope * x + m.rate_high_tier * _one_if(high)
                         + m.rate_custody_short * _one_if(sentence == m.custody_short))
    one_off = high and u_one_off < m.high_one_off_share
    rate = risk_rate * frailty * (m.one_off_rate_factor if one_off else 1.0)
    tier = m.tier_high if high else (m.tier_medium if ogrs >= m.medium_ogrs_cut else m.tier_low)
    return rate, risk_rate, supervised, tier


# --- offending ----------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _multiplier(a, cap, q0, until, known, service, relative_fresh, relative_known):
    """Offending relative to the status quo over [a, cap) for a supervised person:
    the provider's effect while supervision lasts, 1 after."""
    f = (min(cap, until) - a) / (cap - a)
    if not math.isnan(f):  # clipped to [0, 1] as np.clip does
        f = f if f > 0.0 else 0.0
        f = f if f < 1.0 else 1.0
    r = relative_known if known <= q0 else relative_fresh
    return 1.0 + f * (r * service - 1.0)


@njit(cache=True, nogil=True)
def _counts(day, dday, episode, start):
    """Whether an offence on `day`, disposed of on `dday`, is a proven reoffence of the episode."""
    return episode >= 0 and 0 <= day - start <= FOLLOW_UP_DAYS - 1 and dday - start <= DISPOSAL_DAYS


@njit(cache=True, nogil=True)
def offend(idx, everyone, key, purpose, m, q0, q1, relative,
           sp_start, stop, desist, rate_day, sentencing, sp_count,
           pid, hazard, n_off, last_day, last_day_n,
           ep_id, ep_start, ep_until, ep_operator, ep_segment, ep_known, ep_service, prev_id, prev_start,
           counts):
    """People at liberty, from their spell's start (or q0) to q1: everyone, or
    (not `everyone`) the rows `idx` whose spell started within the quarter.

    Most people do not offend in a quarter, so each person's hazard left is
    first compared with the hazard the quarter offers (no random numbers); the
    rest use it up. For those it does not cover, the k-th offence comes when
    their clock has used up the k-th exponential amount of hazard (addressed by
    person and k), so the same person at the same rate offends on the same days
    in both worlds. Each offence reaches a court; a sentence ends the spell on
    its disposal day (`stop`) and offences after it are void. Each is counted as
    a proven reoffence of the person's episodes it falls in, and the hazard left
    towards the next offence is kept.

    Returns the offences (`_in_log_order`) and the rows whose spell a sentence
    has ended before q1. (One loop with its arrays as locals: helpers taking
    arrays would cost reference counting per person.)"""
    n_people = hazard.size if everyone else idx.size
    log, n = np.empty(4 * (n_people // 4 + 64), np.int64), np.int64(0)  # rows of (row, day, disposal day, round)
    for i in range(n_people):
        r = i if everyone else idx[i]
        if everyone and r + PREFETCH_ROWS < n_people:  # the columns read only for those who offend
            _prefetch(r + PREFETCH_ROWS, pid, n_off, sentencing, sp_count, last_day, last_day_n, ep_start, prev_id,
                      prev_start)
        # The hazard the quarter offers over [a, cap), against the hazard left.
        if everyone:
            a = max(sp_start[r], q0)
            cap = min(min(stop[r], desist[r]), q1)
            rate = rate_day[r]
            budget = rate * max(cap - a, 0.0)
            if ep_id[r] >= 0 and ep_until[r] > q0 and budget > 0.0:
                seg = ep_segment[r] * 2
                mult = _multiplier(a, cap, q0, ep_until[r], ep_known[r], ep_service[r],
                                   relative[ep_operator[r], seg], relative[ep_operator[r], seg + 1])
                rate *= mult
                budget *= mult
        else:
            a = max(q0, sp_start[r])
            cap = min(min(stop[r], desist[r]), q1)
            if not cap > a:
                continue
            rate = rate_day[r]
            if ep_id[r] >= 0:
                seg = ep_segment[r] * 2
                rate *= _multiplier(a, cap, q0, ep_until[r], ep_known[r], ep_service[r],
                                    relative[ep_operator[r], seg], relative[ep_operator[r], seg + 1])
            budget = rate * (cap - a)
        h = hazard[r]
        if h >= budget:
            hazard[r] = h - budget
            continue
        # Offences in time order: the first, whose time is known, then rounds.
        p, k = pid[r], np.int64(n_off[r])
        t = a + h / rate
        width, rnd, at, gap0, next_gap = 1, 0, t, 0.0, 0.0
        while True:
            if 4 * (n + width) > log.size:
                grown = np.empty(max(4 * (n + width), 2 * log.size), np.int64)
                for x in range(4 * n):
                    grown[x] = log[x]
                log = grown
            # Each kept while it comes before the cap (the quarter's end,
            # desistance, or the disposal of a sentenced offence).
            s = 0.0
            kept = 0
            for c in range(width):
                when, s, g = _offence_time(key, p, k, c, rnd, t, s, rate, gap0, purpose.gap)
                if rnd > 0:
                    if not when < min(cap, stop[r]):
                        next_gap = g
                        break
                    at = when
                disposal, sentenced = _court(key, p, k + c, when, sentencing[r], purpose.court, m)
                if sentenced:
                    stop[r] = min(stop[r], disposal)
                day, dday = np.int64(math.floor(when)), np.int64(math.floor(disposal))
                log[4 * n], log[4 * n + 1], log[4 * n + 2], log[4 * n + 3] = r, day, dday, rnd
                n += 1
                kept += 1
                # Offences on the person's latest offence day: an episode that
                # starts later that day still counts them (the standard counts whole days).
                ok = 1 if dday - day <= DISPOSAL_DAYS else 0
                last_day_n[r] = last_day_n[r] + ok if last_day[r] == day else ok
                last_day[r] = day
                # A proven reoffence of the current episode or one before it
                # (rarer cases are counted from the log, see `Logbook.overflow`).
                if _counts(day, dday, ep_id[r], ep_start[r]):
                    counts[ep_id[r]] += 1
                    ep_known[r] = min(ep_known[r], np.float64(dday))
                for j in range(prev_id.shape[1]):
                    if _counts(day, dday, np.int64(prev_id[r, j]), np.int64(prev_start[r, j])):
                        counts[prev_id[r, j]] += 1
            n_off[r] = k + kept
            sp_count[r] += kept
            cap = min(cap, stop[r])
            left, t, gap0, k, rnd, width = _next_round(key, p, k, rnd, width, kept, t, at, cap, rate, next_gap,
                                                       purpose.gap)
            if not math.isnan(left):
                hazard[r] = left
                break
    return _in_log_order(log, n), _before(idx, everyone, stop, q1)


@njit(cache=True, nogil=True)
def _offence_time(key, p, k, c, rnd, t, s, rate, gap0, gap_purpose):
    """Offence k + c of a person, the c-th of a round that starts at time t:
    (its time, the hazard the round has used, its gap). The first offence
    (round 0) comes at t; in later rounds each uses up its exponential gap
    (the round's first, gap0, drawn already) at the rate."""
    if rnd == 0:
        return t, s, 0.0
    g = gap0 if c == 0 else _exponential(key, p, k + c, gap_purpose)
    s += g
    return t + s / rate, s, g


@njit(cache=True, nogil=True)
def _court(key, p, k, when, sentencing, court_purpose, m):
    """Offence k of a person, committed at `when`, at court: (its disposal
    time, whether it brings a sentence, with chance `sentencing`)."""
    u_delay, u_sentence = _uniform_pair(key, p, k, court_purpose)
    return when + court_delay(u_delay, m), u_sentence < sentencing


@njit(cache=True, nogil=True)
def _next_round(key, p, k, rnd, width, kept, t, at, cap, rate, next_gap, gap_purpose):
    """After a round of a person's offences (`kept` of `width` came before the
    cap): (the hazard left towards the next offence, or NaN when another round
    follows; then the next round's start time, first gap, offence number,
    round and width). The first offence is followed by a round of `CHUNK`;
    a round all used is followed by one twice as wide, from its last offence."""
    if rnd == 0:
        gap0 = _exponential(key, p, k + 1, gap_purpose)
        if not at + gap0 / rate < cap:
            return gap0 - rate * (cap - at), at, gap0, k, rnd, width
        return np.nan, at, gap0, k + 1, 1, CHUNK
    if kept == width:
        return np.nan, at, _exponential(key, p, k + width, gap_purpose), k + width, rnd + 1, 2 * width
    return next_gap - rate * (cap - (at if kept else t)), t, 0.0, k, rnd, width


@njit(cache=True, nogil=True)
def _in_log_order(log, n):
    """The n offences as (row, offence day, disposal day), by round, then by
    person, then in time order: the log's row order, as when the rounds were
    drawn for everyone at once (so a run's log is the same row for row)."""
    n_rounds = 0
    for i in range(n):
        n_rounds = max(n_rounds, log[4 * i + 3] + 1)
    first = np.zeros(n_rounds + 1, np.int64)
    for i in range(n):
        first[log[4 * i + 3] + 1] += 1
    for x in range(n_rounds):
        first[x + 1] += first[x]
    who, day, dday = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    for i in range(n):
        at = first[log[4 * i + 3]]
        first[log[4 * i + 3]] += 1
        who[at], day[at], dday[at] = log[4 * i], log[4 * i + 1], log[4 * i + 2]
    return who, day, dday


# --- spells starting and ending -------------------------------------------------------
@njit(cache=True, nogil=True)
def start_spells(idx, key, purpose, m, ev, cases, q0, q1, quality, proper_cost, n_seg, exposure, counts, first_id,
                 pid, sp_no, next_start, next_sentence, next_prior, entry_age, entry_day, female, first_age, harm,
                 frailty, area, last_day, last_day_n, phase, sp_start, sp_prior, sp_rate, rate_day, sp_sentencing,
                 sp_count, stop, ep_id, ep_start, ep_until, ep_provider, ep_operator, ep_segment, ep_known, ep_service,
                 ep_term, ring_head, prev_id, prev_start, overflow):
    """Spells due to start (rows idx) start at `next_start`, person by person:
    the current episode retires, the new spell's index offence, risk of harm
    and offending rate are drawn, and a supervised spell opens an episode,
    numbered from `first_id` in row order, with its service events.

    Returns the episodes the ring forgot while their follow-up runs (rows of
    row, slot, episode, start, for `Logbook.overflow`); the new episodes' rows,
    and their start, provider, age, tier, case-mix cell, operator and risk
    quintile; their service events (`_events_in_log_order`); and by kind and
    operator the events' cost, number, number on time and number done properly.
    (One loop, with helpers that take and return numbers: a helper taking arrays
    would cost reference counting per person.)"""
    n_ops, kinds, ring = quality.shape[0], len(ev.effect), prev_id.shape[1]
    area_operator, area_provider, subcontractors, level_of_cell = (
        cases.area_operator, cases.area_provider, cases.subcontractors, cases.level_of_cell)
    forgotten, n_forgotten = np.empty(4 * idx.size, np.int64), 0
    rows, opened, n = np.empty(idx.size, np.int64), np.empty(EPISODE_COLUMNS * idx.size, np.int64), 0
    events, n_events = np.empty(kinds * idx.size * EVENT_COLUMNS, np.int64), np.zeros(kinds, np.int64)
    tallies = np.zeros(4 * kinds * n_ops)
    for i in range(idx.size):
        r = idx[i]
        if i + PREFETCH_PEOPLE < idx.size:  # the wide columns (narrow ones share cache lines between people)
            _prefetch(idx[i + PREFETCH_PEOPLE], ep_id, ep_start, ep_until, ep_known, next_start, pid, entry_age,
                      entry_day, first_age, harm, frailty, sp_start, sp_rate, rate_day, sp_sentencing, stop,
                      ep_service, prev_id, prev_start)
        if ep_id[r] >= 0:
            # The current episode ends: its supervised time this quarter into the
            # tally, and it goes to the person's ring (the slot after the last
            # written, which holds the oldest), as its follow-up may still run.
            days = min(ep_until[r], q1) - max(np.float64(ep_start[r]), q0)
            if days > 0:
                exposure[ep_operator[r] * n_seg + ep_segment[r] * 2 + (ep_known[r] <= q0)] += days / (q1 - q0)
            slot = (ring_head[r] + 1) % ring
            ring_head[r] = slot
            e, st = prev_id[r, slot], prev_start[r, slot]
            if e >= 0 and st > np.floor(next_start[r]) - FOLLOW_UP_DAYS:
                at = 4 * n_forgotten
                forgotten[at], forgotten[at + 1], forgotten[at + 2], forgotten[at + 3] = r, slot, e, st
                n_forgotten += 1
                overflow[r] = True
            prev_id[r, slot] = ep_id[r]
            prev_start[r, slot] = ep_start[r]
            ep_id[r] = -1
            ep_until[r] = -np.inf
        s, p, j, prior, sentence = next_start[r], pid[r], np.int64(sp_no[r]) + 1, next_prior[r], next_sentence[r]
        age = entry_age[r] + (s - entry_day[r]) / m.days_per_year
        rate, risk_rate, supervised, tier = spell_traits(
            age, female[r], prior, first_age[r], harm[r], frailty[r], sentence, s,
            _uniform(key, p, j, purpose.offence_type), _uniform(key, p, j, purpose.high_risk),
            _uniform(key, p, j, purpose.one_off), m)
        phase[r] = AT_LIBERTY
        sp_no[r] = j
        sp_start[r] = s
        sp_prior[r] = prior
        sp_rate[r] = rate
        rate_day[r] = rate / m.days_per_year
        sp_sentencing[r] = sentence_probability(prior, m)
        sp_count[r] = 0
        stop[r] = np.inf
        next_start[r] = np.inf
        if not supervised:
            continue
        # An episode: the operator the allocation rule gives.
        contracted, which = _allocation(tier, p, j, subcontractors.shape[1], key, purpose, m, cases)
        op = area_operator[area[r]] if contracted else cases.nps
        provider = area_provider[area[r]] if contracted else cases.nps
        if which >= 0 and op < cases.n_areas and subcontractors[area[r], which] >= 0:
            op = subcontractors[area[r], which]
        start = np.int64(math.floor(s))
        ages = min(max(math.floor(age), 10), 100)
        cell = ((((np.int64(female[r]) * 6 + _right_of(cases.age_cuts, ages)) * 4 + sentence) * 3 + tier) * 6
                + _right_of(cases.prior_cuts, prior))
        rq = _right_of(cases.risk_cuts, risk_rate)
        if last_day[r] == start:  # offences earlier on its first day count
            counts[first_id + n] += last_day_n[r]
        # Its service events (release and plan for custody, induction for all),
        # kind k's from row k * idx.size; the multiplier on offending they bring.
        service = 1.0
        for k in range(kinds):
            if k < 2 and sentence != m.custody_short and sentence != m.custody_long:
                continue
            due, done, complete, proper = _service_event(k, start, np.int64(q0), quality[op, k], p, j, key, purpose,
                                                         ev)
            if ev.effect[k] != 0.0:
                service *= (1.0 - ev.effect[k] if proper else 1.0) / (1.0 - ev.effect[k] * ev.status_quo_quality)
            at = k * n_ops + op
            tallies[at] += proper_cost[op, k] if proper else ev.empty_cost
            tallies[kinds * n_ops + at] += 1.0
            tallies[2 * kinds * n_ops + at] += done >= 0 and done <= due
            tallies[3 * kinds * n_ops + at] += proper and done >= 0
            e = (k * idx.size + n_events[k]) * EVENT_COLUMNS
            events[e], events[e + 1], events[e + 2], events[e + 3], events[e + 4] = n, due, done, complete, proper
            events[e + 5] = op
            n_events[k] += 1
        ep_id[r] = first_id + n
        ep_start[r] = start
        ep_until[r] = s + ev.supervision_days
        ep_provider[r] = provider
        ep_operator[r] = op
        ep_segment[r] = level_of_cell[cell] * cases.risk_bands + rq
        ep_known[r] = np.inf
        ep_service[r] = service
        ep_term[r] = cases.paid_cohort
        rows[n] = r
        at = EPISODE_COLUMNS * n
        opened[at], opened[at + 1], opened[at + 2], opened[at + 3] = start, provider, ages, tier
        opened[at + 4], opened[at + 5], opened[at + 6] = cell, op, rq
        n += 1
    return (forgotten[: 4 * n_forgotten], rows[:n], opened[: EPISODE_COLUMNS * n],
            _events_in_log_order(events, n_events, idx.size), tallies)


@njit(cache=True, nogil=True)
def _allocation(tier, p, j, n_sub, key, purpose, m, cases):
    """Whether a new case goes to the area's contracted provider (never for high
    risk; else with the contract's share), and which of the provider's n_sub
    subcontractor slots takes it (-1: none)."""
    if tier == m.tier_high or not _uniform(key, p, j, purpose.allocation) < cases.contract_share:
        return False, -1
    if not (cases.subcontract_share > 0 and n_sub):
        return True, -1
    u = _uniform(key, p, j, purpose.subcontract)
    if not u < cases.subcontract_share:
        return True, -1
    return True, min(np.int64(u / cases.subcontract_share * n_sub), n_sub - 1)


@njit(cache=True, nogil=True)
def _service_event(k, start, q0, quality, p, j, key, purpose, ev):
    """A new episode's service event of kind k, done properly with probability
    `quality` or filed empty: (due day, day done or -1, complete as audited
    (-1 unaudited), done properly). Done properly, it is on time or late by
    1 + a geometric number of days, or never done; filed empty, on the due day."""
    if k == 0:
        due = start
    elif k == 1:  # the plan falls due the week before release (within the quarter)
        due = max(start - ev.plan_days_before, q0)
    else:
        due = start + ev.induction_due_days
    proper = _uniform(key, p, j, purpose.event_proper + k) < quality
    if proper and _uniform(key, p, j, purpose.event_not_done + k) < ev.not_done_share:
        done = -1
    elif proper and _uniform(key, p, j, purpose.event_late + k) > ev.proper_on_time_share:
        done = np.int64(np.float64(due) + (1.0 + np.ceil(math.log(_uniform(key, p, j, purpose.event_late_days + k))
                                                          / ev.late_log_q)))
    else:
        done = due
    audited = done >= 0 and _uniform(key, p, j, purpose.event_audit + k) < ev.audit_rate
    return due, done, np.int64(proper) if audited else -1, proper


@njit(cache=True, nogil=True)
def _events_in_log_order(events, n_events, n):
    """The events kind by kind, as rows of (episode, kind, due, done, complete,
    proper, operator), the episode numbered from 0."""
    out = np.empty(n_events.sum() * (EVENT_COLUMNS + 1), np.int64)
    at = 0
    for k in range(n_events.size):
        for e in range(n_events[k]):
            row = (k * n + e) * EVENT_COLUMNS
            out[at], out[at + 1] = events[row], k
            for f in range(1, EVENT_COLUMNS):
                out[at + 1 + f] = events[row + f]
            at += EVENT_COLUMNS + 1
    return out


@njit(cache=True, nogil=True)
def end_spells(idx, key, purpose, m, q1, stop, ep_until, sp_prior, sp_count, pid, sp_no, phase, rate_day, next_start,
               next_sentence, next_prior):
    """A sentence ends the spell on its disposal day (`stop`): supervision ends,
    and the next spell waits for release (or starts at once). Returns the rows
    whose next spell starts before q1."""
    for r in idx:
        ep_until[r] = min(ep_until[r], stop[r])
        prior = sp_prior[r] + sp_count[r]
        p, j = pid[r], np.int64(sp_no[r])
        sentence = new_sentence(prior, _uniform(key, p, j, purpose.new_sentence), m)
        phase[r] = WAITING
        rate_day[r] = 0.0
        next_start[r] = stop[r] + served_days(sentence, _uniform(key, p, j, purpose.served), m)
        next_sentence[r] = sentence
        next_prior[r] = prior
        stop[r] = np.inf
    return _before(idx, False, next_start, q1)


# --- whole-population passes ----------------------------------------------------------
@njit(cache=True, nogil=True)
def due(phase, next_start, q1):
    """Rows whose next spell starts before q1."""
    rows = np.empty(phase.size, np.int64)
    n = 0
    for r in range(phase.size):
        if phase[r] == WAITING and next_start[r] < q1:
            rows[n] = r
            n += 1
    return rows[:n]


@njit(cache=True, nogil=True)
def _before(idx, everyone, day, q1):
    """The rows (all, or those of idx) whose `day` comes before q1."""
    n_rows = day.size if everyone else idx.size
    rows = np.empty(n_rows, np.int64)
    n = 0
    for i in range(n_rows):
        r = i if everyone else idx[i]
        if day[r] < q1:
            rows[n] = r
            n += 1
    return rows[:n]


@njit(cache=True, nogil=True)
def close_quarter(q0, q1, n_ops, n_seg, phase, desist, stop, ep_id, ep_start, ep_until, ep_operator, ep_segment,
                  ep_known):
    """The quarter's supervised time by operator and segment (person-quarters,
    summed in row order), and the rows of people who have left for good: at
    liberty past their career's end, no sentence pending, supervision over."""
    exposure = np.zeros(n_ops * n_seg)
    gone = np.empty(phase.size, np.bool_)
    for r in range(phase.size):
        if ep_id[r] >= 0 and ep_until[r] > q0:
            days = min(ep_until[r], q1) - max(np.float64(ep_start[r]), q0)
            if days > 0:
                exposure[ep_operator[r] * n_seg + ep_segment[r] * 2 + (ep_known[r] <= q0)] += days / (q1 - q0)
        gone[r] = (phase[r] == AT_LIBERTY and desist[r] <= q1 and math.isinf(stop[r])
                   and (ep_id[r] < 0 or ep_until[r] <= q1))
    return exposure, gone


# --- the status quo, person by person -------------------------------------------------
STATUS_QUO_COLUMNS = 14  # an episode's quarter, then `logbook.EPISODE_FIELDS` less its id
_MEMORY = 256  # episodes a person can have in follow-up at once


@njit(cache=True, nogil=True)
def status_quo_people(key, purpose, m, ev, quality, nps, age_cuts, prior_cuts, risk_cuts, qdays, n_steps, term,
                      pid, female, entry_day, entry_age, first_age, area, frailty, harm, desist, phase, next_start,
                      next_sentence, next_prior, sp_start, sp_prior, sp_rate, sp_count, stop, ep_id, ep_until,
                      e_pid, e_female, e_entry_day, e_entry_age, e_first_age, e_area, e_frailty, e_harm, e_desist,
                      e_sentence, e_prior, e_quarter, out, counts):
    """The status-quo world (every operator at status-quo effort and service
    quality, every low or medium case with its area's operator) for quarters
    0 to n_steps - 1, one person at a time.

    Nothing a status-quo operator does depends on anyone else, so a person's
    whole run can be taken at once, their state held in registers, instead of
    a pass over everyone each quarter. Each quarter does for the person
    exactly what `kernel.World.step` does for their row, in the same order and
    with the same arithmetic (spells due start, the pass over everyone, then
    spell ends, starts and offending again until no spell starts before the
    quarter's end), so every offence, sentence and episode is the quarter-by-
    quarter kernel's, draw for draw. At the start of quarters `term` and
    `term + 2` a person without a term episode still in follow-up leaves, as
    `World.trim` drops them; a person who has left for good (`close_quarter`)
    stops.

    The people are the starting population (its columns, as
    `World._initial_population` completes them), then the entrants (`e_`),
    each joining, as `World.admit` admits them, in quarter `e_quarter` (never
    if n_steps or later). The episodes opened go into `out` (rows of
    `STATUS_QUO_COLUMNS`, numbered in order) and their proven reoffences into
    `counts` (zeros); returns how many, or -1 if they did not fit (the
    caller's arrays: the kernel allocates nothing large, whose fresh pages
    would each cost a fault). Episodes from before the start are not counted:
    nothing reads them."""
    kinds = len(ev.effect)
    n_pop = pid.size
    room = min(counts.size, out.size // STATUS_QUO_COLUMNS)
    n_eps = 0
    mine_id = np.empty(_MEMORY, np.int64)  # the person's episodes that may still count an offence
    mine_start = np.empty(_MEMORY, np.int64)
    for r in range(n_pop + e_pid.size):
        # The person's state, as their row would hold it when they join.
        no, k_off, e_service, l_day, l_day_n = np.int64(0), np.int64(0), 1.0, np.int64(-1), np.int64(0)
        if r < n_pop:
            first = 0
            p, fem, e_day, e_age, f_age, ar, frail, hm, des = (pid[r], female[r], entry_day[r], entry_age[r],
                                                               first_age[r], area[r], frailty[r], harm[r], desist[r])
            ph, nxt, nxt_sentence, nxt_prior = phase[r], next_start[r], next_sentence[r], next_prior[r]
            s_start, s_prior, s_count, stp = sp_start[r], sp_prior[r], sp_count[r], stop[r]
            rate_d = sp_rate[r] / m.days_per_year if ph == AT_LIBERTY else 0.0
            s_sentencing = sentence_probability(s_prior, m)
            has_ep, e_until = ep_id[r] >= 0, ep_until[r]
        else:
            x = r - n_pop
            first = e_quarter[x]
            if first >= n_steps:
                continue
            p, fem, e_day, e_age, f_age, ar, frail, hm, des = (
                e_pid[x], e_female[x], e_entry_day[x], e_entry_age[x], e_first_age[x], e_area[x], e_frailty[x],
                e_harm[x], e_desist[x])
            ph, nxt, nxt_sentence, nxt_prior = WAITING, e_entry_day[x], e_sentence[x], e_prior[x]
            s_start, s_prior, s_count, stp = 0.0, np.int32(0), np.int32(0), np.inf
            rate_d, s_sentencing = 0.0, 0.0
            has_ep, e_until = False, -np.inf
        h_left = _exponential(key, p, 0, purpose.gap)
        n_mine = 0
        last_term_start = -np.inf  # latest start of the person's term episodes
        for q in range(first, n_steps):
            q0, q1 = qdays[q], qdays[q + 1]
            if (q == term or q == term + 2) and not last_term_start > q0 - FOLLOW_UP_DAYS:
                break
            starting = ph == WAITING and nxt < q1
            everyone = True
            while True:
                if starting:
                    # The spell starts: the episode before it retires.
                    if has_ep:
                        has_ep = False
                        e_until = -np.inf
                    s, j = nxt, no + 1
                    age = e_age + (s - e_day) / m.days_per_year
                    rate, risk_rate, supervised, tier = spell_traits(
                        age, fem, nxt_prior, f_age, hm, frail, nxt_sentence, s,
                        _uniform(key, p, j, purpose.offence_type), _uniform(key, p, j, purpose.high_risk),
                        _uniform(key, p, j, purpose.one_off), m)
                    ph, no, s_start, s_prior = AT_LIBERTY, j, s, nxt_prior
                    rate_d = rate / m.days_per_year
                    s_sentencing = sentence_probability(nxt_prior, m)
                    s_count, stp, nxt = 0, np.inf, np.inf
                    if supervised:
                        contracted = tier != m.tier_high and _uniform(key, p, j, purpose.allocation) < 1.0
                        op = np.int64(ar) if contracted else np.int64(nps)
                        start = np.int64(math.floor(s))
                        ages = min(max(math.floor(age), 10), 100)
                        sentence = np.int64(nxt_sentence)
                        cell = ((((np.int64(fem) * 6 + _right_of(age_cuts, ages)) * 4 + sentence) * 3 + tier) * 6
                                + _right_of(prior_cuts, s_prior))
                        service = 1.0
                        for k in range(kinds):
                            if k < 2 and sentence != m.custody_short and sentence != m.custody_long:
                                continue
                            proper = _uniform(key, p, j, purpose.event_proper + k) < quality[op, k]
                            if ev.effect[k] != 0.0:
                                service *= ((1.0 - ev.effect[k] if proper else 1.0)
                                            / (1.0 - ev.effect[k] * ev.status_quo_quality))
                        if n_eps == room:
                            return -1
                        if l_day == start:  # offences earlier on its first day count
                            counts[n_eps] += l_day_n
                        at = STATUS_QUO_COLUMNS * n_eps
                        out[at], out[at + 1], out[at + 2], out[at + 3], out[at + 4] = q, p, start, op, ar
                        out[at + 5], out[at + 6], out[at + 7], out[at + 8], out[at + 9] = sentence, tier, ages, fem, s_prior
                        out[at + 10], out[at + 11], out[at + 12] = cell, op, _right_of(risk_cuts, risk_rate)
                        out[at + 13] = q < term
                        # Remember it; forget those whose follow-up can no longer count an offence.
                        kept_ = 0
                        for x in range(n_mine):
                            if mine_start[x] > start - FOLLOW_UP_DAYS:
                                mine_id[kept_], mine_start[kept_] = mine_id[x], mine_start[x]
                                kept_ += 1
                        if kept_ == _MEMORY:
                            raise ValueError("a person has too many episodes in follow-up at once")
                        mine_id[kept_], mine_start[kept_] = n_eps, start
                        n_mine = kept_ + 1
                        if q < term:
                            last_term_start = max(last_term_start, np.float64(start))
                        has_ep, e_until, e_service = True, s + ev.supervision_days, service
                        n_eps += 1
                # Offending: the pass over everyone, or (after a spell ends) the new spell's.
                skip = False
                if everyone:
                    a = max(s_start, q0)
                    cap = min(min(stp, des), q1)
                    rate = rate_d
                    budget = rate * max(cap - a, 0.0)
                    if has_ep and e_until > q0 and budget > 0.0:
                        mult = _multiplier(a, cap, q0, e_until, np.inf, e_service, 1.0, 1.0)
                        rate *= mult
                        budget *= mult
                else:
                    a = max(q0, s_start)
                    cap = min(min(stp, des), q1)
                    skip = not cap > a
                    if not skip:
                        rate = rate_d
                        if has_ep:
                            rate *= _multiplier(a, cap, q0, e_until, np.inf, e_service, 1.0, 1.0)
                        budget = rate * (cap - a)
                if not skip:
                    h = h_left
                    if h >= budget:
                        h_left = h - budget
                    else:
                        k = k_off
                        t = a + h / rate
                        width, rnd, at_, gap0, next_gap = 1, 0, t, 0.0, 0.0
                        while True:
                            s_ = 0.0
                            kept = 0
                            for c in range(width):
                                when, s_, g = _offence_time(key, p, k, c, rnd, t, s_, rate, gap0, purpose.gap)
                                if rnd > 0:
                                    if not when < min(cap, stp):
                                        next_gap = g
                                        break
                                    at_ = when
                                disposal, sentenced = _court(key, p, k + c, when, s_sentencing, purpose.court, m)
                                if sentenced:
                                    stp = min(stp, disposal)
                                day, dday = np.int64(math.floor(when)), np.int64(math.floor(disposal))
                                kept += 1
                                ok = 1 if dday - day <= DISPOSAL_DAYS else 0
                                l_day_n = l_day_n + ok if l_day == day else ok
                                l_day = day
                                for x in range(n_mine):
                                    if _counts(day, dday, mine_id[x], mine_start[x]):
                                        counts[mine_id[x]] += 1
                            k_off = k + kept
                            s_count += kept
                            cap = min(cap, stp)
                            left, t, gap0, k, rnd, width = _next_round(key, p, k, rnd, width, kept, t, at_, cap, rate,
                                                                       next_gap, purpose.gap)
                            if not math.isnan(left):
                                h_left = left
                                break
                # A sentence that ends the spell before the quarter's end.
                if not stp < q1:
                    break
                e_until = min(e_until, stp)
                prior = s_prior + s_count
                sentence_ = new_sentence(prior, _uniform(key, p, no, purpose.new_sentence), m)
                ph, rate_d = WAITING, 0.0
                nxt = stp + served_days(sentence_, _uniform(key, p, no, purpose.served), m)
                nxt_sentence, nxt_prior, stp = sentence_, prior, np.inf
                if not nxt < q1:
                    break
                starting, everyone = True, False
            # Left for good: at liberty past the career's end, nothing pending, supervision over.
            if ph == AT_LIBERTY and des <= q1 and math.isinf(stp) and (not has_ep or e_until <= q1):
                break
    return n_eps


@njit(cache=True, nogil=True)
def in_quarter_order(out, counts, n, n_quarters, rows, sorted_counts):
    """The n episodes of `status_quo_people`, quarter by quarter, each
    quarter's in the order opened, into `rows` and `sorted_counts` (a stable
    counting sort on the quarter); returns where each quarter starts."""
    starts = np.zeros(n_quarters + 1, np.int64)
    for i in range(n):
        starts[out[STATUS_QUO_COLUMNS * i] + 1] += 1
    for q in range(n_quarters):
        starts[q + 1] += starts[q]
    at = starts[:-1].copy()
    for i in range(n):
        q = out[STATUS_QUO_COLUMNS * i]
        j = at[q]
        at[q] += 1
        for f in range(STATUS_QUO_COLUMNS):
            rows[j, f] = out[STATUS_QUO_COLUMNS * i + f]
        sorted_counts[j] = counts[i]
    return starts
