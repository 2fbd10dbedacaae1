"""The simulator's quarter step written agent by agent: the baseline the
vectorised kernel (`pbrkit.simulate.kernel`) is timed against.

Issue 5 asks how much faster the kernel is than the straightforward way a
modeller would write the same model: one Python object per offender and a
`step` method each quarter (Mesa's pattern; Mesa itself would add a
scheduler's overhead and nothing to the model, so plain objects give the
baseline its best chance). Each quarter every `Offender` starts a spell that
is due, offends on their own hazard clock (the status-quo rate times the
provider's multiplier while supervised), is sentenced on a disposal day and
re-enters within the quarter, opens an `Episode` with its service events,
and adds to the quarter's tally: `kernel.World.step`, one person at a time.

It is the same step, not a look-alike: every random number is drawn at the
kernel's address (person, counter, purpose) by a scalar copy of
`pbrkit.simulate.draws`' mixing function, and every floating-point operation
is done in the kernel's order, so on the same world, key and entrants the two
give the same offences on the same days, the same episodes, events and
reoffence counts, and the same clocks to the bit (tests/test_simulate_agents.py
checks). One consequence shows in the code: an offender's clock sums the gaps
between offences in rounds of 1, 4, 8, 16, ... offences, as the kernel's
vectorised rounds do, because summing them one by one moves an offence's
time by an ulp.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
from scipy.special import ndtri

from pbrkit.simulate import draws
from pbrkit.simulate.kernel import (
    CHUNK,
    COMPACT_SHARE,
    DISPOSAL_DAYS,
    FOLLOW_UP_DAYS,
    RISK_BANDS,
    Entrants,
    Policy,
    Routing,
    Tally,
)
from pbrkit.simulate.params import EVENT_KINDS, ModelParams
from pbrkit.simulate.spells import SYNTH, TIER_HIGH, TIER_LOW, TIER_MEDIUM
from pbrkit.simulate.world import AGE_CUTS, NPS, N_AREAS, PRIOR_CUTS, StartingWorld, day_number, quarter_start_day
from pbrkit.synth.params import (
    OGRS3_AGE_BREAKS,
    OGRS3_AGE_SEX_FEMALE,
    OGRS3_AGE_SEX_MALE,
    OGRS3_COPAS,
    OGRS3_INTERCEPT_2YR,
    OGRS3_OFFENCE_TERMS,
    OGRS3_STATUS_FIRST,
    OGRS3_STATUS_REPEAT,
)
from pbrkit.synth.people import CUSTODY_LONG, CUSTODY_SHORT, DAYS_PER_YEAR, VIOLENT_OFFENCES

INF = math.inf
PLAN_DAYS_BEFORE = 7  # a custody case's plan falls due the week before release
ORA_DAY = day_number(SYNTH.ora_date)
#: A payment segment's levels, and each case-mix cell's level (`world.cell_levels`).
LEVELS = {None: 1, "prior_band": 6, "risk_tier": 3, "sentence": 4}
SEGMENT_LEVEL = {"prior_band": lambda cell: cell % 6, "risk_tier": lambda cell: (cell // 6) % 3,
                 "sentence": lambda cell: (cell // 18) % 4}


# --- common random numbers, one at a time ----------------------------------------
_MASK = (1 << 64) - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(key: int, person: int, counter: int, purpose: int) -> int:
    """`draws`' SplitMix64 finaliser on one address, in Python integers."""
    x = (((person << 33) | (counter << 6) | purpose) * _GOLDEN + key) & _MASK
    x ^= x >> 30
    x = (x * _M1) & _MASK
    x ^= x >> 27
    x = (x * _M2) & _MASK
    return x ^ (x >> 31)


def uniform(key: int, person: int, counter: int, purpose: int) -> float:
    return (float(_mix(key, person, counter, purpose) >> 11) + 0.5) * (1.0 / 9007199254740992.0)


def uniform_pair(key: int, person: int, counter: int, purpose: int) -> tuple[float, float]:
    x = _mix(key, person, counter, purpose)
    return (float(x >> 32) + 0.5) * (1.0 / 4294967296.0), (float(x & 0xFFFFFFFF) + 0.5) * (1.0 / 4294967296.0)


