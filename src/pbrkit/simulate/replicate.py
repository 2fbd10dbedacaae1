"""One replicate: the design world and the status-quo world on the same luck.

`simulate_replicate` is the one entry point the Monte Carlo runner calls. It
draws everything random for the replicate from
`np.random.default_rng(np.random.SeedSequence([seed, replicate]))`: the key
of the common random numbers (`draws`), the first-time entrants, the
procurement bids and the providers' beliefs about efficacy. So the same
(seed, replicate) gives the same numbers in any process, on any machine.

Both worlds run the same step through the contract's term and on until
its last cohort is paid (12 months' follow-up and 6 for the courts). The
design world's providers decide, are paid by `pbrkit.pay` under the design
and can fail, so it is stepped quarter by quarter (`kernel.World`); the
counterfactual's public providers work at the status quo and are paid the
fee-only reference price, so nobody's run depends on anyone else's and it
runs person by person (`status_quo.StatusQuoWorld`). Because an
offence, a court delay or a sentence is the same draw in both worlds
wherever the worlds agree, reoffences avoided is a paired difference.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from pbrkit.contracts.schema import Design
from pbrkit.pay import statement
from pbrkit.pay.engine import payable_quarters
from pbrkit.pay.quarters import last_day, maturity_quarter, quarter_index, quarter_label, quarter_of
from pbrkit.simulate import draws
from pbrkit.simulate.arrivals import draw_entrants
from pbrkit.simulate.behaviour import decide, status_quo_event_cost
from pbrkit.simulate.cohorts import CohortSums, cohort_measure, counted, person_order, pooled
from pbrkit.simulate.kernel import RISK_BANDS, Routing, Tally, World, status_quo_policy
from pbrkit.simulate.logbook import EVENT_DTYPES
from pbrkit.simulate.market import PRIME, SUBCONTRACTOR, Market, reference_design
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.payments import SERVICE_FIELDS, PaymentBook, statement_date
from pbrkit.simulate.record import METRICS, ReplicateResult
from pbrkit.simulate.spells import TIER_HIGH
from pbrkit.simulate.status_quo import StatusQuoWorld
from pbrkit.simulate.world import (
    AREA_IDS,
    N_AREAS,
    NPS,
    POLR,
    PROVIDERS,
    StartingWorld,
    cell_levels,
    quarter_start_day,
)

TRANSFER_REASONS = ("provider_failure",)


class Outcomes:
    """Pooled proven reoffending of the contract term's cohorts of low and
    medium risk episodes (the CRC caseload, whoever supervised it)."""

    def __init__(self):
        self.offenders = self.reoffenders = self.reoffences = 0

    def add(self, episodes: dict[str, np.ndarray], reoffences: np.ndarray, by_person: np.ndarray) -> None:
        """A matured cohort, with its rows' `person_order`."""
        offenders, reoffenders, n = pooled(by_person, episodes["tier"] != TIER_HIGH, episodes["pid"], reoffences)
        self.offenders += offenders
        self.reoffenders += reoffenders
        self.reoffences += n

    @property
    def binary_rate(self) -> float:
        return self.reoffenders / self.offenders if self.offenders else float("nan")

    @property
    def frequency(self) -> float:
        return self.reoffences / self.reoffenders if self.reoffenders else float("nan")


