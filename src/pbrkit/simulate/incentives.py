"""What a contract makes a reoffence, a reoffender or a service event worth to
the provider: the marginal values the provider's effort decision reads.

A provider does not see a price list; it sees terms with gates. A price per
reoffender avoided is paid only when the cohort's result clears a
significance test or flat zone, is capped, may be clawed back, and money
at risk comes back all at once or in proportion. What matters for effort
is the *expected* change in payment from one reoffender (or reoffence)
fewer, given where the provider expects its cohort to land. With the
cohort's result approximately normal, D ~ N(d, s^2) (d the expected number
avoided against the baseline, s its standard deviation), and a bar c:

    d/dd E[P D 1(D > c)]  = P [Phi(u) + (c/s) phi(u)],  u = (d - c) / s

(the first term: each reoffender avoided is paid when the bar is cleared;
the second: avoiding one more raises the chance of clearing the bar, which
brings the whole payment). Clawback adds the mirror image below -c, a cap
multiplies the paying side by the chance the cap does not bind, and money
at risk adds the derivative of its earn-back rule. `docs/model.md` gives
every formula. All money here is pounds (floats): these are the provider's
beliefs, not payments; payments come from `pbrkit.pay`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from pbrkit.contracts.schema import Contract
from pbrkit.pay.term import first_quarter, last_quarter
from pbrkit.simulate.cohorts import LEVEL_NAMES
from pbrkit.simulate.params import EVENT_KINDS
from pbrkit.standard.schema import SENTENCES

Z_05 = 1.959963984540054  # two-sided 5%: |z| above this is significant
#: Elasticity of the binary rate to the offending multiplier near the 2011
#: CRC rate (gamma-Poisson with shape 0.55 at P = 0.47: d ln P / d ln r ~ 0.43).
BINARY_ELASTICITY = 0.43
_SQRT_2PI = float(np.sqrt(2 * np.pi))


def _phi(x: float) -> float:
    return float(np.exp(-0.5 * x * x)) / _SQRT_2PI


def _Phi(x: float) -> float:
    return float(ndtr(x))


@dataclass
class ServiceTerm:
    kind: int  # index in EVENT_KINDS, -1 if the simulator writes no such events
    days_allowed: int
    target_share: float | None
    deduction: float
    incomplete_is_failure: bool
    capped: bool


@dataclass
class ContractTerms:
    """A contract's payment terms as plain numbers (pounds, shares)."""

    provider_id: str
    first: int
    last: int
    per_episode: float = 0.0
    weights: np.ndarray = field(default_factory=lambda: np.ones(4))
    per_case_month: float = 0.0
    supervision_months: int = 12
    fixed_per_quarter: float = 0.0
    learning_curve: float = 0.0
    forecast_price: float = 0.0
    forecast_volume: float = 0.0  # episodes a year
    band: float = 0.0
    at_risk: list[float] = field(default_factory=list)
    target_pp: float | None = None
    graduated: bool = True
    binary_price: float = 0.0
    significance: bool = False
    flat_zone_pp: float = 0.0
    segment: str | None = None
    level_weights: np.ndarray = field(default_factory=lambda: np.ones(1))
    frequency_price: float = 0.0
    hurdle: bool = False
    flat_zone_pct: float = 0.0
    cap: float | None = None
    cap_share: float | None = None
    collar: float | None = None
    clawback: bool = False
    service: list[ServiceTerm] = field(default_factory=list)

    @classmethod
    def of(cls, contract: Contract, baseline_volumes: dict[str, int]) -> ContractTerms:
        t = cls(provider_id=contract.provider_id, first=first_quarter(contract), last=last_quarter(contract))
        fee = contract.fee
        if fee is not None:
            t.per_episode = float(fee.per_episode or 0)
            t.weights = np.array([float(fee.sentence_weights.get(s, 1)) for s in SENTENCES])
            t.per_case_month = float(fee.per_case_month or 0)
            t.supervision_months = fee.supervision_months
            t.fixed_per_quarter = float(fee.fixed_per_quarter or 0)
            t.learning_curve = float(fee.learning_curve)
            if fee.forecast is not None:
                f = fee.forecast
                t.forecast_price = float(f.price_per_episode)
                t.band = float(f.band)
                t.forecast_volume = (float(f.episodes_per_year) if f.episodes_per_year is not None else
                                     baseline_volumes.get(contract.provider_id, 0) * float(f.baseline_factor))
        if contract.at_risk is not None:
            t.at_risk = [float(x) for x in contract.at_risk.by_year]
            t.target_pp = None if contract.at_risk.target_pp is None else float(contract.at_risk.target_pp)
            t.graduated = contract.at_risk.graduated
        o = contract.outcomes
        if o is not None:
            if o.binary is not None:
                t.binary_price = float(o.binary.price)
                t.significance = o.binary.significance_required
                t.flat_zone_pp = float(o.binary.flat_zone_pp)
                t.segment = o.binary.segment
                if t.segment is not None:
                    t.level_weights = np.array([float(o.binary.weight(lv)) for lv in LEVEL_NAMES[t.segment]])
            if o.frequency is not None:
                t.frequency_price = float(o.frequency.price)
                t.hurdle = o.frequency.hurdle
                t.flat_zone_pct = float(o.frequency.flat_zone_pct)
            t.cap = None if o.cap is None else float(o.cap)
            t.cap_share = None if o.cap_share_of_fees is None else float(o.cap_share_of_fees)
            t.collar = None if o.collar is None else float(o.collar)
            t.clawback = o.clawback
        for s in contract.service_levels:
            t.service.append(ServiceTerm(
                kind=EVENT_KINDS.index(s.kind) if s.kind in EVENT_KINDS else -1,
                days_allowed=s.days_allowed,
                target_share=None if s.target_share is None else float(s.target_share),
                deduction=float(s.deduction_per_failure) + 0.0,
                incomplete_is_failure=s.incomplete_is_failure,
                capped=s.cap_share_of_fees is not None,
            ))
        return t

    # --- fees ---------------------------------------------------------------
    def in_term(self, q: int) -> bool:
        return self.first <= q <= self.last

    def year(self, q: int) -> int:
        return (q - self.first) // 4 + 1

    def discount(self, q: int) -> float:
        return (1.0 - self.learning_curve) ** (self.year(q) - 1)

    def at_risk_share(self, q: int) -> float:
        if not self.at_risk or not self.in_term(q):
            return 0.0
        return self.at_risk[min(self.year(q), len(self.at_risk)) - 1]

    def fees(self, q: int, episodes_by_sentence: np.ndarray, case_months: float) -> float:
        """A quarter's fees (before withholding), pounds: the base for money at risk and caps."""
        if not self.in_term(q):
            return 0.0
        gross = (self.per_episode * float(self.weights @ episodes_by_sentence)
                 + self.per_case_month * case_months + self.fixed_per_quarter
                 + self.forecast_price * self.forecast_volume / 4)
        return gross * self.discount(q)

    def marginal_fee(self, q: int, sentence_mix: np.ndarray, annual_volume: float) -> float:
        """Fee income one more new episode brings, pounds (net of withholding):
        per-episode and case-month fees; a forecast fee only when volume is
        outside its band (within it, volume changes nothing)."""
        if not self.in_term(q):
            return 0.0
        fee = self.per_episode * float(self.weights @ sentence_mix) + self.per_case_month * self.supervision_months
        if self.forecast_price and self.forecast_volume:
            outside = abs(annual_volume - self.forecast_volume) > self.band * self.forecast_volume
            fee += self.forecast_price * outside
        return fee * self.discount(q) * (1.0 - self.at_risk_share(q))