def exponential(key: int, person: int, counter: int, purpose: int) -> float:
    return -math.log(uniform(key, person, counter, purpose))


# --- the synthetic population's rules, for one person ------------------------------
_OFFENCE_CUM = np.cumsum(np.asarray(SYNTH.offence_type_probs)).tolist()
_LOG_DISPOSAL_MEDIAN = math.log(SYNTH.disposal_median_days)


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def ogrs3_linear(age: float, female: bool, prior: int, first_age: float, offence: int) -> float:
    copas = math.log((1.0 + prior) / (10.0 + max(age - first_age, 0.0)))
    band = bisect_right(OGRS3_AGE_BREAKS, age)
    age_sex = OGRS3_AGE_SEX_FEMALE[band] if female else OGRS3_AGE_SEX_MALE[band]
    status = OGRS3_STATUS_REPEAT if prior > 0 else OGRS3_STATUS_FIRST
    return OGRS3_COPAS * copas + age_sex + status + OGRS3_OFFENCE_TERMS[offence]


def sentence_probability(prior: int) -> float:
    return logistic(SYNTH.sentence_intercept + SYNTH.sentence_prior_slope * math.log1p(prior))


def new_sentence(prior: int, u: float) -> int:
    logits = list(SYNTH.resentence_logits)
    logits[CUSTODY_SHORT] += SYNTH.resentence_short_custody_prior_slope * math.log1p(prior)
    cum = list(accumulate(math.exp(x) for x in logits))
    total = cum[-1]
    return min(sum(u > c / total for c in cum), 3)


def served_days(sentence: int, u: float) -> float:
    if sentence == CUSTODY_SHORT:
        lo, hi = SYNTH.short_custody_served_days
        return lo + (hi - lo) * u
    if sentence == CUSTODY_LONG:
        return 182.0 - (SYNTH.long_custody_served_days_mean - 182.0) * math.log(u)
    return 0.0


def case_mix_cell(female: bool, age: int, sentence: int, tier: int, prior: int) -> int:
    age_band = bisect_right(AGE_CUTS, age)
    prior_band = bisect_right(PRIOR_CUTS, prior)
    return (((int(female) * 6 + age_band) * 4 + sentence) * 3 + tier) * 6 + prior_band


# --- the agents ---------------------------------------------------------------------
@dataclass(slots=True)
class Episode:
    """A period of supervision: its data-standard row, what its provider does
    and knows, and its proven reoffences as they happen."""

    id: int
    pid: int
    start: int  # day
    operator: int  # who delivers it
    provider: int  # who holds the contract
    until: float  # supervision ends
    segment: int  # payment level x risk quintile
    term: bool  # in a cohort the contract pays for
    known: float = INF  # day its first reoffence is proven
    service: float = 1.0  # multiplier on offending from its service events
    reoffences: int = 0
    # the data-standard row of an episode opened in the run
    area: int = -1
    sentence: int = -1
    tier: int = -1
    age: int = -1
    female: bool = False
    prior: int = -1
    cell: int = -1
    rq: int = -1

    def counts(self, day: int, disposal: int) -> bool:
        """An offence on `day` disposed of on `disposal` is a proven reoffence of this episode."""
        since = day - self.start
        return 0 <= since <= FOLLOW_UP_DAYS - 1 and disposal - self.start <= DISPOSAL_DAYS