class Run:
    """One world through the term and its tail, with its payments."""

    def __init__(self, world: StartingWorld, design: Design, params: ModelParams, key: np.uint64, entrants,
                 n_quarters: int, term: int, market: Market | None, keep: bool):
        self.world, self.params, self.market = world, params, market
        self.n_quarters, self.term = n_quarters, term
        # Offences after the last paid cohort's follow-up change nothing the run reports.
        last_day_of_term = last_day(world.start_quarter + term - 1)
        self.horizon = quarter_of(last_day_of_term + dt.timedelta(days=364)) - world.start_quarter
        self.post_term_id: int | None = None
        self.counterfactual = market is None
        n_ops = market.n_ops if market else len(PROVIDERS)
        segment = design.outcomes.binary.segment if design.outcomes and design.outcomes.binary else None
        ref = reference_design()
        if self.counterfactual and not keep and not ref.service_levels:  # nothing pays on offences or events
            self.sim = StatusQuoWorld(world, params, key, entrants, n_quarters, n_ops, segment, term, self.horizon)
        else:
            self.sim = World(world, params, key, entrants, n_quarters, n_ops, segment, keep=keep)
        if market is not None:
            # The contract covers episodes that start in its term: cases already
            # supervised at the start finish with public provision.
            pop = self.sim.pop
            pop.ep_operator[(pop.ep_operator >= 0) & (pop.ep_operator < N_AREAS)] = POLR
        self.sq_cost = status_quo_event_cost(params)
        self.sq_policy = status_quo_policy(n_ops, self.sim.n_seg, params, self.sq_cost)
        if self.counterfactual:
            self.contracts = {a: ref.for_provider(PROVIDERS[a]) for a in range(N_AREAS)}
            self.polr = None
        else:
            self.contracts = dict(enumerate(market.contracts))
            self.polr = market.polr_contract
        every = list(self.contracts.values()) + ([self.polr] if self.polr else [])
        self.book = PaymentBook(world, every, PROVIDERS)
        self.payable = {a: payable_set(c, world, n_quarters) for a, c in self.contracts.items()}
        self.polr_payable = payable_set(self.polr, world, n_quarters) if self.polr else set()
        self.ref_weights = np.array([float(ref.fee.sentence_weights.get(s, 1)) for s in
                                     ("custody_short", "custody_long", "community_order", "suspended_sentence")])
        self.ref_price = float(ref.fee.per_episode)
        # results
        self.outcomes = Outcomes()
        #: (contract id, quarter label) -> statement total in pence, as paid in the run
        self.statements: dict[tuple[str, str], int] = {}
        #: Seconds spent in each part of the run (for benchmarks).
        self.seconds = {"decisions": 0.0, "kernel": 0.0, "measures": 0.0, "statements": 0.0, "books": 0.0}
        self.paid = 0.0  # to the contracted providers
        self.public_overflow = 0.0  # low/medium cases the NPS took instead, at the reference price
        self.intensity = np.zeros((RISK_BANDS, 2))
        self.exposure = np.zeros((RISK_BANDS, 2))
        self.events = np.zeros(3)  # due, on time, done properly
        self.episodes = 0.0

    def routing(self, q: int) -> Routing:
        if self.market is not None:
            return self.market.routing(q)
        return Routing(contract_share=1.0, area_operator=np.arange(N_AREAS),
                       area_provider=np.arange(N_AREAS, dtype=np.int16),
                       subcontractors=np.zeros((N_AREAS, 0), dtype=np.int64), subcontract_share=0.0,
                       paid_cohort=q < self.term)

    def policy(self, q: int):
        m = self.market
        if m is None or self.params.behaviour != "optimise":
            return self.sq_policy
        sim = self.sim
        rows = sim.supervised(float(sim.qdays[q]))
        supervised = np.bincount(sim.pop.ep_operator[rows], minlength=m.n_ops).astype(float)
        valuation = m.valuation(q, supervised)
        policy, mu, _ = decide(sim, q, rows, valuation, self.params, self.sq_cost)
        m.mu = mu
        return policy

    def run(self) -> None:
        for q in range(self.n_quarters):
            self.quarter(q)

    def quarter(self, q: int) -> None:
        sim, world, params, market = self.sim, self.world, self.params, self.market
        qa = world.start_quarter + q
        clock = time.perf_counter()
        policy = self.policy(q)
        clock = self._lap("decisions", clock)
        log = sim.log
        if q == self.term:
            self.post_term_id = log.next_id
        if q in (self.term, self.term + 2):
            sim.trim(float(sim.qdays[q]), world.history.size, self.post_term_id)
        if q <= self.horizon:
            tally = sim.step(q, policy, self.routing(q), admit=q < self.term)
        else:
            tally = Tally(sim.n_ops, sim.n_seg)
            log.close_quarter(q)
        clock = self._lap("kernel", clock)
        ep = log.episodes[q]
        self.book.add_episodes(ep)
        events = self._events_due(q, qa)
        as_of = statement_date(qa, params.statement_lag_days)
        self.book.close_quarter(qa, events, log.transferred(events["episode"]), as_of)
        in_term = q < self.term
        if in_term:
            self._tally(q, tally, policy, ep)
        if market is not None:
            market.observe_cohort(q, *self._cohort_view(ep))
        # Cohorts maturing this quarter: measured once, paid now.
        for c in range(max(0, q - 8), q + 1):
            if maturity_quarter(world.start_quarter + c) != qa or c not in log.episodes:
                continue

            ep_c = log.episodes[c]
            reoffences = log.reoffences(ep_c["id"])
            by_person = person_order(ep_c["pid"], ep_c["start"], ep_c["id"])
            rows = cohort_measure(ep_c, reoffences, world.cell_p, world.cell_mu, world.model.phi_,
                                  quarter_label(world.start_quarter + c), PROVIDERS, self.book.segments, by_person)
            self.book.add_cohort(rows)
            if market is not None:
                market.observe_result(c, rows[None])
            if c < self.term:
                self.outcomes.add(ep_c, reoffences, by_person)
            log.forget(c)
        clock = self._lap("measures", clock)
        # Statements.
        inputs = self.book.inputs(as_of)
        label = quarter_label(qa)
        statements = {}
        for a, contract in self.contracts.items():
            if qa in self.payable[a] and (market is None or market.alive[a]):
                statements[a] = statement(contract, None, label, as_of, inputs=inputs)
                self.paid += statements[a].total / 100.0
                self.statements[(contract.id, label)] = statements[a].total
        polr = None
        if qa in self.polr_payable:
            polr = statement(self.polr, None, label, as_of, inputs=inputs)
            self.statements[(self.polr.id, label)] = polr.total
        clock = self._lap("statements", clock)
        if market is not None:
            failed = market.settle(q, tally, policy.effort, policy.relative, statements, polr)
            self._fail(q, failed)
        self._lap("books", clock)

    def _events_due(self, q: int, qa: int) -> dict[str, np.ndarray]:
        """The service events due in quarter qa (each logged in this quarter or
        the one before): all that the quarter's service levels count, and none
        when no contract has a service level."""
        log = self.sim.log
        fields = ("episode", *SERVICE_FIELDS)
        if not self.book.rules:
            return {f: np.zeros(0, dtype=EVENT_DTYPES[f]) for f in fields}
        first, after = quarter_start_day(qa), quarter_start_day(qa + 1)
        parts = []
        for k in (q - 1, q):
            if k in log.events:
                day = log.events[k]["due"]
                due = np.flatnonzero((day >= first) & (day < after))
                parts.append({f: log.events[k][f][due] for f in fields})
        events = {f: np.concatenate([p[f] for p in parts]) for f in fields}
        events["due_quarter"] = np.full(events["due"].size, qa)
        return events

    def _lap(self, part: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[part] += now - since
        return now

    def _tally(self, q: int, tally, policy, ep) -> None:
        """Term quarters: the contracted operators' effort, service events and volumes."""
        if self.market is None:
            contracted = np.arange(N_AREAS)
        else:
            contracted = np.flatnonzero(self.market.kind != "public")
        expo = tally.exposure[contracted].reshape(contracted.size, -1, RISK_BANDS, 2)
        spend = expo * policy.effort[contracted].reshape(contracted.size, -1, RISK_BANDS, 2)
        self.exposure += expo.sum(axis=(0, 1))
        self.intensity += spend.sum(axis=(0, 1))
        self.events += [tally.events[contracted].sum(), tally.on_time[contracted].sum(), tally.proper[contracted].sum()]
        self.episodes += tally.episodes[contracted].sum()
        if self.market is not None:
            overflow = (ep["provider"] == NPS) & (ep["tier"] != TIER_HIGH)
            self.public_overflow += self.ref_price * float(self.ref_weights[ep["sentence"][overflow]].sum())

    def _cohort_view(self, ep):
        """The quarter's cohort per provider as a bidder's planning figures."""
        n_prov = len(PROVIDERS)
        rows = counted(ep["provider"], ep["pid"], ep["start"], ep["id"])
        slot = ep["provider"][rows].astype(np.int64)
        cell = ep["cell"][rows]
        s = CohortSums.of(slot, n_prov, np.zeros(rows.size), self.world.cell_p[cell], self.world.cell_mu[cell])
        counts = np.stack([s.offenders, s.sum_p, s.sum_pq, s.sum_mu], axis=1).astype(float)
        levels = None
        if self.sim.segment is not None:
            lv = cell_levels(cell)[self.sim.segment]
            n_lv = self.sim.n_levels
            levels = np.bincount(slot * n_lv + lv, minlength=n_prov * n_lv).reshape(n_prov, n_lv).astype(float)
        episodes = np.bincount(ep["provider"].astype(np.int64), minlength=n_prov)
        return counts, levels, episodes

    def _fail(self, q: int, failed: list[int]) -> None:
        """Cases of a failed prime (and its subcontractors) pass to the provider of
        last resort; a failed subcontractor's cases go back to its prime."""
        market, pop, log = self.market, self.sim.pop, self.sim.log
        day = int(self.sim.qdays[q + 1])
        for o in failed:
            if market.kind[o] == PRIME:
                ops = [o, *market.subs[o]] if market.n_sub else [o]
                rows = np.flatnonzero(np.isin(pop.ep_operator, ops) & (pop.ep_id >= 0) & (pop.ep_until > day))
                log.add_transfers(pop.ep_id[rows], day, POLR, 0)
                self.book.transfer(pop.ep_provider[rows].astype(np.int64), pop.ep_start[rows].astype(np.int64), day)
                pop.ep_operator[np.isin(pop.ep_operator, ops)] = POLR
            elif market.kind[o] == SUBCONTRACTOR and market.alive[market.prime[o]]:
                pop.ep_operator[pop.ep_operator == o] = market.prime[o]


def payable_set(contract, world: StartingWorld, n_quarters: int) -> set[int]:
    """Quarters with something to pay (`pbrkit.pay.payable_quarters`), less the
    quarters after the term of a contract that pays nothing for results (its
    statements there are empty)."""
    through = quarter_label(world.start_quarter + n_quarters - 1)
    quarters = {quarter_index(x) for x in payable_quarters(contract, through)}
    if not (contract.outcomes or contract.at_risk or contract.renewal):
        end = quarter_index(contract.start) + 4 * contract.years - 1
        quarters = {q for q in quarters if q <= end}
    return quarters


def _horizon(design: Design, world: StartingWorld) -> tuple[int, int]:
    """(term quarters simulated, quarters simulated in all: the term and until its last cohort is paid)."""
    if design.start != world.start:
        raise ValueError(f"the design starts in {design.start} but the world was built for {world.start}; "
                         f"build the starting world with start={design.start!r}")
    term = 4 * min(design.years, world.years)
    last = world.start_quarter + term - 1
    return term, maturity_quarter(last) - world.start_quarter + 1


def simulate_replicate(design: Design, params: ModelParams, *, world: StartingWorld, scenario: str = "base",
                       replicate: int = 0, seed: int = 1, keep_world: bool = False) -> ReplicateResult:
    """Simulate one replicate of the national market under `design`.

    `params` are the model parameters with the scenario's overrides already
    applied (`apply_overrides`); `scenario` is recorded, not applied.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, replicate]))
    key = draws.replicate_key(rng)
    term, n_quarters = _horizon(design, world)
    entrants = draw_entrants(rng, world, n_quarters)
    market = Market(world, design, params, rng, n_quarters, term)
    run = Run(world, design, params, key, entrants, n_quarters, term, market, keep_world)
    run.run()
    cf = Run(world, design, params, key, entrants, n_quarters, term, None, False)
    cf.run()
    metrics = _metrics(run, cf, market, world, term)
    providers = {}
    for o in np.flatnonzero(market.kind != "public"):
        income, costs = float(market.income[o]), float(market.spent[o])
        providers[market.names[o]] = {
            "income": income, "costs": costs,
            "margin": (income - costs) / income if income > 0 else float("nan"),
            "failed_quarter": int(market.failed_quarter[o]), "kind": str(market.kind[o]),
            "bid": float(market.bid[market.prime[o]]),
        }
    record = _record(run, world) if keep_world else None
    return ReplicateResult(design=design.name, scenario=scenario, replicate=replicate, seed=seed,
                           metrics=metrics, providers=providers, world=record)


def _record(run: Run, world: StartingWorld):
    from pbrkit.simulate.params import EVENT_KINDS

    return run.sim.log.record(world.history, PROVIDERS, AREA_IDS, EVENT_KINDS, TRANSFER_REASONS)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _metrics(run: Run, cf: Run, market: Market, world: StartingWorld, term: int) -> dict[str, float]:
    avoided = cf.outcomes.reoffences - run.outcomes.reoffences
    cost = run.paid + market.public_payments + run.public_overflow + market.reprocurement
    cf_cost = cf.paid
    contracted = market.kind != "public"
    margins = [(market.income[o] - market.spent[o]) / market.income[o]
               for o in np.flatnonzero(contracted) if market.income[o] > 0]
    failed = (market.failed_quarter >= 0) & contracted
    subs = market.kind == SUBCONTRACTOR
    intensity = _ratio(run.intensity.sum(), run.exposure.sum())
    by_band = run.intensity.sum(axis=1) / np.maximum(run.exposure.sum(axis=1), 1e-12)
    by_state = run.intensity.sum(axis=0) / np.maximum(run.exposure.sum(axis=0), 1e-12)
    m = {
        "reoffences_avoided": float(avoided),
        "reoffenders_avoided": float(cf.outcomes.reoffenders - run.outcomes.reoffenders),
        "commissioner_cost": cost,
        "counterfactual_cost": cf_cost,
        "cost_per_reoffence_avoided": (cost - cf_cost) / avoided if avoided > 0 else float("nan"),
        "provider_margin_mean": float(np.mean(margins)) if margins else float("nan"),
        "provider_margin_p05": float(np.percentile(margins, 5)) if margins else float("nan"),
        "provider_failures": float(failed.sum()),
        "provider_failure_any": float(failed.any()),
        "subcontractor_failures": float((failed & subs).sum()),
        "parking_index": _ratio(by_band[-1], by_band[0]) if run.exposure[-1].sum() and run.exposure[0].sum()
        else float("nan"),
        "post_reoffence_effort_ratio": _ratio(by_state[1], by_state[0]) if run.exposure[:, 1].sum() else float("nan"),
        "sl_reported_compliance": _ratio(run.events[1], run.events[0]),
        "sl_true_quality": _ratio(run.events[2], run.events[0]),
        "frequency_per_reoffender": run.outcomes.frequency,
        "binary_rate": run.outcomes.binary_rate,
        "counterfactual_binary_rate": cf.outcomes.binary_rate,
        "counterfactual_frequency_per_reoffender": cf.outcomes.frequency,
        "episodes": float(run.episodes),
        "forecast_episodes": float(world.forecast_episodes[:N_AREAS].sum() * term),
        "mean_intensity": intensity,
        "counterfactual_episodes": float(cf.episodes),
    }
    return {k: float(m[k]) for k in METRICS}


__all__ = ["simulate_replicate"]
