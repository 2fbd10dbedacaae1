"""The quarter step: offending, courts, sentences, new episodes, service events.

One `World` is one run of the national market (the design world, or the
status-quo counterfactual). Each quarter, for every live person at once:

1. spells due to start (releases from custody, new community sentences,
   first-time entrants) start: the new spell's index offence, risk of harm,
   OGRS3 score and offending rate are drawn (`spells`), and a supervised
   spell opens an episode with the provider the allocation rule gives, and
   its service events, done properly or filed empty as that provider decided;
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

The providers' decisions for the quarter come in as a `Policy` (tables by
operator and segment) and the allocation as a `Routing`; the step knows no
contract. `run_quarters` runs the bare step for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from pbrkit.simulate import draws
from pbrkit.simulate.logbook import Logbook
from pbrkit.simulate.params import EVENT_KINDS, ModelParams
from pbrkit.simulate.population import AT_LIBERTY, FIELDS, INF, RING, WAITING, Population
from pbrkit.simulate.spells import (
    SYNTH,
    TIER_HIGH,
    disposal_delay,
    new_sentence,
    sentence_probability,
    served_days,
    spell_traits,
)
from pbrkit.simulate.world import NPS, N_AREAS, StartingWorld, case_mix_cell, cell_levels, day_number

DAYS_PER_YEAR = 365.25
#: Risk quintiles x the reoffended state: segments per payment level.
RISK_BANDS = 5
SEGMENTS_PER_LEVEL = 2 * RISK_BANDS
_ORA_DAY = day_number(SYNTH.ora_date)
_CUSTODY = (0, 1)
_PLAN_DAYS_BEFORE = 7
#: Offences drawn per person per pass of the offending loop.
CHUNK = 4
#: Share of rows that must have left before the population is compacted.
COMPACT_SHARE = 0.3
FOLLOW_UP_DAYS = 365  # an offence counts 0..364 days after the start
DISPOSAL_DAYS = 547  # ... if disposed of at most this long after it


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
        self.key = key
        self.n_quarters = n_quarters
        self.n_ops = n_ops
        self.segment = segment
        self.n_levels = {None: 1, "prior_band": 6, "risk_tier": 3, "sentence": 4}[segment]
        self.n_seg = self.n_levels * SEGMENTS_PER_LEVEL
        from pbrkit.simulate.world import quarter_start_day

        self.qdays = np.array([quarter_start_day(start.start_quarter + q) for q in range(n_quarters + 1)])
        self.log = Logbook(start.history.size, start.start_day - 1000, keep)
        self.entrants = entrants
        self._next_entrant = 0
        self.sq_quality = params.status_quo_quality
        self.effect = np.asarray(params.service_effect)
        self.pop = self._initial_population()
        self.tally = Tally(n_ops, self.n_seg)

    # --- set-up ------------------------------------------------------------------
    def level_of(self, cell: np.ndarray) -> np.ndarray:
        if self.segment is None:
            return np.zeros(cell.size, dtype=np.int64)
        return cell_levels(cell)[self.segment]

    def risk_band(self, risk_rate: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.start.risk_cuts, risk_rate, side="right").astype(np.int8)

    def _initial_population(self) -> Population:
        p = self.start.people
        cols = {k: v for k, v in p.items() if k in FIELDS}
        pop = Population(int(1.3 * p["pid"].size) + 1024, **cols)
        has = pop.ep_id >= 0
        pop.ep_operator[:] = np.where(has, pop.ep_provider, -1)
        cell = case_mix_cell(p["female"], p["ep_age"], p["ep_sentence_code"], p["ep_tier"], p["ep_prior"])
        rq = self.risk_band(p["ep_risk_rate"])
        pop.ep_segment[:] = self.level_of(cell) * RISK_BANDS + rq
        pop.hazard[:] = draws.exponential(self.key, pop.pid, 0, draws.GAP)
        pop.rate_day[:] = np.where(pop.phase == AT_LIBERTY, pop.sp_rate / DAYS_PER_YEAR, 0.0)
        pop.sp_sentencing[:] = sentence_probability(SYNTH, pop.sp_prior)
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
        due = np.flatnonzero((pop.phase == WAITING) & (pop.next_start < q1))
        self._start_spells(due, q0, q1, policy, routing)
        self._offend_all(q0, q1, policy)
        while True:
            ended = np.flatnonzero(pop.stop < q1)
            if ended.size == 0:
                break
            self._end_spells(ended)
            again = ended[pop.next_start[ended] < q1]
            if again.size:
                self._start_spells(again, q0, q1, policy, routing)
                self._offend(again, q0, q1, policy)
        self._account(np.flatnonzero((pop.ep_id >= 0) & (pop.ep_until > q0)), q0, q1)
        self.log.close_quarter(q)
        self._compact(q1)
        return self.tally

    def trim(self, day: float, first_id: int, end_id: int) -> None:
        """Keep only people who can still add a reoffence to a paid cohort: those
        with an episode numbered in [first_id, end_id) started within a year of `day`."""
        pop = self.pop
        keep = np.zeros(pop.n, dtype=bool)
        for ids, starts in [(pop.ep_id, pop.ep_start)] + [
                (getattr(pop, f"prev{i}_id"), getattr(pop, f"prev{i}_start")) for i in range(RING)]:
            keep |= (ids >= first_id) & (ids < end_id) & (starts > day - FOLLOW_UP_DAYS)
        if self.log.overflow_pid.size:
            live = (self.log.overflow_id >= first_id) & (self.log.overflow_id < end_id) & (
                self.log.overflow_start > day - FOLLOW_UP_DAYS)
            keep |= pop.overflow & np.isin(pop.pid, self.log.overflow_pid[live])
        pop.compact(keep)

    def _start_spells(self, idx: np.ndarray, q0: float, q1: float, policy: Policy, routing: Routing) -> None:
        if idx.size == 0:
            return
        pop, key = self.pop, self.key
        old = idx[pop.ep_id[idx] >= 0]
        if old.size:
            self._account(old, q0, q1)
            # The old episode's follow-up may still be running: keep it for counting,
            # in the ring slot after the last written (which holds the oldest).
            slot = (pop.ring_head[old] + 1) % RING
            pop.ring_head[old] = slot
            for i in range(RING):
                rows = old[slot == i]
                if rows.size == 0:
                    continue
                ids, starts = getattr(pop, f"prev{i}_id"), getattr(pop, f"prev{i}_start")
                late = rows[(ids[rows] >= 0) & (starts[rows] > np.floor(pop.next_start[rows]) - FOLLOW_UP_DAYS)]
                if late.size:
                    self.log.overflow(pop.pid[late], ids[late].astype(np.int64), starts[late].astype(np.int64))
                    pop.overflow[late] = True
                ids[rows] = pop.ep_id[rows]
                starts[rows] = pop.ep_start[rows]
            pop.ep_id[old] = -1
            pop.ep_until[old] = -INF
        s = pop.next_start[idx]
        sentence = pop.next_sentence[idx]
        prior = pop.next_prior[idx]
        pid = pop.pid[idx]
        j = pop.sp_no[idx] + 1
        age = pop.entry_age[idx] + (s - pop.entry_day[idx]) / DAYS_PER_YEAR
        traits = spell_traits(
            SYNTH, age=age, female=pop.female[idx], prior=prior, first_age=pop.first_age[idx],
            harm=pop.harm[idx], frailty=pop.frailty[idx], sentence=sentence, start=s, ora_day=_ORA_DAY,
            u_offence=draws.uniform(key, pid, j, draws.OFFENCE_TYPE),
            u_high=draws.uniform(key, pid, j, draws.HIGH_RISK),
            u_one_off=draws.uniform(key, pid, j, draws.ONE_OFF),
        )
        pop.phase[idx] = AT_LIBERTY
        pop.sp_no[idx] = j
        pop.sp_start[idx] = s
        pop.sp_prior[idx] = prior
        pop.sp_rate[idx] = traits.rate
        pop.rate_day[idx] = traits.rate / DAYS_PER_YEAR
        pop.sp_sentencing[idx] = sentence_probability(SYNTH, prior)
        pop.sp_count[idx] = 0
        pop.stop[idx] = INF
        pop.next_start[idx] = INF
        sup = np.flatnonzero(traits.supervised)
        if sup.size:
            self._open_episodes(idx[sup], s[sup], sentence[sup], prior[sup], age[sup], traits.tier[sup],
                                traits.risk_rate[sup], pid[sup], j[sup], q0, policy, routing)

    def _open_episodes(self, idx, s, sentence, prior, age, tier, risk_rate, pid, j, q0, policy, routing) -> None:
        pop, key, params = self.pop, self.key, self.params
        n = idx.size
        area = pop.area[idx].astype(np.int64)
        contracted = (tier != TIER_HIGH) & (draws.uniform(key, pid, j, draws.ALLOCATION) < routing.contract_share)
        operator = np.where(contracted, routing.area_operator[area], NPS).astype(np.int64)
        provider = np.where(contracted, routing.area_provider[area], NPS).astype(np.int16)
        n_sub = routing.subcontractors.shape[1]
        if routing.subcontract_share > 0 and n_sub:
            u = draws.uniform(key, pid, j, draws.SUBCONTRACT)
            take = contracted & (operator < N_AREAS) & (u < routing.subcontract_share)
            which = np.minimum((u / routing.subcontract_share * n_sub).astype(np.int64), n_sub - 1)
            sub = routing.subcontractors[area, which]
            operator = np.where(take & (sub >= 0), sub, operator)
        start = np.floor(s).astype(np.int64)
        ages = np.clip(np.floor(age), 10, 100).astype(np.int64)
        female = pop.female[idx]
        cell = case_mix_cell(female, ages, sentence.astype(np.int64), tier.astype(np.int64), prior)
        rq = self.risk_band(risk_rate)
        ids = self.log.new_ids(n)
        same_day = pop.last_day[idx] == start
        if same_day.any():
            self.log.count(np.repeat(ids[same_day], pop.last_day_n[idx][same_day]))
        service = self._open_events(ids, pid, j, start, sentence, operator, provider, int(q0), policy)
        pop.ep_id[idx] = ids
        pop.ep_start[idx] = start
        pop.ep_until[idx] = s + params.supervision_days
        pop.ep_provider[idx] = provider
        pop.ep_operator[idx] = operator
        pop.ep_segment[idx] = self.level_of(cell) * RISK_BANDS + rq
        pop.ep_known[idx] = INF
        pop.ep_service[idx] = service
        pop.ep_term[idx] = routing.paid_cohort
        self.log.add_episodes(
            id=ids, pid=pid, start=start, provider=provider, area=area, sentence=sentence, tier=tier, age=ages,
            female=female, prior=prior, cell=cell, operator=operator, rq=rq, term=np.full(n, routing.paid_cohort),
        )
        self.tally.episodes += np.bincount(operator, minlength=self.n_ops)

    def _open_events(self, ids, pid, j, start, sentence, operator, provider, q0: int, policy: Policy) -> np.ndarray:
        """The service events of new episodes; returns each episode's offending multiplier from them."""
        params, key, tally = self.params, self.key, self.tally
        service = np.ones(ids.size)
        custody = (sentence == _CUSTODY[0]) | (sentence == _CUSTODY[1])
        p_late = 1.0 / params.late_mean_days
        for k in range(len(EVENT_KINDS)):
            sel = np.flatnonzero(custody) if k < 2 else np.arange(ids.size)
            if sel.size == 0:
                continue
            if k == 0:
                due = start[sel]
            elif k == 1:  # the plan falls due the week before release (within the quarter)
                due = np.maximum(start[sel] - _PLAN_DAYS_BEFORE, q0)
            else:
                due = start[sel] + SYNTH.induction_due_days
            op, pi, jj = operator[sel], pid[sel], j[sel]
            proper = draws.uniform(key, pi, jj, draws.EVENT_PROPER + k) < policy.quality[op, k]
            never = proper & (draws.uniform(key, pi, jj, draws.EVENT_NOT_DONE + k) < params.not_done_share)
            late = proper & (draws.uniform(key, pi, jj, draws.EVENT_LATE + k) > params.proper_on_time_share)
            days = 1 + np.ceil(np.log(draws.uniform(key, pi, jj, draws.EVENT_LATE_DAYS + k)) / np.log1p(-p_late))
            done = np.where(never, -1, due + np.where(late, days, 0)).astype(np.int64)
            audited = (done >= 0) & (draws.uniform(key, pi, jj, draws.EVENT_AUDIT + k) < params.audit_rate)
            complete = np.where(audited, proper.astype(np.int8), -1).astype(np.int8)
            eff = self.effect[k]
            if eff:
                service[sel] *= np.where(proper, 1.0 - eff, 1.0) / (1.0 - eff * self.sq_quality)
            cost = np.where(proper, policy.proper_cost[op, k], params.empty_cost)
            tally.event_cost += np.bincount(op, weights=cost, minlength=self.n_ops)
            tally.events[:, k] += np.bincount(op, minlength=self.n_ops)
            tally.on_time[:, k] += np.bincount(op, weights=((done >= 0) & (done <= due)).astype(float),
                                               minlength=self.n_ops)
            tally.proper[:, k] += np.bincount(op, weights=(proper & (done >= 0)).astype(float), minlength=self.n_ops)
            self.log.add_events(episode=ids[sel], kind=np.full(sel.size, k, dtype=np.int8), due=due, done=done,
                                complete=complete, proper=proper, operator=op, provider=provider[sel])
        return service

    def _multiplier(self, idx: np.ndarray, a: np.ndarray, cap: np.ndarray, q0: float, policy: Policy) -> np.ndarray:
        """Offending relative to the status quo over [a, cap) for supervised people:
        the provider's effect while supervision lasts, 1 after."""
        pop = self.pop
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.clip((np.minimum(cap, pop.ep_until[idx]) - a) / (cap - a), 0.0, 1.0)
        seg = pop.ep_segment[idx] * 2 + (pop.ep_known[idx] <= q0)
        r = policy.relative[pop.ep_operator[idx], seg] * pop.ep_service[idx]
        return 1.0 + f * (r - 1.0)

    def _offend_all(self, q0: float, q1: float, policy: Policy) -> None:
        """Everyone at liberty, from their spell's start (or q0) to q1.

        Most people do not offend in a quarter, so this pass only compares each
        person's hazard left with the hazard the quarter offers (no random
        numbers), on whole columns; those who offend go on to `_offences`."""
        pop = self.pop
        a = np.maximum(pop.sp_start, q0)
        span = np.minimum(pop.stop, pop.desist)
        np.minimum(span, q1, out=span)
        cap = span.copy()
        span -= a
        np.maximum(span, 0.0, out=span)
        budget = pop.rate_day * span
        sup = np.flatnonzero((pop.ep_id >= 0) & (pop.ep_until > q0) & (budget > 0))
        rho = pop.rate_day.copy()
        if sup.size:
            m = self._multiplier(sup, a[sup], cap[sup], q0, policy)
            rho[sup] *= m
            budget[sup] *= m
        hazard = pop.hazard
        busy = np.flatnonzero(hazard < budget)
        np.subtract(hazard, budget, out=hazard, where=hazard >= budget)
        self._offences(busy, a[busy], cap[busy], rho[busy], hazard[busy])

    def _offend(self, idx: np.ndarray, q0: float, q1: float, policy: Policy) -> None:
        """`_offend_all` for a few people (spells started within the quarter)."""
        if idx.size == 0:
            return
        pop = self.pop
        a = np.maximum(q0, pop.sp_start[idx])
        cap = np.minimum(np.minimum(pop.stop[idx], pop.desist[idx]), q1)
        live = cap > a
        idx, a, cap = idx[live], a[live], cap[live]
        rho = pop.rate_day[idx] * np.where(pop.ep_id[idx] >= 0, self._multiplier(idx, a, cap, q0, policy), 1.0)
        budget = rho * (cap - a)
        hazard = pop.hazard[idx]
        quiet = hazard >= budget
        pop.hazard[idx[quiet]] = hazard[quiet] - budget[quiet]
        busy = ~quiet
        self._offences(idx[busy], a[busy], cap[busy], rho[busy], hazard[busy])

    def _offences(self, idx, t, cap, rho, first_gap) -> None:
        """The offences of people known to offend before `cap`, in time order.

        The k-th offence of a person comes when their clock has used up the
        k-th exponential amount of hazard (addressed by person and k), so the
        same person at the same rate offends on the same days in both worlds.
        The first round takes one offence each (its time is already known);
        later rounds take CHUNK, then twice as many, at a time for the few who
        offend often."""
        pop, key, log = self.pop, self.key, self.log
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if idx.size == 0:
            return
        # Round one: each person's next offence, whose time is known (t + gap / rate).
        k = pop.n_off[idx]
        pid = pop.pid[idx]
        when = t + first_gap / rho
        u_delay, u_sentence = draws.uniform_pair(key, pid, k, draws.COURT)
        disposal = when + disposal_delay(SYNTH, ndtri(u_delay))
        sentencing = pop.sp_sentencing[idx]
        stop = pop.stop[idx]
        stop = np.where(u_sentence < sentencing, np.minimum(stop, disposal), stop)
        pop.stop[idx] = stop
        day = np.floor(when).astype(np.int64)
        dday = np.floor(disposal).astype(np.int64)
        log.add_offences(pid, day, dday)
        self.tally.offences += idx.size
        found.append((idx, day, dday))
        ok = (dday - day) <= DISPOSAL_DAYS
        same = pop.last_day[idx] == day
        pop.last_day_n[idx] = np.where(same, pop.last_day_n[idx] + ok, ok)
        pop.last_day[idx] = day
        pop.n_off[idx] = k + 1
        pop.sp_count[idx] += 1
        t, cap = when, np.minimum(cap, stop)
        gap0 = draws.exponential(key, pid, k + 1, draws.GAP)
        # Whoever offends again before the cap goes on, CHUNK offences at a time.
        again = t + gap0 / rho < cap
        quiet = np.flatnonzero(~again)
        pop.hazard[idx[quiet]] = gap0[quiet] - rho[quiet] * (cap[quiet] - t[quiet])
        go = np.flatnonzero(again)
        idx, t, cap, rho, gap0 = idx[go], t[go], cap[go], rho[go], gap0[go]
        pid, sentencing = pid[go], sentencing[go]
        width = CHUNK
        while idx.size:
            k = pop.n_off[idx]
            m = idx.size
            steps = np.arange(width)
            kk = k[:, None] + steps[None, :]
            gaps = draws.exponential(key, np.broadcast_to(pid[:, None], (m, width - 1)), kk[:, 1:], draws.GAP)
            times = t[:, None] + np.cumsum(np.column_stack([gap0, gaps]), axis=1) / rho[:, None]
            rows_i, cols_i = np.nonzero(times < cap[:, None])
            p_i, k_i = pid[rows_i], kk[rows_i, cols_i]
            when = times[rows_i, cols_i]
            u_delay, u_sentence = draws.uniform_pair(key, p_i, k_i, draws.COURT)
            disposal = when + disposal_delay(SYNTH, ndtri(u_delay))
            sentenced = u_sentence < sentencing[rows_i]
            # A sentence ends the spell on its disposal day: offences after it are void.
            stop = pop.stop[idx]
            np.minimum.at(stop, rows_i[sentenced], disposal[sentenced])
            new_cap = np.minimum(cap, stop)
            keep = when < new_cap[rows_i]
            rows_i, cols_i, when, disposal = rows_i[keep], cols_i[keep], when[keep], disposal[keep]
            day = np.floor(when).astype(np.int64)
            dday = np.floor(disposal).astype(np.int64)
            who = idx[rows_i]
            log.add_offences(pid[rows_i], day, dday)
            self.tally.offences += who.size
            found.append((who, day, dday))
            self._remember_last_day(who, rows_i, day, dday)
            n_kept = np.bincount(rows_i, minlength=m)
            pop.n_off[idx] = k + n_kept
            pop.sp_count[idx] += n_kept
            pop.stop[idx] = stop
            # Whoever used all `width` offences goes round again; the rest keep
            # the hazard left towards their next offence.
            more = n_kept == width
            done = np.flatnonzero(~more)
            last = n_kept[done] - 1
            last_t = np.where(last >= 0, times[done, np.maximum(last, 0)], t[done])
            next_gap = np.where(last >= 0, gaps[done, np.clip(last, 0, width - 2)], gap0[done])
            pop.hazard[idx[done]] = next_gap - rho[done] * (new_cap[done] - last_t)
            sel = np.flatnonzero(more)
            if sel.size == 0:
                break
            t = times[sel, width - 1]
            idx, cap, rho, sentencing = idx[sel], new_cap[sel], rho[sel], sentencing[sel]
            gap0 = draws.exponential(key, pid[sel], k[sel] + width, draws.GAP)
            pid = pid[sel]
            width *= 2
        if found:
            self._count_reoffences(*(np.concatenate(x) for x in zip(*found, strict=True)))

    def _count_reoffences(self, who: np.ndarray, day: np.ndarray, dday: np.ndarray) -> None:
        """Each offence is a proven reoffence of every episode of the person that
        started 0-364 days before it and within 547 days of its disposal: the
        current episode or one of the two before it (rarer cases are counted
        from the log, see `Logbook.overflow`)."""
        pop = self.pop
        hits = []
        slots = [(pop.ep_id, pop.ep_start)] + [
            (getattr(pop, f"prev{i}_id"), getattr(pop, f"prev{i}_start")) for i in range(RING)]
        for ids, starts in slots:
            e, st = ids[who], starts[who]
            since = day - st
            ok = (e >= 0) & (since >= 0) & (since <= FOLLOW_UP_DAYS - 1) & (dday - st <= DISPOSAL_DAYS)
            hits.append(e[ok])
            if ids is pop.ep_id:
                np.minimum.at(pop.ep_known, who[ok], dday[ok].astype(np.float64))
        flagged = pop.overflow[who]
        if flagged.any():
            hits.append(self.log.overflow_hits(pop.pid[who[flagged]], day[flagged], dday[flagged]))
        self.log.count(np.concatenate(hits))

    def _remember_last_day(self, who: np.ndarray, rows: np.ndarray, day: np.ndarray, dday: np.ndarray) -> None:
        """Each person's offences on their latest offence day (an episode that
        starts later that day still counts them: the standard counts whole days).
        `rows` numbers the people of one round, sorted, with their offences in time order."""
        if rows.size == 0:
            return
        pop = self.pop
        last = np.empty(rows.size, dtype=bool)
        last[-1] = True
        last[:-1] = rows[1:] != rows[:-1]
        group = np.concatenate([[0], np.cumsum(last)[:-1]])
        lw, ld = who[last], day[last]
        on_last = (day == ld[group]) & ((dday - day) <= DISPOSAL_DAYS)
        n_ok = np.bincount(group, weights=on_last, minlength=lw.size).astype(np.int32)
        same = pop.last_day[lw] == ld
        pop.last_day_n[lw] = np.where(same, pop.last_day_n[lw] + n_ok, n_ok)
        pop.last_day[lw] = ld

    def _end_spells(self, idx: np.ndarray) -> None:
        """A sentence ends the spell on its disposal day: supervision ends, and
        the next spell waits for release (or starts at once)."""
        pop, key = self.pop, self.key
        stop = pop.stop[idx]
        pop.ep_until[idx] = np.minimum(pop.ep_until[idx], stop)
        prior = pop.sp_prior[idx] + pop.sp_count[idx]
        pid, j = pop.pid[idx], pop.sp_no[idx]
        sentence = new_sentence(SYNTH, prior, draws.uniform(key, pid, j, draws.NEW_SENTENCE))
        served = served_days(SYNTH, sentence, draws.uniform(key, pid, j, draws.SERVED))
        pop.phase[idx] = WAITING
        pop.rate_day[idx] = 0.0
        pop.next_start[idx] = stop + served
        pop.next_sentence[idx] = sentence
        pop.next_prior[idx] = prior
        pop.stop[idx] = INF

    def _account(self, idx: np.ndarray, q0: float, q1: float) -> None:
        """Supervised time in the quarter (person-quarters), by operator and segment."""
        if idx.size == 0:
            return
        pop = self.pop
        days = np.minimum(pop.ep_until[idx], q1) - np.maximum(pop.ep_start[idx], q0)
        ok = days > 0
        idx = idx[ok]
        seg = pop.ep_segment[idx] * 2 + (pop.ep_known[idx] <= q0)
        slot = pop.ep_operator[idx].astype(np.int64) * self.n_seg + seg
        self.tally.exposure += np.bincount(slot, weights=days[ok] / (q1 - q0),
                                           minlength=self.n_ops * self.n_seg).reshape(self.n_ops, self.n_seg)

    def _compact(self, q1: float) -> None:
        pop = self.pop
        gone = ((pop.phase == AT_LIBERTY) & (pop.desist <= q1) & np.isinf(pop.stop)
                & ((pop.ep_id < 0) | (pop.ep_until <= q1)))
        if np.count_nonzero(gone) > COMPACT_SHARE * pop.n:
            pop.compact(~gone)

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


__all__ = ["Entrants", "Policy", "Routing", "Tally", "World", "run_quarters", "status_quo_policy"]
