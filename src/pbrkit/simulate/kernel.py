"""The quarter step: offending, courts, sentences, new episodes, service events.

One `World` is one run of the national market (the design world, or the
status-quo counterfactual). Each quarter, for every live person:

1. spells due to start (releases from custody, new community sentences,
   first-time entrants) start: the new spell's index offence, risk of harm,
   OGRS3 score and offending rate are drawn (synth's model, `spells`), and a
   supervised spell opens an episode with the provider the allocation rule
   gives, and its service events, done properly or filed empty as that
   provider decided;
2. people at liberty offend: a Poisson process whose rate is the synthetic
   population's status-quo rate times, while supervised, the provider's
   effect `m(e) / m(e_status_quo)` and the service events' effect. Offences
   are drawn in time order from each person's own clock (an exponential
   amount of hazard per offence, common to both worlds);
3. each offence reaches a court after a lognormal delay; one that brings a
   sentence ends the spell on its disposal day, and the next spell starts
   then (community) or on release (custody): re-entry, so offending feeds
   the next quarter's volumes;
4. steps 1-3 repeat within the quarter until no spell starts before its end.

The population and the log live here; the person-by-person work of each
step is in `kernel_jit`, compiled. The providers' decisions for the quarter
come in as a `Policy` (tables by operator and segment) and the allocation as
a `Routing`; the step knows no contract. `run_quarters` runs the bare step
for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbrkit.simulate import draws, kernel_jit
from pbrkit.simulate.kernel_jit import CHUNK, DISPOSAL_DAYS, FOLLOW_UP_DAYS, Cases, EventModel, Purposes
from pbrkit.simulate.logbook import Logbook
from pbrkit.simulate.params import EVENT_KINDS, ModelParams
from pbrkit.simulate.population import AT_LIBERTY, FIELDS, RING, WAITING, Population
from pbrkit.simulate.spells import SYNTH, spell_model
from pbrkit.simulate.world import (
    AGE_CUTS,
    N_CELLS,
    NPS,
    N_AREAS,
    PRIOR_CUTS,
    StartingWorld,
    case_mix_cell,
    cell_levels,
    day_number,
    quarter_start_day,
)

#: Risk quintiles x the reoffended state: segments per payment level.
RISK_BANDS = 5
SEGMENTS_PER_LEVEL = 2 * RISK_BANDS
#: Payment levels of each paid segment (`Design` binary outcome's `segment`).
N_LEVELS = {None: 1, "prior_band": 6, "risk_tier": 3, "sentence": 4}
#: Share of rows that must have left before the population is compacted.
COMPACT_SHARE = 0.3
#: Rows allocated per person at the start: room for the entrants that arrive
#: before a compaction, so the columns are seldom copied to grow.
ROOM = 1.6
_PLAN_DAYS_BEFORE = 7
_SPELLS = spell_model(SYNTH, day_number(SYNTH.ora_date))
_PURPOSES = Purposes(
    gap=draws.GAP, court=draws.COURT, new_sentence=draws.NEW_SENTENCE, served=draws.SERVED,
    offence_type=draws.OFFENCE_TYPE, high_risk=draws.HIGH_RISK, one_off=draws.ONE_OFF, allocation=draws.ALLOCATION,
    subcontract=draws.SUBCONTRACT, event_proper=draws.EVENT_PROPER, event_late=draws.EVENT_LATE,
    event_late_days=draws.EVENT_LATE_DAYS, event_not_done=draws.EVENT_NOT_DONE, event_audit=draws.EVENT_AUDIT,
)


@dataclass
class Policy:
    """What every operator does this quarter, by operator and segment."""

    effort: np.ndarray  # (operators, segments) pounds per supervised person-quarter
    relative: np.ndarray  # (operators, segments) offending multiplier against the status quo
    quality: np.ndarray  # (operators, kinds) share of events done properly
    proper_cost: np.ndarray  # (operators, kinds) pounds per event done properly


@dataclass
class Routing:
    """Where new cases go this quarter."""

    contract_share: float  # chance a low/medium case goes to the area's contracted provider
    area_operator: np.ndarray  # (areas,) operator taking the area's contracted cases
    area_provider: np.ndarray  # (areas,) that operator's provider code in the data
    subcontractors: np.ndarray  # (areas, n) operator ids of a prime's live subcontractors, -1 none
    subcontract_share: float
    paid_cohort: bool  # new episodes belong to a cohort the contract pays for


@dataclass
class Entrants:
    """First-time entrants over the run (drawn once per replicate, same in both worlds)."""

    pid: np.ndarray
    entry_day: np.ndarray
    female: np.ndarray
    entry_age: np.ndarray
    first_age: np.ndarray
    area: np.ndarray
    frailty: np.ndarray
    harm: np.ndarray
    desist: np.ndarray
    prior: np.ndarray
    sentence: np.ndarray


def event_model(params: ModelParams) -> EventModel:
    """How service events are done and checked, and how long supervision lasts, for the compiled loops."""
    return EventModel(
        late_log_q=float(np.log1p(-1.0 / params.late_mean_days)), not_done_share=params.not_done_share,
        proper_on_time_share=params.proper_on_time_share, audit_rate=params.audit_rate,
        empty_cost=params.empty_cost, effect=tuple(float(e) for e in params.service_effect),
        status_quo_quality=params.status_quo_quality, plan_days_before=_PLAN_DAYS_BEFORE,
        induction_due_days=SYNTH.induction_due_days, supervision_days=float(params.supervision_days),
    )


class Tally:
    """One quarter's counts by operator: supervised exposure by segment, new
    episodes, service events and their cost."""

    def __init__(self, n_ops: int, n_seg: int):
        self.exposure = np.zeros((n_ops, n_seg))
        self.episodes = np.zeros(n_ops)
        self.event_cost = np.zeros(n_ops)
        self.events = np.zeros((n_ops, len(EVENT_KINDS)))
        self.on_time = np.zeros((n_ops, len(EVENT_KINDS)))  # reported done by the due date
        self.proper = np.zeros((n_ops, len(EVENT_KINDS)))  # done properly
        self.offences = 0


class World:
    """A simulated world: the population, its log, and the quarter step."""

    def __init__(self, start: StartingWorld, params: ModelParams, key: np.uint64, entrants: Entrants,
                 n_quarters: int, n_ops: int, segment: str | None, keep: bool = False):
        self.start = start
        self.params = params
        self.key = np.uint64(key)
        self.n_quarters = n_quarters
        self.n_ops = n_ops
        self.segment = segment
        self.n_levels = N_LEVELS[segment]
        self.n_seg = self.n_levels * SEGMENTS_PER_LEVEL
        self.qdays = np.array([quarter_start_day(start.start_quarter + q) for q in range(n_quarters + 1)])
        self.log = Logbook(start.history.size, start.start_day - 1000, keep)
        self.entrants = entrants
        self._next_entrant = 0
        self.events = event_model(params)
        self.level_of_cell = self.level_of(np.arange(N_CELLS))
        self.pop = self._initial_population()
        self.tally = Tally(n_ops, self.n_seg)

    # --- set-up ------------------------------------------------------------------
    def level_of(self, cell: np.ndarray) -> np.ndarray:
        if self.segment is None:
            return np.zeros(cell.size, dtype=np.int64)
        return cell_levels(cell)[self.segment]

    def _initial_population(self) -> Population:
        p = self.start.people
        cols = {k: v for k, v in p.items() if k in FIELDS}
        pop = Population(int(ROOM * p["pid"].size) + 1024, **cols)
        has = pop.ep_id >= 0
        pop.ep_operator[:] = np.where(has, pop.ep_provider, -1)
        cell = case_mix_cell(p["female"], p["ep_age"], p["ep_sentence_code"], p["ep_tier"], p["ep_prior"])
        rq = np.searchsorted(self.start.risk_cuts, p["ep_risk_rate"], side="right")
        pop.ep_segment[:] = self.level_of(cell) * RISK_BANDS + rq
        pop.hazard[:] = draws.exponential(self.key, pop.pid, 0, draws.GAP)
        pop.rate_day[:] = np.where(pop.phase == AT_LIBERTY, pop.sp_rate / _SPELLS.days_per_year, 0.0)
        pop.sp_sentencing[:] = kernel_jit.sentence_probabilities(pop.sp_prior, _SPELLS)
        return pop

    def admit(self, before: float) -> None:
        """First-time entrants arriving before `before` join the population."""
        e = self.entrants
        stop = int(np.searchsorted(e.entry_day, before, side="left"))
        sel = slice(self._next_entrant, stop)
        self._next_entrant = stop
        n = stop - sel.start
        if n <= 0:
            return
        self.pop.extend(
            n, pid=e.pid[sel], female=e.female[sel], entry_day=e.entry_day[sel], entry_age=e.entry_age[sel],
            first_age=e.first_age[sel], area=e.area[sel], frailty=e.frailty[sel], harm=e.harm[sel],
            desist=e.desist[sel], phase=np.full(n, WAITING), next_start=e.entry_day[sel],
            next_sentence=e.sentence[sel], next_prior=e.prior[sel],
            hazard=draws.exponential(self.key, e.pid[sel], 0, draws.GAP),
        )

    # --- the step ----------------------------------------------------------------
    def step(self, q: int, policy: Policy, routing: Routing, admit: bool = True) -> Tally:
        """Simulate contract quarter q (0-based); returns the quarter's tally.
        With `admit` false, no first-time entrants arrive (after the term, when
        no one new can join a cohort the contract pays for)."""
        self.tally = Tally(self.n_ops, self.n_seg)
        q0, q1 = float(self.qdays[q]), float(self.qdays[q + 1])
        if admit:
            self.admit(q1)
        pop = self.pop
        cases = self._cases(routing)
        self._start_spells(kernel_jit.due(pop.phase, pop.next_start, q1), q0, q1, policy, cases)
        ended = self._offend(None, q0, q1, policy)
        while ended.size:
            again = kernel_jit.end_spells(
                ended, self.key, _PURPOSES, _SPELLS, q1, pop.stop, pop.ep_until, pop.sp_prior, pop.sp_count, pop.pid,
                pop.sp_no, pop.phase, pop.rate_day, pop.next_start, pop.next_sentence, pop.next_prior)
            self._start_spells(again, q0, q1, policy, cases)
            ended = self._offend(again, q0, q1, policy)
        exposure, gone = kernel_jit.close_quarter(
            q0, q1, self.n_ops, self.n_seg, pop.phase, pop.desist, pop.stop, pop.ep_id, pop.ep_start, pop.ep_until,
            pop.ep_operator, pop.ep_segment, pop.ep_known)
        self.tally.exposure += exposure.reshape(self.n_ops, self.n_seg)
        self.log.close_quarter(q)
        if np.count_nonzero(gone) > COMPACT_SHARE * pop.n:
            pop.compact(~gone)
        return self.tally

    def trim(self, day: float, first_id: int, end_id: int) -> None:
        """Keep only people who can still add a reoffence to a paid cohort: those
        with an episode numbered in [first_id, end_id) started within a year of `day`."""
        pop = self.pop
        keep = (pop.ep_id >= first_id) & (pop.ep_id < end_id) & (pop.ep_start > day - FOLLOW_UP_DAYS)
        keep |= ((pop.prev_id >= first_id) & (pop.prev_id < end_id)
                 & (pop.prev_start > day - FOLLOW_UP_DAYS)).any(axis=1)
        if self.log.overflow_pid.size:
            live = (self.log.overflow_id >= first_id) & (self.log.overflow_id < end_id) & (
                self.log.overflow_start > day - FOLLOW_UP_DAYS)
            keep |= pop.overflow & np.isin(pop.pid, self.log.overflow_pid[live])
        pop.compact(keep)

    def _cases(self, routing: Routing) -> Cases:
        return Cases(
            contract_share=float(routing.contract_share), area_operator=np.asarray(routing.area_operator, np.int64),
            area_provider=np.asarray(routing.area_provider, np.int16),
            subcontractors=np.asarray(routing.subcontractors, np.int64),
            subcontract_share=float(routing.subcontract_share), paid_cohort=bool(routing.paid_cohort), nps=NPS,
            n_areas=N_AREAS, age_cuts=tuple(int(a) for a in AGE_CUTS), prior_cuts=tuple(int(p) for p in PRIOR_CUTS),
            risk_cuts=tuple(float(r) for r in self.start.risk_cuts),
            level_of_cell=self.level_of_cell, risk_bands=RISK_BANDS,
        )

    def _start_spells(self, idx: np.ndarray, q0: float, q1: float, policy: Policy, cases: Cases) -> None:
        """Spells due to start start (`kernel_jit.start_spells`): the retired
        episodes' supervised time, and the new episodes and their service
        events, into the log and the tally."""
        if idx.size == 0:
            return
        pop, log, tally = self.pop, self.log, self.tally
        exposure = np.zeros(self.n_ops * self.n_seg)
        forgotten, rows, opened, events, tallies = kernel_jit.start_spells(
            idx, self.key, _PURPOSES, _SPELLS, self.events, cases, q0, q1, policy.quality, policy.proper_cost,
            self.n_seg, exposure, log.reoffence_counts(idx.size), log.next_id, pop.pid, pop.sp_no, pop.next_start,
            pop.next_sentence, pop.next_prior, pop.entry_age, pop.entry_day, pop.female, pop.first_age, pop.harm,
            pop.frailty, pop.area, pop.last_day, pop.last_day_n, pop.phase, pop.sp_start, pop.sp_prior, pop.sp_rate,
            pop.rate_day, pop.sp_sentencing, pop.sp_count, pop.stop, pop.ep_id, pop.ep_start, pop.ep_until,
            pop.ep_provider, pop.ep_operator, pop.ep_segment, pop.ep_known, pop.ep_service, pop.ep_term,
            pop.ring_head, pop.prev_id, pop.prev_start, pop.overflow)
        tally.exposure += exposure.reshape(self.n_ops, self.n_seg)
        forgotten = forgotten.reshape(-1, 4)
        for i in range(RING):  # slot by slot, as the ring is written
            row, episode, start = forgotten[forgotten[:, 1] == i][:, [0, 2, 3]].T
            if row.size:
                log.overflow(pop.pid[row], episode, start)
        if rows.size == 0:
            return
        ids = log.new_ids(rows.size)
        start, provider, age, tier, cell, operator, rq = opened.reshape(-1, kernel_jit.EPISODE_COLUMNS).T
        log.add_episodes(id=ids, pid=pop.pid[rows], start=start, provider=provider, area=pop.area[rows],
                         sentence=pop.next_sentence[rows], tier=tier, age=age, female=pop.female[rows],
                         prior=pop.sp_prior[rows], cell=cell, operator=operator, rq=rq,
                         term=np.full(rows.size, cases.paid_cohort))
        episode, kind, due, done, complete, proper, op = events.reshape(-1, kernel_jit.EVENT_COLUMNS + 1).T
        log.add_events(episode=ids[episode], kind=kind, due=due, done=done, complete=complete,
                       proper=proper.astype(bool), operator=op, provider=provider[episode])
        tally.episodes += np.bincount(operator, minlength=self.n_ops)
        cost, n_events, on_time, done_properly = tallies.reshape(4, -1, self.n_ops)
        for k in range(n_events.shape[0]):  # kind by kind, as the sums have always been taken
            tally.event_cost += cost[k]
        tally.events += n_events.T
        tally.on_time += on_time.T
        tally.proper += done_properly.T

    def _offend(self, idx: np.ndarray | None, q0: float, q1: float, policy: Policy) -> np.ndarray:
        """People at liberty offend, everyone (idx None) or the rows idx whose
        spell started within the quarter (`kernel_jit.offend`): the offences into
        the log and the tally. Returns the rows whose spell a sentence has ended
        before q1."""
        pop, log = self.pop, self.log
        everyone = idx is None
        (who, day, dday), ended = kernel_jit.offend(
            np.zeros(0, np.int64) if everyone else idx, everyone, self.key, _PURPOSES, _SPELLS, q0, q1,
            policy.relative, pop.sp_start, pop.stop, pop.desist, pop.rate_day, pop.sp_sentencing, pop.sp_count, pop.pid,
            pop.hazard, pop.n_off, pop.last_day, pop.last_day_n, pop.ep_id, pop.ep_start, pop.ep_until,
            pop.ep_operator, pop.ep_segment, pop.ep_known, pop.ep_service, pop.prev_id, pop.prev_start,
            log.reoffence_counts())
        if who.size:
            log.add_offences(pop.pid[who], day, dday)
            self.tally.offences += who.size
            # The reoffences of episodes a person no longer remembers are counted from the log.
            flagged = pop.overflow[who]
            if flagged.any():
                log.count(log.overflow_hits(pop.pid[who[flagged]], day[flagged], dday[flagged]))
        return ended

    # --- views for decisions --------------------------------------------------------
    def supervised(self, q0: float) -> np.ndarray:
        """Rows of people supervised (at liberty, episode running) at day q0."""
        pop = self.pop
        return np.flatnonzero((pop.phase == AT_LIBERTY) & (pop.ep_id >= 0) & (pop.ep_until > q0))


def status_quo_policy(n_ops: int, n_seg: int, params: ModelParams, proper_cost: np.ndarray) -> Policy:
    """Every operator as public provision: status-quo effort and quality."""
    return Policy(
        effort=np.full((n_ops, n_seg), params.status_quo_effort),
        relative=np.ones((n_ops, n_seg)),
        quality=np.full((n_ops, len(EVENT_KINDS)), params.status_quo_quality),
        proper_cost=np.broadcast_to(proper_cost, (n_ops, len(EVENT_KINDS))).copy(),
    )


def run_quarters(world: World, quarters: int, policy: Policy, routing: Routing) -> int:
    """Run the bare kernel step for `quarters` quarters under one fixed policy
    and routing (no payments, no decisions): the benchmark's unit of work.
    Returns the offender-quarter steps taken (live people x quarters)."""
    steps = 0
    for q in range(quarters):
        steps += world.pop.n
        world.step(q, policy, routing)
    return steps


__all__ = [
    "CHUNK", "COMPACT_SHARE", "DISPOSAL_DAYS", "FOLLOW_UP_DAYS", "N_LEVELS", "RISK_BANDS", "SEGMENTS_PER_LEVEL",
    "Entrants", "Policy", "Routing", "Tally", "World", "event_model", "run_quarters", "status_quo_policy",
]