@dataclass
class CohortView:
    """What the provider expects of the cohort it is building this quarter."""

    offenders: float  # counted offenders
    sum_p: float  # expected reoffenders (baseline)
    sum_pq: float
    sum_mu: float  # expected reoffences (baseline)
    phi: float
    drift_binary: float  # believed (actual / expected - 1) at status-quo effort
    drift_frequency: float
    multiplier: float  # the provider's mean offending multiplier (effort relative to status quo)
    fees: float  # the cohort quarter's fees, pounds
    level_share: np.ndarray  # share of offenders at each level of the paid segment


@dataclass
class MarginalValues:
    """Pounds per reoffender avoided (per level), per reoffence avoided, and,
    per event kind, the deductions saved by doing work properly rather than filing it empty."""

    binary: np.ndarray
    frequency: float
    service: np.ndarray  # (kind,) pounds of deductions saved by doing one event properly


def _bar_terms(d: float, s: float, c: float) -> tuple[float, float]:
    """(Phi(u) + (c/s) phi(u)) above the bar and the same below -c, for D ~ N(d, s^2)."""
    if s <= 0:
        return float(d > c), float(-d > c)
    u, v = (d - c) / s, (-d - c) / s
    return _Phi(u) + (c / s) * _phi(u), _Phi(v) + (c / s) * _phi(v)