class Quarter:
    """What every offender reads and writes during one quarter: its days, the
    providers' policy, where cases go, and the quarter's log and tally."""

    def __init__(self, world: AgentWorld, q: int, policy: Policy, routing: Routing):
        self.world = world
        self.key = world.key
        self.params = world.params
        self.q0, self.q1 = float(world.qdays[q]), float(world.qdays[q + 1])
        self.relative = policy.relative.tolist()
        self.quality = policy.quality.tolist()
        self.proper_cost = policy.proper_cost.tolist()
        self.routing = routing
        self.area_operator = routing.area_operator.tolist()
        self.area_provider = routing.area_provider.tolist()
        self.subcontractors = routing.subcontractors.tolist()
        self.n_sub = routing.subcontractors.shape[1]
        n_ops, n_seg = world.n_ops, world.n_seg
        self.exposure = [[0.0] * n_seg for _ in range(n_ops)]
        self.episode_count = [0] * n_ops
        self.event_cost = [0.0] * n_ops
        self.events = [[0] * len(EVENT_KINDS) for _ in range(n_ops)]
        self.on_time = [[0] * len(EVENT_KINDS) for _ in range(n_ops)]
        self.proper = [[0] * len(EVENT_KINDS) for _ in range(n_ops)]
        self.offence_count = 0
        self.offences: list[tuple[int, int, int]] = []
        self.episodes: list[Episode] = []
        self.service_events: list[tuple] = []

    def account(self, ep: Episode) -> None:
        """The episode's supervised time in the quarter, in person-quarters."""
        days = min(ep.until, self.q1) - max(ep.start, self.q0)
        if days > 0:
            seg = ep.segment * 2 + (ep.known <= self.q0)
            self.exposure[ep.operator][seg] += days / (self.q1 - self.q0)

    def tally(self) -> Tally:
        t = Tally(len(self.exposure), len(self.exposure[0]))
        t.exposure[:] = self.exposure
        t.episodes[:] = self.episode_count
        t.event_cost[:] = self.event_cost
        t.events[:] = self.events
        t.on_time[:] = self.on_time
        t.proper[:] = self.proper
        t.offences = self.offence_count
        return t


