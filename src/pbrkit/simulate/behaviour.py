"""How a provider chooses effort and service quality each quarter.

Nothing here names a behaviour. A provider values one unit less offending
multiplier (r) for each supervised person at what the contract pays for it
(`incentives`), less the margin it loses on the episodes that reoffending
would have brought back; it sees the effect of effort through its noisy
belief about efficacy; and it spends where a pound buys most, as far as its
cash allows. Creaming and parking, the binary cliff edge, empty plans filed
on time and cost-cutting under cash pressure are what that arithmetic does
under different terms.

Effect of effort e (pounds per person-quarter) with efficacy E and scale kappa:

    m(e) = 1 - E (1 - exp(-e / kappa)),   r(e) = m(e) / m(e_sq)

Maximising V r-reduction minus cost, V r'(e) = 1, gives the closed form

    e* = kappa ln(V E_hat / (kappa m_hat(e_sq) (1 + mu)))

floored at the contractual minimum and capped, where mu >= 0 is the shadow
price of cash: zero when the provider can fund its choice, else the value
that makes discretionary spending equal the cash it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from pbrkit.simulate.incentives import MarginalValues
from pbrkit.simulate.kernel import RISK_BANDS, Policy, World
from pbrkit.simulate.params import EVENT_KINDS, ModelParams
from pbrkit.simulate.spells import SYNTH, sentence_probability

FOLLOW_UP_DAYS = 365


def effect(efficacy: np.ndarray, effort: np.ndarray, kappa: float) -> np.ndarray:
    """m(e): the offending multiplier bought by effort e."""
    return 1.0 - efficacy * (1.0 - np.exp(-effort / kappa))


def relative_effect(efficacy: np.ndarray, effort: np.ndarray, params: ModelParams) -> np.ndarray:
    """r(e) = m(e) / m(e_sq): offending relative to status-quo supervision."""
    return (effect(efficacy, effort, params.effort_scale)
            / effect(efficacy, np.asarray(params.status_quo_effort), params.effort_scale))


def closed_form_effort(appeal: np.ndarray, mu: np.ndarray | float, params: ModelParams) -> np.ndarray:
    """e* = kappa ln(A / (1 + mu)), clipped to [minimum, maximum] (A <= 0 gives the minimum)."""
    return _clip(_unclipped(appeal, params) - params.effort_scale * np.log1p(mu), params)


def _unclipped(appeal: np.ndarray, params: ModelParams) -> np.ndarray:
    return params.effort_scale * np.log(np.maximum(appeal, 1e-300))


def _clip(effort: np.ndarray, params: ModelParams) -> np.ndarray:
    return np.clip(effort, params.minimum_effort, params.maximum_effort)


def cash_shadow_price(appeal: np.ndarray, n: np.ndarray, budget: np.ndarray, params: ModelParams) -> np.ndarray:
    """Per operator, the mu >= 0 at which discretionary spending sum n (e - e_min)
    fits the budget (bisection on ln(1 + mu)); a budget at or below zero puts
    every segment at the minimum."""
    floor, kappa = params.minimum_effort, params.effort_scale
    base = _unclipped(appeal, params)
    cash = np.maximum(budget, 0.0)
    mu = np.zeros(appeal.shape[0])
    short = np.flatnonzero((n * (_clip(base, params) - floor)).sum(axis=1) > cash + 1e-9)
    if short.size == 0:
        return mu
    base, n_s, cash = base[short], n[short], cash[short]
    lo = np.zeros(short.size)
    hi = np.maximum(base.max(axis=1) - floor, 0.0) / kappa + 1.0
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        e = _clip(base - kappa * mid[:, None], params)
        over = (n_s * (e - floor)).sum(axis=1) > cash
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    mu[short] = np.expm1(hi)
    return mu


def _lognormal_below(threshold: np.ndarray, median: np.ndarray, sd: float) -> tuple[np.ndarray, np.ndarray]:
    """P(c < t) and E[c | c < t] for a lognormal cost c (median, sd of log)."""
    t = np.maximum(threshold, 1e-9)
    z = (np.log(t) - np.log(median)) / sd
    share = ndtr(z)
    partial = median * np.exp(0.5 * sd * sd) * ndtr(z - sd)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(share > 1e-12, partial / share, t)
    return np.where(threshold > 0, share, 0.0), mean


def service_choice(benefit: np.ndarray, params: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Share of events done properly and the mean cost of those done properly:
    an event is done properly when its cost beats filing it empty plus the benefit."""
    median = np.asarray(params.proper_cost)
    return _lognormal_below(benefit + params.empty_cost, median, params.proper_cost_sd)