def _result(t: ContractTerms, view: CohortView) -> tuple[float, float, float, float, float, float, float]:
    """(d_b, s_b, c_b, d_f, s_f, c_f, mean weight): the expected binary and
    frequency results against the baseline, their spread and their bars.

    As Python floats: the view's figures often arrive as NumPy scalars, whose
    arithmetic gives the same doubles at many times the cost, and a provider
    weighs thousands of views a replicate."""
    n, sum_p, sum_mu = float(view.offenders), float(view.sum_p), float(view.sum_mu)
    s_b = math.sqrt(max(float(view.sum_pq), 1e-9))
    d_b = sum_p - sum_p * (1 + float(view.drift_binary)) * (1 + BINARY_ELASTICITY * (float(view.multiplier) - 1))
    s_f = math.sqrt(max(float(view.phi) * sum_mu, 1e-9))
    d_f = sum_mu - sum_mu * (1 + float(view.drift_frequency)) * float(view.multiplier)
    c_b = max(Z_05 * s_b if t.significance else 0.0, t.flat_zone_pp / 100 * n)
    c_f = t.flat_zone_pct / 100 * sum_mu
    w_mean = float(t.level_weights @ view.level_share) if view.level_share.size == t.level_weights.size else 1.0
    return d_b, s_b, c_b, d_f, s_f, c_f, w_mean


def _above(d: float, s: float, c: float) -> float:
    """E[D 1(D > c)] for D ~ N(d, s^2)."""
    u = (d - c) / s
    return d * _Phi(u) + s * _phi(u)


def _below(d: float, s: float, c: float) -> float:
    """E[D 1(D < -c)] for D ~ N(d, s^2) (negative)."""
    v = (-c - d) / s
    return d * _Phi(v) - s * _phi(v)


def _ramp(mu: float, s: float) -> float:
    """E[min(max(X, 0), 1)] for X ~ N(mu, s^2)."""
    def part(k: float) -> float:
        return (mu - k) * _Phi((mu - k) / s) + s * _phi((mu - k) / s)
    return part(0.0) - part(1.0)


def expected_payment(t: ContractTerms, q: int, view: CohortView) -> float:
    """The expected outcome payment and earn-back for a cohort of quarter q,
    pounds: what a provider weighs against the cost of the effort behind it."""
    if not t.in_term(q) or view.offenders <= 0:
        return 0.0
    d_b, s_b, c_b, d_f, s_f, c_f, w_mean = _result(t, view)
    claw = t.clawback
    pay = t.binary_price * w_mean * _above(d_b, s_b, c_b)
    pay += t.frequency_price * _above(d_f, s_f, c_f) * (_Phi((d_b - c_b) / s_b) if t.hurdle else 1.0)
    caps = [c for c in (t.cap, None if t.cap_share is None else t.cap_share * view.fees) if c is not None]
    if caps:
        pay = min(pay, min(caps))
    if claw:
        loss = -(t.binary_price * w_mean * _below(d_b, s_b, c_b) + t.frequency_price * _below(d_f, s_f, c_f))
        pay -= min(loss, t.collar) if t.collar is not None else loss
    share = t.at_risk_share(q)
    if share > 0:
        w = share * view.fees
        if t.target_pp is not None:
            target = t.target_pp / 100 * view.offenders
            pay += w * (_ramp(d_b / target, s_b / target) if t.graduated else _Phi((d_b - target) / s_b))
        else:
            pay += w * _Phi((d_b - c_b) / s_b)
    return pay


