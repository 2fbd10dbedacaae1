"""The national market: who holds which contract, who delivers, who has cash.

Operators are the organisations that supervise cases: one prime (CRC) per
area holding the area's contract, its subcontractors, the National Probation
Service (high risk of harm, and the low and medium cases the allocation does
not give the CRCs), and a public provider of last resort (which also takes
the areas after the term). Each prime won its contract in a simple auction:
bidders estimate their costs with noise and an optimism bias, the lowest
bid wins and scales the design's fee prices, so the winner is the one that
underestimated most (the winner's curse).

Each quarter the market turns the contracts into the valuations the
providers decide on (`incentives`, `behaviour`), tells the kernel where new
cases go, and settles the books: income from the payment statements
(`pbrkit.pay`), split down supply chains pro rata to the cases each party
supervised; costs from the kernel's tally; reserves; failure when reserves
go below zero, with the cases passed to the provider of last resort and a
re-procurement cost to the commissioner.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import numpy as np
from scipy.special import ndtr

from pbrkit.contracts import design as library_design
from pbrkit.contracts.schema import Contract, Design
from pbrkit.pay.statement import Statement
from pbrkit.simulate.behaviour import Valuation, status_quo_event_cost
from pbrkit.simulate.incentives import CohortView, ContractTerms, expected_payment, marginal_values, service_values
from pbrkit.simulate.kernel import RISK_BANDS, Routing, Tally
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.world import N_AREAS, NPS, POLR, POLR_ID, PROVIDERS, StartingWorld

PRIME, SUBCONTRACTOR, PUBLIC = "prime", "subcontractor", "public"
REFERENCE_DESIGN = "fee-only"
#: Weight on the newest observation when a provider updates its belief about drift.
LEARNING_RATE = 0.5
#: Spread (in met share) of a provider's doubt about missing a service-level target.
TARGET_DOUBT = 0.03
_PENCE = Decimal("0.01")
#: Bids are factors on the design's fee prices within these bounds [U]: a
#: commissioner would not accept fees halved or raised by more than half.
BID_FLOOR, BID_CEILING = 0.5, 1.5


def reference_design() -> Design:
    """The fee-only reference design: public provision's price, the status quo's."""
    return library_design(REFERENCE_DESIGN)


def scaled_fees(design: Design, factor: float) -> Design:
    """The design with every fee price multiplied by a bid factor (whole pence)."""
    if design.fee is None or factor == 1.0:
        return design
    tree = design.model_dump(mode="python")
    fee = tree["fee"]
    f = Decimal(repr(float(factor)))
    for k in ("per_episode", "per_case_month", "fixed_per_quarter"):
        if fee.get(k) is not None:
            fee[k] = (fee[k] * f).quantize(_PENCE)
    if fee.get("forecast") is not None:
        fee["forecast"]["price_per_episode"] = (fee["forecast"]["price_per_episode"] * f).quantize(_PENCE)
    return type(design).model_validate(tree)


def scaled_to_world(design: Design, scale: float) -> Design:
    """The design with its absolute per-provider amounts scaled like the world:
    fixed quarterly fees, forecast volumes given in episodes, foundation
    advances, caps, collars and below-target deductions are sized for a
    national-market CRC; at scale 0.1 a CRC is a tenth the size. Prices per
    episode, case-month, reoffender, reoffence or failure are unchanged."""
    if scale == 1.0:
        return design
    tree = design.model_dump(mode="python")
    f = Decimal(repr(float(scale)))

    def money(table: dict | None, key: str) -> None:
        if table is not None and table.get(key) is not None:
            table[key] = (table[key] * f).quantize(_PENCE)

    fee = tree.get("fee")
    money(fee, "fixed_per_quarter")
    if fee and fee.get("forecast") and fee["forecast"].get("episodes_per_year") is not None:
        fee["forecast"]["episodes_per_year"] = max(1, round(fee["forecast"]["episodes_per_year"] * float(scale)))
    outcomes = tree.get("outcomes")
    money(outcomes, "cap")
    money(outcomes, "collar")
    if outcomes and outcomes.get("foundation"):
        money(outcomes["foundation"], "expected_per_quarter")
    for level in tree.get("service_levels", []):
        money(level, "deduction_below_target")
    return type(design).model_validate(tree)


def reference_fee(world: StartingWorld) -> float:
    """The reference fee per new CRC episode on the forecast sentence mix, pounds."""
    ref = reference_design().fee
    weights = np.array([float(ref.sentence_weights.get(s, 1)) for s in
                        ("custody_short", "custody_long", "community_order", "suspended_sentence")])
    mix = world.forecast_by_sentence[:N_AREAS].sum(axis=0)
    return float(ref.per_episode) * float(weights @ mix / max(mix.sum(), 1.0))


@dataclass
class Costs:
    """Unit costs (pounds), derived so the reference fee covers the status quo
    with the stated margin."""

    case: float  # supervision per person-quarter
    fixed_per_episode: float  # overhead per forecast new episode, per quarter
    sq_event: np.ndarray  # per properly done event under public provision (by kind)
    per_episode_variable: float  # variable cost of a new episode at the status quo

    @classmethod
    def calibrated(cls, world: StartingWorld, params: ModelParams) -> Costs:
        fee = reference_fee(world)
        sq_event = status_quo_event_cost(params)
        q = params.status_quo_quality
        events = float(world.events_per_episode @ (q * sq_event + (1 - q) * params.empty_cost))
        x = world.exposure_per_episode
        case = (fee * (1 - params.status_quo_margin) - params.fixed_cost_per_forecast_episode - events) / x \
            - params.status_quo_effort
        case = max(case, 0.0)
        return cls(case, params.fixed_cost_per_forecast_episode, sq_event,
                   x * (case + params.status_quo_effort) + events)


class Market:
    """Operators, contracts, books and beliefs of one design world."""

    def __init__(self, world: StartingWorld, design: Design, params: ModelParams, rng: np.random.Generator,
                 n_quarters: int, term_quarters: int):
        design = scaled_to_world(design, world.scale)
        self.world, self.design, self.params = world, design, params
        self.n_quarters = n_quarters
        self.term_quarters = term_quarters
        n_sub = params.subcontractors_per_prime if params.subcontract_share > 0 else 0
        self.n_sub = n_sub
        self.n_ops = N_AREAS + 2 + N_AREAS * n_sub
        kinds = [PRIME] * N_AREAS + [PUBLIC, PUBLIC] + [SUBCONTRACTOR] * (N_AREAS * n_sub)
        self.kind = np.array(kinds)
        self.prime = np.concatenate([np.arange(N_AREAS), [-1, -1], np.repeat(np.arange(N_AREAS), n_sub)])
        self.subs = (N_AREAS + 2 + np.arange(N_AREAS * n_sub)).reshape(N_AREAS, n_sub)
        self.names = [*PROVIDERS[:N_AREAS], PROVIDERS[NPS], POLR_ID] + [
            f"{PROVIDERS[a]}/sub{i + 1}" for a in range(N_AREAS) for i in range(n_sub)]
        self.costs = Costs.calibrated(world, params)
        self.ref_fee = reference_fee(world)

        # Procurement: the lowest of `bidders` noisy, optimistic bids wins.
        self.bid = self._auction(rng)
        self.contracts: list[Contract] = [
            scaled_fees(design, float(b)).for_provider(PROVIDERS[a]) for a, b in enumerate(self.bid)]
        self.terms = [ContractTerms.of(c, world.baseline_volumes) for c in self.contracts]
        self.polr_contract = reference_design().for_provider(POLR_ID)
        # The efficacy each operator believes in.
        noise = rng.normal(0.0, params.efficacy_noise_sd, (self.n_ops, RISK_BANDS))
        self.perceived = np.asarray(params.efficacy)[None, :] * np.exp(noise - params.efficacy_noise_sd ** 2 / 2)

        # Sizes: each operator's share of its area's forecast cases.
        share = np.zeros(self.n_ops)
        share[:N_AREAS] = 1 - params.subcontract_share if n_sub else 1.0
        if n_sub:
            share[self.subs.ravel()] = params.subcontract_share / n_sub
        self.case_share = share
        forecast = np.zeros(self.n_ops)
        area_of = np.where(self.prime >= 0, self.prime, 0)
        forecast[self.prime >= 0] = world.forecast_episodes[area_of[self.prime >= 0]] * share[self.prime >= 0]
        self.forecast = forecast  # new episodes a quarter each operator priced on
        cost_factor = np.where(self.kind == SUBCONTRACTOR, params.subcontractor_cost_factor, 1.0)
        self.cost_factor = cost_factor
        self.fixed = self.costs.fixed_per_episode * forecast * cost_factor
        income_ref = forecast * self.ref_fee
        self.reserves = np.where(self.kind == PRIME, params.prime_reserves_quarters,
                                 params.subcontractor_reserves_quarters) * income_ref
        self.reserves[self.kind == PUBLIC] = 0.0
        self.alive = self.kind != PUBLIC
        self.failed_quarter = np.full(self.n_ops, -1)
        self.income = np.zeros(self.n_ops)
        self.spent = np.zeros(self.n_ops)
        self.income_hat = income_ref * np.where(self.kind == SUBCONTRACTOR, 1 - params.management_fee, 1.0)
        self.reprocurement = 0.0
        self.public_payments = 0.0  # to the provider of last resort
        # Beliefs and views per contract (area).
        self.drift_b = world.drift_binary[:N_AREAS].copy()
        self.drift_f = world.drift_frequency[:N_AREAS].copy()
        self.multiplier = np.ones((n_quarters, N_AREAS))
        self.cohort = world.forecast_cohort[:N_AREAS].copy()
        self.level_share: list[np.ndarray] = [np.zeros(0)] * N_AREAS
        self.fees_hat = np.array([t.fees(t.first, world.forecast_by_sentence[a], 0.0)
                                  for a, t in enumerate(self.terms)])
        self.service_met = [np.ones(len(t.service)) for t in self.terms]
        self.service_capped = [np.zeros(len(t.service), dtype=bool) for t in self.terms]
        self.mu = np.zeros(self.n_ops)
        self.last_episodes = world.forecast_episodes.copy()
        self.first_quarter = world.start_quarter

    def _auction(self, rng: np.random.Generator) -> np.ndarray:
        """Each area's winning bid, as a factor on the design's fee prices.

        A bidder prices the fees to cover its estimate of the status quo's
        costs with the normal margin, less the outcome payments (net of money
        withheld) it expects at status-quo effort given the drift it sees in
        the data room. Its cost estimate is lognormal around the truth, biased
        low by the optimism bias; the lowest bid wins. Bids are kept within
        [BID_FLOOR, BID_CEILING] of the design's prices [U]."""
        p, world = self.params, self.world
        reference = [ContractTerms.of(self.design.for_provider(PROVIDERS[a]), world.baseline_volumes)
                     for a in range(N_AREAS)]
        estimates = np.exp(rng.normal(-p.bid_optimism, p.bid_noise_sd, (N_AREAS, p.bidders)))
        bids = np.ones(N_AREAS)
        for a, t in enumerate(reference):
            episodes = world.forecast_by_sentence[a]
            n, sum_p, sum_pq, sum_mu = world.forecast_cohort[a]
            fees, outcomes = [], []
            for q in range(t.first, min(t.last, t.first + self.term_quarters - 1) + 1):
                fee = t.fees(q, episodes, 0.0)
                view = CohortView(n, sum_p, sum_pq, sum_mu, world.model.phi_, world.drift_binary[a],
                                  world.drift_frequency[a], 1.0, fee, np.zeros(0))
                fees.append(fee)
                outcomes.append(expected_payment(t, q, view) - t.at_risk_share(q) * fee)
            fee, outcome = float(np.mean(fees)), float(np.mean(outcomes))
            if fee <= 0:
                continue
            cost = world.forecast_episodes[a] * self.ref_fee * (1 - p.status_quo_margin)
            required = cost * estimates[a] * (1 + p.status_quo_margin)
            bids[a] = np.clip((required - outcome) / fee, BID_FLOOR, BID_CEILING).min()
        return bids

    # --- what goes where ----------------------------------------------------------
    def routing(self, q: int) -> Routing:
        in_term = q < self.term_quarters
        p = self.params
        area_op = np.where(self.alive[:N_AREAS] & in_term, np.arange(N_AREAS), POLR)
        subs = np.where(self.alive[self.subs], self.subs, -1) if self.n_sub else self.subs
        return Routing(
            contract_share=min(1.0, p.crc_share_actual / p.crc_share_forecast),
            area_operator=area_op, area_provider=area_op.astype(np.int16), subcontractors=subs,
            subcontract_share=p.subcontract_share if self.n_sub else 0.0, paid_cohort=in_term,
        )

    # --- what the contracts are worth --------------------------------------------------
    def _proper_fail(self, days: int) -> float:
        p = self.params
        beyond = 1.0 if days <= 1 else (1 - 1 / p.late_mean_days) ** (days - 1)
        return p.not_done_share + (1 - p.not_done_share) * (1 - p.proper_on_time_share) * beyond

    def valuation(self, q: int, supervised: np.ndarray) -> Valuation:
        """The deciding operators' valuations for contract quarter q.

        `supervised` is each operator's supervised caseload at the quarter's start."""
        p, world = self.params, self.world
        qa = self.first_quarter + q
        n_levels = max(t.level_weights.size for t in self.terms)
        margin = np.zeros(N_AREAS)
        mix = world.forecast_by_sentence[:N_AREAS].sum(axis=0)
        mix = mix / max(mix.sum(), 1.0)
        returns = (1 - world.forecast_episodes[NPS] / max(world.forecast_episodes.sum(), 1.0)) * min(
            1.0, p.crc_share_actual / p.crc_share_forecast)
        areas = [a for a in range(N_AREAS) if self.alive[a]]
        view_at, applies = {}, {}  # view_at[a](multiplier=r): the cohort's view at a believed multiplier
        for a in areas:
            t = self.terms[a]
            n, sum_p, sum_pq, sum_mu = self.cohort[a]
            levels = self.level_share[a] if self.level_share[a].size == t.level_weights.size else \
                np.full(t.level_weights.size, 1.0 / t.level_weights.size)
            view_at[a] = partial(CohortView, n, sum_p, sum_pq, sum_mu, world.model.phi_, self.drift_b[a],
                                 self.drift_f[a], fees=self.fees_hat[a], level_share=levels)
            applies[a] = []
            for i, term in enumerate(t.service):
                a_i = 1.0 if term.target_share is None else float(
                    ndtr((term.target_share - self.service_met[a][i]) / TARGET_DOUBT))
                applies[a].append(0.0 if self.service_capped[a][i] else a_i)
            if q + 1 < self.term_quarters:
                fee = t.marginal_fee(qa, mix, 4 * self.last_episodes[a])
                margin[a] = p.fee_foresight * returns * (fee - self.costs.per_episode_variable)

        services = {a: service_values(self.terms[a], audit_rate=p.audit_rate, proper_fail=self._proper_fail,
                                      service_applies=applies[a]) for a in areas}

        def marginal(a: int, multiplier: float):
            return marginal_values(self.terms[a], qa, view_at[a](multiplier=multiplier), services[a])

        def payment(a: int, multiplier: float) -> float:
            return expected_payment(self.terms[a], qa, view_at[a](multiplier=multiplier))

        deciding = self.alive & (self.kind != PUBLIC) & (p.behaviour == "optimise")
        # Cash for discretionary effort: reserves above a buffer, plus expected
        # income, less the quarter's committed costs.
        committed = self.fixed + supervised * self.cost_factor * (self.costs.case + p.minimum_effort)
        budget_scale = self.cost_factor  # a subcontractor's pound of effort costs it less
        buffer = p.cash_buffer * (self.fixed + supervised * (self.costs.case + p.status_quo_effort))
        budget = (self.reserves - buffer + self.income_hat - committed) / budget_scale
        share = np.where(self.kind == SUBCONTRACTOR, 1 - p.management_fee, 1.0) / budget_scale
        return Valuation(deciding=deciding, prime=self.prime, share=share, perceived=self.perceived, budget=budget,
                         areas=areas, n_levels=n_levels, marginal=marginal, payment=payment,
                         episode_margin=margin)

    # --- learning -------------------------------------------------------------------------
    def observe_cohort(self, q: int, counts: np.ndarray, level_counts: np.ndarray | None, episodes: np.ndarray) -> None:
        """The cohort a quarter built (counted offenders, sum p, sum pq, sum mu per provider)."""
        self.cohort = counts[:N_AREAS].copy()
        if level_counts is not None:
            total = level_counts[:N_AREAS].sum(axis=1, keepdims=True)
            shares = np.where(total > 0, level_counts[:N_AREAS] / np.maximum(total, 1), 0.0)
            self.level_share = list(shares)
        self.last_episodes = episodes.astype(float)

    def observe_result(self, cohort_q: int, rows: dict[tuple[str, str], list[dict]]) -> None:
        """A matured cohort's measure rows: update each provider's belief about drift."""
        for a in range(N_AREAS):
            got = rows.get((PROVIDERS[a], _label(self.first_quarter + cohort_q)))
            if not got:
                continue
            row = got[0]
            expected = row["expected_rate"] * row["offenders"]
            lo, hi = cohort_q, min(cohort_q + 4, self.n_quarters - 1)
            r = float(self.multiplier[lo:hi + 1, a].mean())
            if expected > 0:
                seen = row["reoffenders"] / expected / (1 + 0.43 * (r - 1)) - 1
                self.drift_b[a] += LEARNING_RATE * (seen - self.drift_b[a])
            if row["expected_reoffences"]:
                seen_f = row["reoffences"] / row["expected_reoffences"] / max(r, 1e-6) - 1
                self.drift_f[a] += LEARNING_RATE * (seen_f - self.drift_f[a])

    # --- the books -------------------------------------------------------------------------
    def settle(self, q: int, tally: Tally, effort: np.ndarray, relative: np.ndarray,
               statements: dict[int, Statement], polr: Statement | None) -> list[int]:
        """Income and costs for quarter q; returns the operators that failed."""
        p = self.params
        exposure = tally.exposure.sum(axis=1)
        spend = (tally.exposure * effort).sum(axis=1)
        overhead = self.fixed * self.alive * (q < self.term_quarters)  # wound down when the term ends
        costs = overhead + (exposure * self.costs.case + spend + tally.event_cost) * self.cost_factor
        costs[self.kind == PUBLIC] = 0.0
        income = np.zeros(self.n_ops)
        for a, s in statements.items():
            total = s.total / 100.0
            self._service_feedback(a, s)
            self.fees_hat[a] = 0.5 * self.fees_hat[a] + 0.5 * s.subtotal("fee") / 100.0
            group = [a, *[int(x) for x in self.subs[a] if self.alive[x]]] if self.n_sub else [a]
            shares = exposure[group] / max(exposure[group].sum(), 1e-9)
            for op, share in zip(group[1:], shares[1:], strict=True):
                income[op] = (1 - p.management_fee) * share * total
            income[a] = total - income[group[1:]].sum()
        if polr is not None:
            self.public_payments += polr.total / 100.0
        live = self.kind != PUBLIC
        self.income[live] += income[live]
        self.spent[live] += costs[live] * self.alive[live]
        self.reserves += (income - costs) * self.alive
        self.income_hat = np.where(self.alive, 0.5 * self.income_hat + 0.5 * income, self.income_hat)
        # The prime group's mean offending multiplier, for the next view of its cohort.
        weighted = (tally.exposure * relative).sum(axis=1)
        for a in range(N_AREAS):
            group = [a, *self.subs[a]] if self.n_sub else [a]
            e = exposure[group].sum()
            self.multiplier[q, a] = weighted[group].sum() / e if e > 0 else 1.0
        # A provider whose reserves go below zero during the term exits; after the
        # term it only runs off its caseload (the loss shows in its margin).
        in_term = q < self.term_quarters
        failed = [int(o) for o in np.flatnonzero(self.alive & (self.reserves < 0))] if in_term else []
        for o in failed:
            self.alive[o] = False
            self.failed_quarter[o] = q
            if self.kind[o] == PRIME:
                self.reprocurement += p.reprocurement_quarters * self.world.forecast_episodes[o] * self.ref_fee
                for sub in (self.subs[o] if self.n_sub else []):
                    if self.alive[sub]:
                        self.alive[sub] = False  # exits with its prime (a failure only if in deficit)
        return failed

    def _service_feedback(self, a: int, s: Statement) -> None:
        capped = np.zeros(len(self.terms[a].service), dtype=bool)
        for line in s.lines:
            if line.kind == "service_level.failures":
                i = int(line.key.split(":")[1])
                decided = line.basis["due"] - line.basis["pending"]
                if decided:
                    self.service_met[a][i] = line.basis["met"] / decided
            elif line.kind == "service_level.cap":
                capped[int(line.key.split(":")[1])] = True
        self.service_capped[a] = capped


def _label(q: int) -> str:
    return f"{q // 4}Q{q % 4 + 1}"


__all__ = ["Costs", "Market", "PRIME", "PUBLIC", "SUBCONTRACTOR", "reference_design", "reference_fee",
           "scaled_fees", "scaled_to_world"]