def status_quo_event_cost(params: ModelParams) -> np.ndarray:
    """Mean cost of a properly done event under public provision (its quality share)."""
    median = np.asarray(params.proper_cost)
    q = min(max(params.status_quo_quality, 1e-6), 1 - 1e-6)
    threshold = median * np.exp(params.proper_cost_sd * ndtri(q))
    return _lognormal_below(threshold, median, params.proper_cost_sd)[1]


@dataclass
class Valuation:
    """What the deciding operators' contracts pay, arranged for the decision."""

    deciding: np.ndarray  # (operators,) bool: chooses its own effort
    prime: np.ndarray  # (operators,) the contract (area) an operator works under, -1 none
    share: np.ndarray  # (operators,) share of the contract's values the operator keeps
    perceived: np.ndarray  # (operators, risk bands) E_hat
    budget: np.ndarray  # (operators,) cash available for discretionary effort
    areas: list[int]  # contracts in force
    n_levels: int
    #: (area, believed offending multiplier) -> the contract's marginal values
    marginal: Callable[[int, float], MarginalValues]
    #: (area, believed offending multiplier) -> expected payment for a cohort, pounds
    payment: Callable[[int, float], float]
    episode_margin: np.ndarray  # (areas,) margin lost per new episode not brought, x chance it returns


#: Rounds of the provider's best response to its own expected result.
ROUNDS = 4
#: Bisection steps for the shadow price of cash (ln(1 + mu) to ~1e-7 of its range).
BISECTIONS = 24
#: The high starting point of the second best response, in units of kappa.
HIGH_START = 3.0