def marginal_values(t: ContractTerms, q: int, view: CohortView, service: np.ndarray) -> MarginalValues:
    """Marginal values for effort on the cohort of quarter q (zero outside the
    term); `service` is the contract's `service_values` for the quarter."""
    n_levels = t.level_weights.size
    if not t.in_term(q) or view.offenders <= 0:
        return MarginalValues(np.zeros(n_levels), 0.0, np.zeros(len(EVENT_KINDS)))
    n = view.offenders
    d_b, s_b, c_b, d_f, s_f, c_f, w_mean = _result(t, view)
    up_b, down_b = _bar_terms(d_b, s_b, c_b)
    up_f, down_f = _bar_terms(d_f, s_f, c_f)
    cleared = _Phi((d_b - c_b) / s_b)
    # Caps and collars: the chance they do not bind, at the expected result.
    pay = t.binary_price * w_mean * max(d_b, 0) + t.frequency_price * max(d_f, 0)
    spread = np.hypot(t.binary_price * w_mean * s_b, t.frequency_price * s_f) or 1.0
    caps = [c for c in (t.cap, None if t.cap_share is None else t.cap_share * view.fees) if c is not None]
    cap_ok = _Phi((min(caps) - pay) / spread) if caps else 1.0
    loss = t.binary_price * w_mean * max(-d_b, 0) + t.frequency_price * max(-d_f, 0)
    collar_ok = _Phi((t.collar - loss) / spread) if t.collar is not None else 1.0
    claw = collar_ok if t.clawback else 0.0
    # Binary: each level is paid at price x weight when the cohort clears the bar;
    # the jump at the bar pays the whole (weighted) result.
    binary = t.binary_price * (t.level_weights * cleared * cap_ok
                               + w_mean * (up_b - cleared) * cap_ok
                               + t.level_weights * claw * down_b) if t.binary_price else np.zeros(n_levels)
    frequency = t.frequency_price * (up_f * cap_ok * (cleared if t.hurdle else 1.0) + claw * down_f)
    # Money at risk, earned back by the binary result.
    share = t.at_risk_share(q)
    if share > 0:
        w = share * view.fees
        if t.target_pp is not None:
            target = t.target_pp / 100 * n
            if t.graduated:
                at_risk = w / target * (_Phi((target - d_b) / s_b) - _Phi(-d_b / s_b))
            else:
                at_risk = w * _phi((d_b - target) / s_b) / s_b
        else:
            at_risk = w * _phi((d_b - c_b) / s_b) / s_b
        binary = binary + at_risk
    return MarginalValues(np.asarray(binary, dtype=float), float(frequency), service)


def service_values(t: ContractTerms, *, audit_rate: float, proper_fail: Callable[[int], float],
                   service_applies: list[float]) -> np.ndarray:
    """Per event kind, the deductions saved by doing an event properly instead
    of filing it empty. No result of the cohort moves them, so a provider
    works them out once a quarter, not for every effort it weighs."""
    service = np.zeros(len(EVENT_KINDS))
    for i, term in enumerate(t.service):
        if term.kind < 0:
            continue
        empty_fail = audit_rate * term.incomplete_is_failure
        saved = term.deduction * (empty_fail - proper_fail(term.days_allowed))
        service[term.kind] += saved * service_applies[i]
    return service


__all__ = ["BINARY_ELASTICITY", "CohortView", "ContractTerms", "MarginalValues", "expected_payment", "marginal_values",
           "service_values"]
