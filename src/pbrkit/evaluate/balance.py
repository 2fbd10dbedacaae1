"""Did matching make the comparison group look like the treated? Standardised mean differences.

For each covariate, `SMD = (mean treated - mean comparison) / s`, where
`s = sqrt((var treated + var pool) / 2)` is taken before matching, so the
before and after figures share one yardstick (Austin 2009). After matching,
the comparison mean weights each comparison episode by its pair weights, so it
is exactly the mean the outcome estimates compare against. An absolute SMD
above 0.1 after matching is the usual sign that a factor is still out of
balance, and the evaluation says so.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pbrkit.evaluate.matching import Matches

#: The usual threshold for an absolute standardised mean difference.
THRESHOLD = 0.1


def balance_table(covariates: list[str], treated: np.ndarray, pool: np.ndarray, matches: Matches) -> pl.DataFrame:
    """One row per covariate: means and SMDs before and after matching.

    `treated` and `pool` hold the covariate columns (rows are episodes).
    """
    mean_t, mean_p = treated.mean(axis=0), pool.mean(axis=0)
    scale = np.sqrt((treated.var(axis=0, ddof=1) + pool.var(axis=0, ddof=1)) / 2.0)
    matched = matches.matched_treated
    after_t = treated[matched].mean(axis=0)
    weights = np.bincount(matches.control, weights=matches.weight, minlength=len(pool))
    used = np.flatnonzero(weights)
    after_c = (pool[used] * weights[used, None]).sum(axis=0) / weights.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(scale > 0, (mean_t - mean_p) / scale, 0.0)
        after = np.where(scale > 0, (after_t - after_c) / scale, 0.0)
    return pl.DataFrame({
        "covariate": covariates,
        "treated_mean": after_t,
        "comparison_mean": after_c,
        "smd_before": before,
        "smd_after": after,
        "treated_mean_before": mean_t,
        "pool_mean_before": mean_p,
    }).with_columns(balanced=pl.col("smd_after").abs() <= THRESHOLD)