def decide(world: World, q: int, valuation: Valuation, params: ModelParams, sq_proper_cost: np.ndarray
           ) -> tuple[Policy, np.ndarray, np.ndarray]:
    """The quarter's policy: returns (policy, mu per operator, mean value per person-quarter per operator).

    Per person, the contract's value of a unit less offending multiplier
    splits into a binary part (people with no reoffence yet in their
    follow-up: the chance this quarter's offending makes them a reoffender),
    a frequency part (their offences in the follow-up) and the margin of the
    episodes their sentences would bring. These are summed by operator and
    segment once; then each contract's provider finds its best response to
    the result that response would produce (a few damped rounds from the
    status quo, since what a reoffender avoided is worth depends on where the
    cohort is expected to land), and keeps it only if its expected margin
    beats doing the minimum.
    """
    pop = world.pop
    n_ops, n_seg = world.n_ops, world.n_seg
    q0 = float(world.qdays[q])
    quarter_days = float(world.qdays[q + 1] - world.qdays[q])
    rows = world.supervised(q0)
    op = pop.ep_operator[rows].astype(np.int64)
    keep = valuation.deciding[op]
    rows, op = rows[keep], op[keep]
    fresh = pop.ep_known[rows] > q0  # no reoffence known yet in the follow-up
    paid = pop.ep_term[rows]
    rate = pop.sp_rate[rows] / 365.25
    remaining = np.clip(pop.ep_start[rows] + FOLLOW_UP_DAYS - q0, 0.0, FOLLOW_UP_DAYS)
    in_quarter = np.minimum(remaining, quarter_days)
    seg = pop.ep_segment[rows].astype(np.int64) * 2 + (~fresh)
    slot = op * n_seg + seg

    def per_segment(w: np.ndarray | None) -> np.ndarray:
        return np.bincount(slot, weights=w, minlength=n_ops * n_seg).reshape(n_ops, n_seg)

    n = per_segment(None).astype(float)
    safe = np.maximum(n, 1.0)
    # d P(reoffender) / d r this quarter, for a person with no reoffence yet;
    # d reoffences / d r in the follow-up; d sentences / d r.
    s_binary = per_segment(rate * in_quarter * np.exp(-rate * remaining) * fresh * paid) / safe
    s_frequency = per_segment(rate * in_quarter * paid) / safe
    s_sentence = per_segment(rate * quarter_days * sentence_probability(SYNTH, pop.sp_prior[rows])) / safe

    band = (np.arange(n_seg) // 2) % RISK_BANDS
    level = np.arange(n_seg) // (2 * RISK_BANDS)
    e_hat = valuation.perceived[:, band]
    m_sq_hat = effect(e_hat, np.asarray(params.status_quo_effort), params.effort_scale)
    area_of = valuation.prime
    share = valuation.share[:, None]
    margin = np.where(area_of >= 0, valuation.episode_margin[np.maximum(area_of, 0)], 0.0)[:, None]
    groups = {a: np.flatnonzero((area_of == a) & valuation.deciding) for a in valuation.areas}
    group_n = {a: n[g].sum() for a, g in groups.items()}

    def believed(effort: np.ndarray, a: int) -> float:
        g = groups[a]
        if group_n[a] <= 0:
            return 1.0
        r = effect(e_hat[g], effort[g], params.effort_scale) / m_sq_hat[g]
        return float((n[g] * r).sum() / group_n[a])

    def respond(effort: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, MarginalValues]]:
        values = {a: valuation.marginal(a, believed(effort, a)) for a in valuation.areas}
        w_b = np.zeros((n_ops, n_seg))
        w_f = np.zeros((n_ops, 1))
        for a, g in groups.items():
            w_b[g] = values[a].binary[np.minimum(level, values[a].binary.size - 1)]
            w_f[g] = values[a].frequency
        mean_value = share * (w_b * s_binary + w_f * s_frequency - margin * s_sentence)
        appeal = np.maximum(mean_value, 0.0) * e_hat / (params.effort_scale * m_sq_hat)
        mu = cash_shadow_price(appeal, n, valuation.budget, params)
        return closed_form_effort(appeal, mu[:, None], params), mu, mean_value, values

    def best_response(start: float):
        effort = np.full((n_ops, n_seg), start)
        for k in range(ROUNDS):
            best, mu, mean_value, values = respond(effort)
            effort = best if k == ROUNDS - 1 else 0.5 * (effort + best)
        return effort, mu, mean_value, values

    # Candidate strategies: the minimum, and the best responses reached from the
    # status quo and from high effort (an option-like payment can make both a
    # low and a high-effort strategy locally best). Each contract's provider
    # keeps the one with the highest expected margin.
    floor = np.full((n_ops, n_seg), params.minimum_effort)
    candidates = [best_response(params.status_quo_effort), best_response(HIGH_START * params.effort_scale)]
    effort, mu, mean_value, values = candidates[0]
    effort = effort.copy()
    for a, g in groups.items():
        if group_n[a] <= 0:
            continue

        def margin_of(e: np.ndarray) -> float:
            r = believed(e, a)
            lost = float((margin[g] * s_sentence[g] * n[g]).sum()) * (1.0 - r)
            return valuation.payment(a, r) - float((n[g] * e[g]).sum()) - lost

        scores = [margin_of(floor)] + [margin_of(c[0]) for c in candidates]
        best = int(np.argmax(scores))
        effort[g] = floor[g] if best == 0 else candidates[best - 1][0][g]
        if best == 2:
            mu[g], mean_value[g] = candidates[1][1][g], candidates[1][2][g]
    true_e = np.asarray(params.efficacy)[band]
    relative = relative_effect(true_e[None, :], effort, params)
    # Service quality: deductions saved, plus the value of the effect on offending.
    per_person = (n * np.maximum(mean_value, 0.0)).sum(axis=1) / np.maximum(n.sum(axis=1), 1.0)
    service = np.zeros((n_ops, len(EVENT_KINDS)))
    for a, g in groups.items():
        service[g] = values[a].service
    supervised_quarters = params.supervision_days / 91.3
    benefit = (service + np.asarray(params.service_effect)[None, :] * per_person[:, None] * supervised_quarters
               + params.professional_value) / (1.0 + mu[:, None])
    quality, cost = service_choice(benefit, params)
    # Operators that do not decide act as public provision.
    sq = ~valuation.deciding
    effort[sq] = params.status_quo_effort
    relative[sq] = 1.0
    quality[sq] = params.status_quo_quality
    cost[sq] = sq_proper_cost
    return Policy(effort, relative, quality, cost), mu, per_person


__all__ = [
    "Valuation", "cash_shadow_price", "closed_form_effort", "decide", "effect", "relative_effect",
    "service_choice", "status_quo_event_cost",
]