class Offender:
    """One person: who they are, the spell they are in, their offence clock,
    and their episodes whose follow-up may still be running."""

    __slots__ = ("pid", "female", "entry_day", "entry_age", "first_age", "area", "frailty", "harm", "desist",
                 "at_liberty", "next_start", "next_sentence", "next_prior", "sp_no", "sp_start", "sp_prior",
                 "rate_day", "sentencing", "sp_count", "stop", "hazard", "n_off", "episode", "past",
                 "last_day", "last_day_n")

    def __init__(self, key: int, *, pid, female, entry_day, entry_age, first_age, area, frailty, harm, desist,
                 at_liberty=False, next_start=INF, next_sentence=0, next_prior=0, sp_start=0.0, sp_prior=0,
                 sp_rate=0.0, sp_count=0, stop=INF):
        self.pid, self.female, self.area = pid, female, area
        self.entry_day, self.entry_age, self.first_age = entry_day, entry_age, first_age
        self.frailty, self.harm, self.desist = frailty, harm, desist
        self.at_liberty = at_liberty
        self.next_start, self.next_sentence, self.next_prior = next_start, next_sentence, next_prior
        self.sp_no, self.sp_start, self.sp_prior, self.sp_count, self.stop = 0, sp_start, sp_prior, sp_count, stop
        self.rate_day = sp_rate / DAYS_PER_YEAR if at_liberty else 0.0
        self.sentencing = sentence_probability(sp_prior)
        self.hazard = exponential(key, pid, 0, draws.GAP)
        self.n_off = 0
        self.episode: Episode | None = None
        self.past: list[Episode] = []
        self.last_day, self.last_day_n = -1, 0

    # --- the quarter ----------------------------------------------------------------
    def step(self, w: Quarter) -> None:
        if not self.at_liberty and self.next_start < w.q1:
            self.start_spell(w)
        self.offend_from_quarter_start(w)
        while self.stop < w.q1:
            self.end_spell(w)
            if self.next_start < w.q1:
                self.start_spell(w)
                self.offend_after_reentry(w)
        ep = self.episode
        if ep is not None and ep.until > w.q0:
            w.account(ep)

    def has_left(self, q1: float) -> bool:
        """Career over, nothing pending, no supervision running."""
        ep = self.episode
        return (self.at_liberty and self.desist <= q1 and self.stop == INF
                and (ep is None or ep.until <= q1))

    # --- spells -----------------------------------------------------------------------
    def start_spell(self, w: Quarter) -> None:
        """The spell due starts (a release, a new order, a first sentence); a
        running episode is put by while its follow-up lasts."""
        s = self.next_start
        old = self.episode
        if old is not None:
            w.account(old)
            horizon = math.floor(s) - FOLLOW_UP_DAYS
            self.past = [e for e in self.past if e.start > horizon] + ([old] if old.start > horizon else [])
            self.episode = None
        sentence, prior = self.next_sentence, self.next_prior
        j = self.sp_no + 1
        age = self.entry_age + (s - self.entry_day) / DAYS_PER_YEAR
        rate, risk_rate, tier = self.spell_traits(w.key, j, age, sentence, prior)
        self.at_liberty = True
        self.sp_no, self.sp_start, self.sp_prior, self.sp_count = j, s, prior, 0
        self.rate_day = rate / DAYS_PER_YEAR
        self.sentencing = sentence_probability(prior)
        self.stop = self.next_start = INF
        if sentence != CUSTODY_SHORT or s >= ORA_DAY or age < SYNTH.young_adult_age:
            self.open_episode(w, j, s, sentence, prior, age, tier, risk_rate)

    def spell_traits(self, key: int, j: int, age: float, sentence: int, prior: int) -> tuple[float, float, int]:
        """Spell j's index offence and OGRS3 score give its offending rate, the
        rate an assessment sees, and the risk tier (`spells.spell_traits`)."""
        pid = self.pid
        offence = min(bisect_right(_OFFENCE_CUM, uniform(key, pid, j, draws.OFFENCE_TYPE)), len(_OFFENCE_CUM) - 1)
        x = ogrs3_linear(age, self.female, prior, self.first_age, offence)
        ogrs = 100.0 * logistic(OGRS3_INTERCEPT_2YR + x)
        high_logit = (SYNTH.high_intercept + SYNTH.high_person_sd * self.harm
                      + SYNTH.high_violent_offence * (offence in VIOLENT_OFFENCES)
                      + SYNTH.high_custody_long * (sentence == CUSTODY_LONG) + SYNTH.high_female * self.female)
        high = uniform(key, pid, j, draws.HIGH_RISK) < logistic(high_logit)
        risk_rate = math.exp(SYNTH.rate_intercept + SYNTH.rate_ogrs_slope * x + SYNTH.rate_high_tier * high
                             + SYNTH.rate_custody_short * (sentence == CUSTODY_SHORT))
        one_off = high and uniform(key, pid, j, draws.ONE_OFF) < SYNTH.high_one_off_share
        rate = risk_rate * self.frailty * (SYNTH.one_off_rate_factor if one_off else 1.0)
        tier = TIER_HIGH if high else (TIER_MEDIUM if ogrs >= SYNTH.medium_ogrs_cut else TIER_LOW)
        return rate, risk_rate, tier

    def end_spell(self, w: Quarter) -> None:
        """A sentence ends the spell on its disposal day; the next waits for release."""
        stop = self.stop
        if self.episode is not None:
            self.episode.until = min(self.episode.until, stop)
        prior = self.sp_prior + self.sp_count
        sentence = new_sentence(prior, uniform(w.key, self.pid, self.sp_no, draws.NEW_SENTENCE))
        served = served_days(sentence, uniform(w.key, self.pid, self.sp_no, draws.SERVED))
        self.at_liberty = False
        self.rate_day = 0.0
        self.next_start = stop + served
        self.next_sentence, self.next_prior = sentence, prior
        self.stop = INF

    # --- supervision ----------------------------------------------------------------
    def open_episode(self, w: Quarter, j, s, sentence, prior, age, tier, risk_rate) -> None:
        """A supervised spell opens an episode: the area's contracted provider
        (or a subcontractor) takes a low or medium risk case, the NPS the rest."""
        key, pid, area, routing = w.key, self.pid, self.area, w.routing
        contracted = tier != TIER_HIGH and uniform(key, pid, j, draws.ALLOCATION) < routing.contract_share
        operator = w.area_operator[area] if contracted else NPS
        provider = w.area_provider[area] if contracted else NPS
        n_sub = w.n_sub
        if routing.subcontract_share > 0 and n_sub:
            u = uniform(key, pid, j, draws.SUBCONTRACT)
            if contracted and operator < N_AREAS and u < routing.subcontract_share:
                sub = w.subcontractors[area][min(int(u / routing.subcontract_share * n_sub), n_sub - 1)]
                if sub >= 0:
                    operator = sub
        start = math.floor(s)
        age_years = min(max(math.floor(age), 10), 100)
        cell = case_mix_cell(self.female, age_years, sentence, tier, prior)
        rq = bisect_right(w.world.risk_cuts, risk_rate)
        ep = Episode(id=w.world.new_id(), pid=pid, start=start, provider=provider, area=area, sentence=sentence,
                     tier=tier, age=age_years, female=self.female, prior=prior, cell=cell, operator=operator, rq=rq,
                     term=routing.paid_cohort, until=s + w.params.supervision_days,
                     segment=w.world.level_of(cell) * RISK_BANDS + rq)
        if self.last_day == start:  # the day's earlier offences count: the standard counts whole days
            ep.reoffences += self.last_day_n
        ep.service = self.open_events(w, ep, j, sentence)
        self.episode = ep
        w.episodes.append(ep)
        w.episode_count[operator] += 1

    def open_events(self, w: Quarter, ep: Episode, j: int, sentence: int) -> float:
        """The episode's service events, done properly or filed empty; returns
        the multiplier on offending they bring."""
        key, pid, params, op = w.key, self.pid, w.params, ep.operator
        world = w.world
        service = 1.0
        custody = sentence == CUSTODY_SHORT or sentence == CUSTODY_LONG
        for k in range(len(EVENT_KINDS)):
            if k < 2 and not custody:
                continue
            if k == 0:
                due = ep.start
            elif k == 1:  # the plan falls due the week before release (within the quarter)
                due = max(ep.start - PLAN_DAYS_BEFORE, int(w.q0))
            else:
                due = ep.start + SYNTH.induction_due_days
            proper = uniform(key, pid, j, draws.EVENT_PROPER + k) < w.quality[op][k]
            never = proper and uniform(key, pid, j, draws.EVENT_NOT_DONE + k) < params.not_done_share
            late = proper and uniform(key, pid, j, draws.EVENT_LATE + k) > params.proper_on_time_share
            if never:
                done = -1
            elif late:
                u = uniform(key, pid, j, draws.EVENT_LATE_DAYS + k)
                done = due + 1 + math.ceil(math.log(u) / world.log_still_late)
            else:
                done = due
            audited = done >= 0 and uniform(key, pid, j, draws.EVENT_AUDIT + k) < params.audit_rate
            eff = world.effect[k]
            if eff:
                service *= (1.0 - eff if proper else 1.0) / (1.0 - eff * params.status_quo_quality)
            w.event_cost[op] += w.proper_cost[op][k] if proper else params.empty_cost
            w.events[op][k] += 1
            w.on_time[op][k] += 0 <= done <= due
            w.proper[op][k] += proper and done >= 0
            w.service_events.append((ep, k, due, done, int(proper) if audited else -1, proper, op, ep.provider))
        return service

    def multiplier(self, ep: Episode, a: float, cap: float, w: Quarter) -> float:
        """Offending relative to the status quo over [a, cap): the provider's
        effect while supervision lasts, 1 after."""
        f = min(max((min(cap, ep.until) - a) / (cap - a), 0.0), 1.0)
        r = w.relative[ep.operator][ep.segment * 2 + (ep.known <= w.q0)] * ep.service
        return 1.0 + f * (r - 1.0)

    # --- offending ----------------------------------------------------------------
    def offend_from_quarter_start(self, w: Quarter) -> None:
        """Offending from the quarter's (or spell's) start: the provider's
        multiplier scales the summed hazard budget, in the kernel's order for everyone."""
        a = max(self.sp_start, w.q0)
        cap = min(self.stop, self.desist, w.q1)
        budget = self.rate_day * max(cap - a, 0.0)
        rho = self.rate_day
        ep = self.episode
        if ep is not None and ep.until > w.q0 and budget > 0:
            m = self.multiplier(ep, a, cap, w)
            rho *= m
            budget *= m
        if self.hazard < budget:
            self.offend(w, a, cap, rho, self.hazard)
        else:
            self.hazard -= budget

    def offend_after_reentry(self, w: Quarter) -> None:
        """Offending in a spell begun within the quarter: the multiplier scales
        the rate before the budget is summed, in the kernel's order for re-entrants."""
        a = max(w.q0, self.sp_start)
        cap = min(self.stop, self.desist, w.q1)
        if not cap > a:
            return
        rho = self.rate_day * (self.multiplier(self.episode, a, cap, w) if self.episode is not None else 1.0)
        budget = rho * (cap - a)
        if self.hazard >= budget:
            self.hazard -= budget
        else:
            self.offend(w, a, cap, rho, self.hazard)

    def offend(self, w: Quarter, t: float, cap: float, rho: float, first_gap: float) -> None:
        """Offences from time t until the cap (or a sentence), in time order: the
        k-th comes when the clock has used up the k-th exponential gap."""
        key, pid = w.key, self.pid
        t = t + first_gap / rho
        self.offence(w, t)
        cap = min(cap, self.stop)
        gap = exponential(key, pid, self.n_off, draws.GAP)
        if not t + gap / rho < cap:
            self.hazard = gap - rho * (cap - t)
            return
        width = CHUNK
        while True:
            k = self.n_off
            gaps = [gap] + [exponential(key, pid, k + i, draws.GAP) for i in range(1, width)]
            times = [t + g / rho for g in accumulate(gaps)]
            n = 0
            while n < width and times[n] < min(cap, self.stop):
                self.offence(w, times[n])
                n += 1
            cap = min(cap, self.stop)
            if n < width:
                self.hazard = gaps[n] - rho * (cap - (times[n - 1] if n else t))
                return
            t = times[-1]
            gap = exponential(key, pid, k + width, draws.GAP)
            width *= 2

    def offence(self, w: Quarter, when: float) -> None:
        """One offence: its court date, perhaps a sentence, and the episodes it counts against."""
        k = self.n_off
        u_delay, u_sentence = uniform_pair(w.key, self.pid, k, draws.COURT)
        disposal = when + math.exp(_LOG_DISPOSAL_MEDIAN + SYNTH.disposal_sigma * float(ndtri(u_delay)))
        if u_sentence < self.sentencing:
            self.stop = min(self.stop, disposal)
        day, dday = math.floor(when), math.floor(disposal)
        w.offences.append((self.pid, day, dday))
        w.offence_count += 1
        ok = dday - day <= DISPOSAL_DAYS
        if day == self.last_day:
            self.last_day_n += ok
        else:
            self.last_day, self.last_day_n = day, int(ok)
        self.n_off = k + 1
        self.sp_count += 1
        ep = self.episode
        if ep is not None and ep.counts(day, dday):
            ep.reoffences += 1
            ep.known = min(ep.known, float(dday))
        for old in self.past:
            if old.counts(day, dday):
                old.reoffences += 1


