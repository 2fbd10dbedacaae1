"""Volumes of a dataset: how many episodes, people and offences, and where.

A person reading a dataset first wants its size and shape; this is that table
and its sentence, for live and synthetic data alike.
"""

from __future__ import annotations

import polars as pl

from pbrkit.standard.schema import Dataset


def volumes_by_year(data: Dataset) -> pl.DataFrame:
    """Episodes started each year, split into the CRC-eligible and high-risk (NPS) caseload."""
    e = data.episodes
    return (
        e.group_by(year=pl.col("start_date").dt.year())
        .agg(
            episodes=pl.len(),
            people=pl.col("person_id").n_unique(),
            low_medium=(pl.col("risk_tier") != "high").sum(),
            high=(pl.col("risk_tier") == "high").sum(),
            custody_short=(pl.col("sentence") == "custody_short").sum(),
        )
        .sort("year")
    )


def volumes_by_area(data: Dataset) -> pl.DataFrame:
    """Episodes, people and the share of high-risk cases per area."""
    e = data.episodes
    return (
        e.group_by("area_id")
        .agg(
            episodes=pl.len(),
            people=pl.col("person_id").n_unique(),
            high_share=(pl.col("risk_tier") == "high").mean(),
        )
        .sort("episodes", descending=True)
    )


def volume_sentence(data: Dataset) -> str:
    """One plain-English sentence on the size of a dataset."""
    e = data.episodes
    first, last = e.get_column("start_date").min(), e.get_column("start_date").max()
    years = max((last - first).days / 365.25, 1 / 365.25) if first and last else 0
    per_year = e.height / years if years else 0
    people = e.get_column("person_id").n_unique()
    return (
        f"{e.height:,} episodes of {people:,} people from {first} to {last} "
        f"(about {per_year:,.0f} a year), with {data.offences.height:,} proven offences, in "
        f"{e.get_column('area_id').n_unique()} areas and {e.get_column('provider_id').n_unique()} providers."
    )


def area_summary(data: Dataset, measured: pl.DataFrame | None) -> pl.DataFrame:
    """Volumes by area joined to the latest mature annual cohort's reoffending.

    `measured` is `pbrkit.measure.measure(data, by="area", period="year")`, or
    None when no cohort could be measured (the rate columns are then empty).
    """
    mature = measured.filter(pl.col("mature")) if measured is not None else None
    if mature is None or mature.is_empty():
        rates = pl.DataFrame(schema={"area_id": pl.String, "cohort": pl.String, "offenders": pl.Int64,
                                     "binary_rate": pl.Float64, "expected_rate": pl.Float64,
                                     "frequency": pl.Float64})
    else:
        latest = mature.get_column("period").max()
        rates = mature.filter(pl.col("period") == latest).select(
            area_id="group", cohort="period", offenders="offenders", binary_rate="binary_rate",
            expected_rate="expected_rate", frequency="frequency")
    return volumes_by_area(data).join(rates, on="area_id", how="left").sort("episodes", descending=True)
