"""The measures in plain English: one sentence per cohort.

Every figure a commissioner reads comes with a sentence that says what it
means, including whether the difference from the expected rate could be chance.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pbrkit.measure.periods import matures_on

_EXPECTED_FOR = {
    "default": "expected for its case mix",
    "ogrs": "expected from its OGRS scores",
}


def _label(row: dict[str, Any], segment: str | None) -> str:
    label = f"{row['group']} {row['period']}"
    if segment is not None and row.get("segment") is not None:
        label += f" ({segment.replace('_', ' ')} {row['segment']})"
    return label


def sentence(row: dict[str, Any], segment: str | None = None, model: str = "default") -> str:
    """One cohort's result, e.g. "crc-north 2013Q2: 28.7% reoffended against
    34.3% expected for its case mix (-5.6 points, significant at the 5% level)".

    `row` is one row of `measure`'s table (as a dict); `segment` names the
    segment feature when the table is segmented; `model` is the baseline kind.
    """
    label = _label(row, segment)
    if not row["mature"]:
        return f"{label} is immature until {matures_on(row['period']).isoformat()}; not measured."
    expected_for = _EXPECTED_FOR.get(model, "expected")
    if row["expected_rate"] is None:
        return f"{label}: {100 * row['binary_rate']:.1f}% reoffended; no expected rate."
    if row["p_value"] is None:
        verdict = "no significance test possible"
    elif row["significant"]:
        verdict = "significant at the 5% level"
    else:
        verdict = "not significant"
    return (
        f"{label}: {100 * row['binary_rate']:.1f}% reoffended against "
        f"{100 * row['expected_rate']:.1f}% {expected_for} "
        f"({row['rate_diff_pp']:+.1f} points, {verdict})"
    )


def latest_mature_period(results: pl.DataFrame) -> str | None:
    """The latest period with a mature cohort, or None."""
    mature = results.filter(pl.col("mature"))
    return None if mature.height == 0 else mature["period"].max()


def sentences(
    results: pl.DataFrame,
    segment: str | None = None,
    model: str = "default",
    latest_only: bool = False,
) -> list[str]:
    """A sentence per cohort, in table order; with `latest_only`, only the
    cohorts of the latest mature period (for tables too long to read whole)."""
    if latest_only:
        latest = latest_mature_period(results)
        results = results.filter(pl.col("period") == latest) if latest else results.clear()
    return [sentence(row, segment, model) for row in results.iter_rows(named=True)]


def headline(results: pl.DataFrame) -> str:
    """What the whole table says, in one sentence: how many cohorts were
    measured and how many differ significantly from their expected rate."""
    mature = results.filter(pl.col("mature"))
    immature = results.height - mature.height
    below = mature.filter(pl.col("significant") & (pl.col("rate_diff_pp") < 0)).height
    above = mature.filter(pl.col("significant") & (pl.col("rate_diff_pp") > 0)).height
    text = (
        f"{mature.height:,} cohort(s) measured: {below:,} significantly below their expected rate, "
        f"{above:,} significantly above, {mature.height - below - above:,} not significantly different"
    )
    text += f"; {immature:,} immature, not measured." if immature else "."
    return text