class AgentWorld:
    """The population as a list of `Offender`s, stepped one by one each quarter."""

    def __init__(self, start: StartingWorld, params: ModelParams, key: np.uint64, entrants: Entrants,
                 n_quarters: int, n_ops: int, segment: str | None = None, every: int = 1):
        """`every` > 1 keeps every `every`-th person of the world and of the
        entrants: people do not interact, so a sample steps as they would in the whole."""
        self.start, self.params, self.key = start, params, int(key)
        self.n_ops, self.segment = n_ops, segment
        self.n_seg = LEVELS[segment] * 2 * RISK_BANDS
        self.qdays = [quarter_start_day(start.start_quarter + q) for q in range(n_quarters + 1)]
        self.risk_cuts = start.risk_cuts.tolist()
        self.effect = list(params.service_effect)
        self.log_still_late = math.log1p(-1.0 / params.late_mean_days)
        self.next_episode_id = start.history.size
        self.agents = self._people(start.people, every)
        self.entrants = {name: getattr(entrants, name)[::every].tolist() for name in Entrants.__dataclass_fields__}
        self._next_entrant = 0
        #: By quarter: the offences (pid, day, disposal day), new episodes and service events.
        self.offences: dict[int, list[tuple[int, int, int]]] = {}
        self.episodes: dict[int, list[Episode]] = {}
        self.service_events: dict[int, list[tuple]] = {}

    def level_of(self, cell: int) -> int:
        return 0 if self.segment is None else int(SEGMENT_LEVEL[self.segment](cell))

    def new_id(self) -> int:
        self.next_episode_id += 1
        return self.next_episode_id - 1

    def _people(self, people: dict[str, np.ndarray], every: int) -> list[Offender]:
        cols = {name: people[name][::every].tolist() for name in people}
        agents = []
        for i in range(len(cols["pid"])):
            row = {name: col[i] for name, col in cols.items()}
            agent = Offender(
                self.key, pid=row["pid"], female=row["female"], entry_day=row["entry_day"],
                entry_age=row["entry_age"], first_age=row["first_age"], area=row["area"], frailty=row["frailty"],
                harm=row["harm"], desist=row["desist"], at_liberty=row["phase"] == 0, next_start=row["next_start"],
                next_sentence=row["next_sentence"], next_prior=row["next_prior"], sp_start=row["sp_start"],
                sp_prior=row["sp_prior"], sp_rate=row["sp_rate"], sp_count=row["sp_count"], stop=row["stop"])
            if row["ep_id"] >= 0:  # supervised at the start, by the area's public provider
                cell = case_mix_cell(row["female"], row["ep_age"], row["ep_sentence_code"], row["ep_tier"],
                                     row["ep_prior"])
                agent.episode = Episode(
                    id=row["ep_id"], pid=row["pid"], start=row["ep_start"], provider=row["ep_provider"],
                    operator=row["ep_provider"], until=row["ep_until"], known=row["ep_known"], term=False,
                    segment=self.level_of(cell) * RISK_BANDS + bisect_right(self.risk_cuts, row["ep_risk_rate"]))
            agents.append(agent)
        return agents

    def admit(self, before: float) -> None:
        """First-time entrants arriving before `before` join, waiting for their first spell."""
        e, i = self.entrants, self._next_entrant
        while i < len(e["pid"]) and e["entry_day"][i] < before:
            self.agents.append(Offender(
                self.key, pid=e["pid"][i], female=e["female"][i], entry_day=e["entry_day"][i],
                entry_age=e["entry_age"][i], first_age=e["first_age"][i], area=e["area"][i], frailty=e["frailty"][i],
                harm=e["harm"][i], desist=e["desist"][i], next_start=e["entry_day"][i],
                next_sentence=e["sentence"][i], next_prior=e["prior"][i]))
            i += 1
        self._next_entrant = i

    def step(self, q: int, policy: Policy, routing: Routing, admit: bool = True) -> Tally:
        """Contract quarter q (0-based) for every offender; returns its tally."""
        w = Quarter(self, q, policy, routing)
        if admit:
            self.admit(w.q1)
        for agent in self.agents:
            agent.step(w)
        self.offences[q], self.episodes[q], self.service_events[q] = w.offences, w.episodes, w.service_events
        left = [agent.has_left(w.q1) for agent in self.agents]
        if sum(left) > COMPACT_SHARE * len(self.agents):
            self.agents = [agent for agent, gone in zip(self.agents, left, strict=True) if not gone]
        return w.tally()


def run_quarters(world: AgentWorld, quarters: int, policy: Policy, routing: Routing) -> int:
    """`kernel.run_quarters` for the agents: offender-quarter steps taken."""
    steps = 0
    for q in range(quarters):
        steps += len(world.agents)
        world.step(q, policy, routing)
    return steps


__all__ = ["AgentWorld", "Episode", "Offender", "exponential", "run_quarters", "uniform", "uniform_pair"]
