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
from numba import njit
from scipy.special import ndtr, ndtri

from pbrkit.simulate.incentives import MarginalValues
from pbrkit.simulate.kernel import RISK_BANDS, Policy, World
from pbrkit.simulate.params import EVENT_KINDS, ModelParams

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


def decide(world: World, q: int, rows: np.ndarray, valuation: Valuation, params: ModelParams,
           sq_proper_cost: np.ndarray) -> tuple[Policy, np.ndarray, np.ndarray]:
    """The quarter's policy: returns (policy, mu per operator, mean value per person-quarter per operator).

    `rows` are the people supervised at the quarter's start (`World.supervised`).
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
    n_ops, n_seg = world.n_ops, world.n_seg
    n, s_binary, s_frequency, s_sentence = _caseload(world, q, rows, valuation.deciding)
    band = (np.arange(n_seg) // 2) % RISK_BANDS
    level = np.arange(n_seg) // (2 * RISK_BANDS)
    e_hat = valuation.perceived[:, band]
    m_sq_hat = effect(e_hat, np.asarray(params.status_quo_effort), params.effort_scale)
    area_of = valuation.prime
    share = valuation.share[:, None]
    margin = np.where(area_of >= 0, valuation.episode_margin[np.maximum(area_of, 0)], 0.0)[:, None]
    groups = {a: np.flatnonzero((area_of == a) & valuation.deciding) for a in valuation.areas}
    group_n = {a: n[g].sum() for a, g in groups.items()}

    def believed(effort: np.ndarray) -> dict[int, float]:
        """Each contract's believed mean offending multiplier under `effort`
        (one pass over every operator: the groups only sum their rows)."""
        weighted = n * (effect(e_hat, effort, params.effort_scale) / m_sq_hat)
        return {a: float(weighted[g].sum() / group_n[a]) if group_n[a] > 0 else 1.0 for a, g in groups.items()}

    def respond(effort: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, MarginalValues]]:
        r = believed(effort)
        values = {a: valuation.marginal(a, r[a]) for a in valuation.areas}
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
    strategies = [floor] + [c[0] for c in candidates]
    beliefs = [believed(e) for e in strategies]
    effort, mu, mean_value, values = candidates[0]
    effort = effort.copy()
    for a, g in groups.items():
        if group_n[a] <= 0:
            continue
        returning = float((margin[g] * s_sentence[g] * n[g]).sum())  # margin of the episodes sentences bring

        def margin_of(e: np.ndarray, r: float) -> float:
            return valuation.payment(a, r) - float((n[g] * e[g]).sum()) - returning * (1.0 - r)

        scores = [margin_of(e, b[a]) for e, b in zip(strategies, beliefs, strict=True)]
        best = int(np.argmax(scores))
        effort[g] = strategies[best][g]
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


def _caseload(world: World, q: int, rows: np.ndarray, deciding: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per operator and segment (level x risk band x reoffended yet), over the
    deciding operators' supervised people: how many there are, and per person
    the derivatives with respect to the offending multiplier r of this
    quarter's chance of becoming a reoffender, of the follow-up's reoffences
    and of new sentences."""
    pop = world.pop
    n_ops, n_seg = world.n_ops, world.n_seg
    q0 = float(world.qdays[q])
    quarter_days = float(world.qdays[q + 1] - world.qdays[q])
    sums = _caseload_sums(rows, pop.ep_operator, deciding, pop.ep_known, pop.ep_term, pop.sp_rate, pop.ep_start,
                          pop.ep_segment, pop.sp_sentencing, q0, quarter_days, n_seg, n_ops * n_seg)
    n, s_binary, s_frequency, s_sentence = (x.reshape(n_ops, n_seg) for x in sums)
    safe = np.maximum(n, 1.0)
    return n, s_binary / safe, s_frequency / safe, s_sentence / safe


@njit(cache=True)
def _caseload_sums(rows, operator, deciding, known, term, rate_a_year, start, segment, sentencing,
                   q0, quarter_days, n_seg, n_slots):
    """One pass over the supervised people (hundreds of thousands at national
    scale) instead of a dozen array passes; each sum adds its people in row
    order, as `np.bincount` would."""
    n = np.zeros(n_slots)
    binary = np.zeros(n_slots)
    frequency = np.zeros(n_slots)
    sentences = np.zeros(n_slots)
    for row in rows:
        op = operator[row]
        if not deciding[op]:
            continue
        fresh = known[row] > q0  # no reoffence known yet in the follow-up
        paid = 1.0 if term[row] else 0.0
        rate = rate_a_year[row] / 365.25
        remaining = min(max((start[row] + FOLLOW_UP_DAYS) - q0, 0.0), float(FOLLOW_UP_DAYS))
        in_quarter = min(remaining, quarter_days)
        slot = np.int64(op) * n_seg + np.int64(segment[row]) * 2 + (0 if fresh else 1)
        n[slot] += 1.0
        binary[slot] += rate * in_quarter * np.exp(-rate * remaining) * (1.0 if fresh else 0.0) * paid
        frequency[slot] += rate * in_quarter * paid
        # The kernel holds each spell's chance that a proven offence brings a sentence.
        sentences[slot] += rate * quarter_days * sentencing[row]
    return n, binary, frequency, sentences


__all__ = [
    "Valuation", "cash_shadow_price", "closed_form_effort", "decide", "effect", "relative_effect",
    "service_choice", "status_quo_event_cost",
]
