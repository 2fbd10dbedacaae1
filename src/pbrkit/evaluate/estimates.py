"""Treated against matched comparison: differences, intervals and p-values done right for matched data.

**Rate and frequency** are paired: each matched treated episode `i` has its own
comparison value, the mean outcome of its neighbours, and the effect on the
treated is the mean of the differences `d_i`. Without replacement the `d_i`
are independent, so the standard error is the paired one, `sd(d) / sqrt(m)`,
with a t distribution on `m - 1` degrees of freedom.

With replacement one comparison episode can stand in several pairs, so the
`d_i` share errors and the paired standard error is too small. The variance
then adds, for every reused comparison episode `j`, `(W_j^2 - S_j) * s2_j`,
where `W_j` is its total weight, `S_j` the sum of its squared pair weights,
and `s2_j` its outcome variance, estimated from its nearest other comparison
episode on the score, `(y_j - y_l)^2 / 2`. This is Abadie and Imbens' (2006)
estimator for the effect on the treated; without reuse `W_j^2 = S_j` and it
reduces to the paired one.

**Time to first reoffence** is only defined for those who reoffended, so it
cannot be paired: it compares the treated reoffenders with the matched
comparison reoffenders, weighted by their matching weights, with a Welch-type
standard error and a normal interval. As the Justice Data Lab warns, it
describes those who reoffended, not what the service did to everyone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from pbrkit.evaluate.matching import Matches

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """One outcome, treated against comparison; the difference is treated minus comparison."""

    treated: float | None
    comparison: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_treated: int
    n_comparison: int

    def as_dict(self) -> dict:
        return asdict(self)


def _interval(diff: float, se: float, df: float | None) -> tuple[float, float, float]:
    """Confidence interval and two-sided p-value; t with `df` degrees of freedom, or normal."""
    dist = stats.t(df) if df is not None else stats.norm()
    if se == 0.0:
        return diff, diff, (1.0 if diff == 0.0 else 0.0)
    q = float(dist.ppf(0.5 + CONFIDENCE / 2))
    p = float(2.0 * dist.sf(abs(diff) / se))
    return diff - q * se, diff + q * se, p


def neighbour_variance(pool_logit: np.ndarray, pool_outcome: np.ndarray) -> np.ndarray:
    """Each pool episode's outcome variance, from its nearest other pool episode on the logit."""
    n = len(pool_logit)
    if n < 2:
        return np.zeros(n)
    order = np.lexsort((np.arange(n), pool_logit))
    x, y = pool_logit[order], pool_outcome[order].astype(np.float64)
    gap_left = np.r_[np.inf, np.diff(x)]
    gap_right = np.r_[np.diff(x), np.inf]
    partner = np.where(gap_left <= gap_right, np.arange(n) - 1, np.arange(n) + 1)
    s2 = np.empty(n)
    s2[order] = (y - y[partner]) ** 2 / 2.0
    return s2


def paired_effect(matches: Matches, y_treated: np.ndarray, y_pool: np.ndarray, pool_s2: np.ndarray) -> Estimate:
    """Effect on the treated of an outcome every episode has (a rate or a count)."""
    n_t = len(y_treated)
    matched = matches.matched_treated
    m = len(matched)
    comparison_of = np.bincount(matches.treated, weights=matches.weight * y_pool[matches.control], minlength=n_t)
    d = y_treated[matched].astype(np.float64) - comparison_of[matched]
    controls = np.unique(matches.control)
    if m < 2:
        return Estimate(None, None, None, None, None, None, m, len(controls))
    tau = float(d.mean())
    variance = float(((d - tau) ** 2).sum() / (m * (m - 1)))
    total = np.bincount(matches.control, weights=matches.weight, minlength=len(y_pool))
    squares = np.bincount(matches.control, weights=matches.weight**2, minlength=len(y_pool))
    reuse = float(((total**2 - squares) * pool_s2).sum()) / m**2
    se = float(np.sqrt(variance + max(reuse, 0.0)))
    low, high, p = _interval(tau, se, m - 1)
    return Estimate(
        treated=float(y_treated[matched].mean()),
        comparison=float(comparison_of[matched].mean()),
        difference=tau, ci_low=low, ci_high=high, p_value=p,
        n_treated=m, n_comparison=len(controls),
    )


def _weighted_mean_var(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    mean = float(np.average(values, weights=weights))
    var = float(np.average((values - mean) ** 2, weights=weights))
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    return mean, var * n_eff / (n_eff - 1) if n_eff > 1 else 0.0


def among_reoffenders(matches: Matches, y_treated: np.ndarray, y_pool: np.ndarray,
                      reoffended_treated: np.ndarray, reoffended_pool: np.ndarray) -> Estimate:
    """Effect on an outcome defined only for those who reoffended (days to the first reoffence)."""
    matched = matches.matched_treated
    t = y_treated[matched][reoffended_treated[matched]].astype(np.float64)
    keep = reoffended_pool[matches.control]
    weights = np.bincount(matches.control[keep], weights=matches.weight[keep], minlength=len(y_pool))
    controls = np.flatnonzero(weights > 0)
    if len(t) < 2 or len(controls) < 2:
        return Estimate(None, None, None, None, None, None, len(t), len(controls))
    w = weights[controls]
    c_mean, c_var = _weighted_mean_var(y_pool[controls].astype(np.float64), w)
    t_mean, t_var = float(t.mean()), float(t.var(ddof=1))
    se = float(np.sqrt(t_var / len(t) + c_var * (w**2).sum() / w.sum() ** 2))
    diff = t_mean - c_mean
    low, high, p = _interval(diff, se, None)
    return Estimate(t_mean, c_mean, diff, low, high, p, len(t), len(controls))
