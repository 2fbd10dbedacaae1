"""Cohort outcomes against the baseline: rates, expected rates and the tests.

Input is one row per counted offender, carrying its cohort keys, whether its
period is mature, its proven reoffences, and (when mature) the baseline model's
`p` and `mu`. Output is the standard's table, one row per cohort.

The binary test compares reoffenders with the sum of the offenders' own
expected probabilities, with the variance of a sum of independent Bernoulli
trials (`sum p (1 - p)`); the frequency test compares reoffences with the sum
of expected counts, with the Poisson variance inflated by the over-dispersion
`phi` the count model showed on the reference cohort.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.special import erfc

#: The standard's output columns, in order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "group", "period", "mature", "offenders", "reoffenders", "reoffences", "binary_rate",
    "frequency", "reoffences_per_offender", "expected_rate", "rate_diff_pp", "z", "p_value",
    "significant", "expected_reoffences", "expected_frequency", "z_frequency",
)

#: Columns that are null for an immature cohort: everything but its size.
OUTCOME_COLUMNS: tuple[str, ...] = OUTPUT_COLUMNS[4:]

SIGNIFICANCE_LEVEL = 0.05

_SCHEMA: dict[str, pl.DataType] = {
    "group": pl.String(), "period": pl.String(), "segment": pl.String(), "mature": pl.Boolean(),
    "offenders": pl.Int64(), "reoffenders": pl.Int64(), "reoffences": pl.Int64(),
    "binary_rate": pl.Float64(), "frequency": pl.Float64(), "reoffences_per_offender": pl.Float64(),
    "expected_rate": pl.Float64(), "rate_diff_pp": pl.Float64(), "z": pl.Float64(),
    "p_value": pl.Float64(), "significant": pl.Boolean(), "expected_reoffences": pl.Float64(),
    "expected_frequency": pl.Float64(), "z_frequency": pl.Float64(),
}


def output_columns(segmented: bool) -> list[str]:
    """The output columns; a `segment` column follows `period` when segmenting."""
    cols = list(OUTPUT_COLUMNS)
    if segmented:
        cols.insert(2, "segment")
    return cols


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a standard normal statistic: P(|Z| >= |z|)."""
    return erfc(np.abs(z) / np.sqrt(2.0))


def cohort_outcomes(
    cells: pl.DataFrame, immature: pl.DataFrame, keys: list[str], phi: float
) -> pl.DataFrame:
    """The standard's table for every cohort.

    `cells` holds the mature cohorts in cells of offenders who share one
    expectation: `offenders`, `reoffenders`, `reoffences` and the cell's
    expected `p` and `mu` (a cell of one offender is fine too). `immature` has
    one row per counted offender of the immature cohorts, keys only: they are
    counted, never measured. The key columns come back as they went in.
    """
    n = pl.col("offenders")
    measured = cells.group_by(keys).agg(
        offenders=n.sum().cast(pl.Int64),
        reoffenders=pl.col("reoffenders").sum().cast(pl.Int64),
        reoffences=pl.col("reoffences").sum().cast(pl.Int64),
        sum_p=(n * pl.col("p")).sum(),
        sum_pq=(n * pl.col("p") * (1.0 - pl.col("p"))).sum(),
        sum_mu=(n * pl.col("mu")).sum(),
    )
    offenders = pl.col("offenders").cast(pl.Float64)
    reoffenders = pl.col("reoffenders").cast(pl.Float64)
    reoffences = pl.col("reoffences").cast(pl.Float64)
    binary_rate = reoffenders / offenders
    expected_rate = pl.col("sum_p") / offenders
    measured = measured.with_columns(
        mature=pl.lit(True),
        binary_rate=binary_rate,
        frequency=pl.when(pl.col("reoffenders") > 0).then(reoffences / reoffenders).otherwise(0.0),
        reoffences_per_offender=reoffences / offenders,
        expected_rate=expected_rate,
        rate_diff_pp=100.0 * (binary_rate - expected_rate),
        z=pl.when(pl.col("sum_pq") > 0).then((reoffenders - pl.col("sum_p")) / pl.col("sum_pq").sqrt()),
        expected_reoffences=pl.col("sum_mu"),
        expected_frequency=pl.when(pl.col("sum_p") > 0).then(pl.col("sum_mu") / pl.col("sum_p")),
        z_frequency=pl.when(pl.col("sum_mu") * phi > 0).then(
            (reoffences - pl.col("sum_mu")) / (pl.col("sum_mu") * phi).sqrt()
        ),
    )
    z = measured["z"].to_numpy().astype(float)  # nulls become NaN
    p = two_sided_p(z)
    measured = measured.with_columns(p_value=pl.Series(p).fill_nan(None)).with_columns(
        significant=pl.col("p_value") < SIGNIFICANCE_LEVEL
    )

    counted = immature.group_by(keys).agg(offenders=pl.len().cast(pl.Int64)).with_columns(mature=pl.lit(False))
    figures = [c for c in OUTPUT_COLUMNS if c not in ("group", "period")]
    return pl.concat(
        [
            measured.select(*keys, *[pl.col(c).cast(_SCHEMA[c]) for c in figures]),
            counted.select(
                *keys,
                *[(pl.col(c) if c in counted.columns else pl.lit(None)).cast(_SCHEMA[c]).alias(c) for c in figures],
            ),
        ]
    )
