"""Proven reoffending per group and cohort, against a case-mix adjusted baseline.

This implements "Measures" in the data standard, to the letter:

    >>> from pbrkit.measure import measure
    >>> table = measure(data, by="provider", period="quarter",
    ...                 baseline=("2011-01-01", "2011-12-31"), as_of="2018-12-31")

`measure` is pure: it takes a `Dataset` (or a path, which it loads) and
returns the standard's table as a Polars frame. The baseline model it fits can
be fitted separately (`fit_baseline`), inspected, saved and passed back in as
`model=`, so a payment run names the exact model it used. `sentences` turns the
table into plain English.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from pbrkit.measure.baseline import KINDS, BaselineModel, BaselineModelWarning
from pbrkit.measure.cohorts import (
    BY_CHOICES,
    CASE_COLUMNS,
    ReoffenceWindows,
    counted_episodes,
    person_codes,
    reference_cohort,
)
from pbrkit.measure.features import SEGMENTS
from pbrkit.measure.outcomes import OUTPUT_COLUMNS, cohort_outcomes, output_columns
from pbrkit.measure.periods import (
    MATURITY_DAYS,
    PERIODS,
    key_label,
    matures_on,
    parse_baseline,
    parse_date,
)
from pbrkit.measure.text import headline, sentence, sentences
from pbrkit.standard.schema import Dataset, conform

__all__ = [
    "BY_CHOICES",
    "KINDS",
    "OUTPUT_COLUMNS",
    "PERIODS",
    "SEGMENTS",
    "BaselineModel",
    "BaselineModelWarning",
    "baseline_cohort",
    "fit_baseline",
    "headline",
    "latest_date",
    "measure",
    "measure_segments",
    "sentence",
    "sentences",
]


def _dataset(data: Dataset | str | Path) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        import pbrkit

        return pbrkit.load(data)
    raise TypeError(f"data must be a Dataset or a path to a data-standard directory, not {type(data).__name__}")


_MEASURED_EPISODE_COLUMNS = (
    "episode_id", "person_id", "start_date", "area_id", "provider_id", *CASE_COLUMNS,
)


def _tables(data: Dataset) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Episodes and offences in the standard's types, with the columns the
    measures rely on filled in.

    Producers should hand over conformed frames already; casting again is cheap
    and turns a frame built by hand into exactly what the loader would give.
    """
    frames = []
    for name, frame in (("episodes", data.episodes), ("offences", data.offences)):
        try:
            frames.append(conform(name, frame))
        except (pl.exceptions.PolarsError, ValueError) as exc:
            raise ValueError(f"{name} does not follow the data standard: {exc}") from None
    episodes, offences = frames
    # Only what the measures read: fewer columns to carry through every filter.
    episodes = episodes.select(_MEASURED_EPISODE_COLUMNS)
    offences = offences.select("person_id", "offence_date", "disposal_date")
    for name, frame, cols in (
        ("episodes", episodes, ("episode_id", "person_id", "start_date", "provider_id", "area_id")),
        ("offences", offences, ("person_id", "offence_date", "disposal_date")),
    ):
        for col in cols:
            if frame[col].null_count():
                raise ValueError(f"{name}.{col} has {frame[col].null_count():,} missing values; it is required")
    return episodes, offences


def latest_date(data: Dataset) -> dt.date:
    """The latest date in the episodes and offences: the default as-of date.

    Offence and disposal dates are included because the data are complete up to
    the last disposal recorded; service events are left out, since their due
    dates can lie in the future.
    """
    dates = [
        data.episodes["start_date"].max(),
        data.offences["offence_date"].max() if data.offences.height else None,
        data.offences["disposal_date"].max() if data.offences.height else None,
    ]
    dates = [d for d in dates if d is not None]
    if not dates:
        raise ValueError("the dataset has no dates: no episodes or offences")
    return max(dates)


def _as_of(data: Dataset, as_of: Any) -> dt.date:
    return latest_date(data) if as_of is None else parse_date(as_of, "as-of date")


def _prepared(data: Dataset) -> tuple[pl.DataFrame, ReoffenceWindows]:
    """Episodes with their `person` code, and the offences as reoffence windows."""
    episodes, offences = person_codes(*_tables(data))
    return episodes, ReoffenceWindows.of(offences)


def _baseline_frame(
    episodes: pl.DataFrame, windows: ReoffenceWindows, baseline: Any, as_of: dt.date
) -> tuple[pl.DataFrame, tuple[dt.date, dt.date]]:
    first, last = parse_baseline(baseline)
    ready = last + dt.timedelta(days=MATURITY_DAYS)
    if ready > as_of:
        raise ValueError(
            f"the baseline {first} to {last} is not mature at the as-of date {as_of}: its reoffences "
            f"are complete only from {ready}. Choose an earlier baseline or a later as-of date."
        )
    reference = reference_cohort(episodes, first, last)
    if reference.height == 0:
        raise ValueError(f"no episodes start in the baseline {first} to {last}: the reference cohort is empty")
    return windows.count(reference), (first, last)


def baseline_cohort(
    data: Dataset | str | Path,
    baseline: Any = ("2011-01-01", "2011-12-31"),
    as_of: Any = None,
) -> pl.DataFrame:
    """The reference cohort the baseline model is fitted on, with its outcomes:
    one row per person (earliest episode starting in the baseline range) with
    `reoffences` and `reoffended`."""
    data = _dataset(data)
    episodes, windows = _prepared(data)
    return _baseline_frame(episodes, windows, baseline, _as_of(data, as_of))[0].drop("person")


def _check_ogrs(frame: pl.DataFrame, what: str) -> None:
    missing = frame["ogrs"].null_count()
    if missing:
        raise ValueError(
            f"the ogrs model needs an OGRS score for every {what}, but {missing:,} of "
            f"{frame.height:,} have none; use the default case-mix model instead"
        )


def fit_baseline(
    data: Dataset | str | Path,
    baseline: Any = ("2011-01-01", "2011-12-31"),
    as_of: Any = None,
    kind: str = "default",
) -> BaselineModel:
    """Fit the baseline model (`kind` "default" or "ogrs") on the reference cohort.

    Refuses a baseline whose cohort is not yet mature at `as_of`: its outcomes
    would be undercounted and every later cohort would look better than it is.
    """
    data = _dataset(data)
    _check_kind(kind, data)
    episodes, windows = _prepared(data)
    return _fit(episodes, windows, baseline, _as_of(data, as_of), kind)


def _check_kind(kind: str, data: Dataset) -> None:
    if kind not in KINDS:
        raise ValueError(f"model must be one of {', '.join(KINDS)} or a fitted BaselineModel, not {kind!r}")
    if kind == "ogrs" and "ogrs" not in data.episodes.columns:
        raise ValueError("the ogrs model needs the episodes column ogrs, which this dataset does not have")


def _fit(
    episodes: pl.DataFrame, windows: ReoffenceWindows, baseline: Any, as_of: dt.date, kind: str
) -> BaselineModel:
    reference, (first, last) = _baseline_frame(episodes, windows, baseline, as_of)
    if kind == "ogrs":
        _check_ogrs(reference, "offender in the reference cohort")
    return BaselineModel(kind=kind).fit(reference, baseline=(first, last))


def measure(
    data: Dataset | str | Path,
    by: str = "provider",
    period: str = "quarter",
    baseline: Any = ("2011-01-01", "2011-12-31"),
    as_of: Any = None,
    segment: str | None = None,
    model: str | BaselineModel = "default",
) -> pl.DataFrame:
    """The standard's measures for every cohort of every group.

    Parameters
    ----------
    data : a `Dataset`, or a path to a data-standard directory.
    by : "provider", "area" or "all" — who a cohort belongs to (at the start).
    period : "quarter" (labels `2015Q2`) or "year" (`2015`).
    baseline : the reference period, `("2011-01-01", "2011-12-31")`, `"2011"`
        or `"2011-01-01:2011-12-31"`; ignored when `model` is a fitted model.
    as_of : the date the data are complete to; default the latest date in them.
    segment : None, or "risk_tier", "sentence" or "prior_band": split each
        cohort by that feature of the counted episode (a `segment` column then
        follows `period`; the segments of a cohort add up to the cohort).
    model : "default" (case-mix), "ogrs", or a fitted `BaselineModel`.

    Returns one row per (group, period[, segment]) with at least one episode,
    sorted, with the columns `OUTPUT_COLUMNS`. Immature cohorts have
    `mature = false`, `offenders`, and nulls in every other figure.
    """
    return measure_segments(data, by, period, baseline, as_of, (segment,), model)[1][segment]


def measure_segments(
    data: Dataset | str | Path,
    by: str = "provider",
    period: str = "quarter",
    baseline: Any = ("2011-01-01", "2011-12-31"),
    as_of: Any = None,
    segments: tuple[str | None, ...] = (None,),
    model: str | BaselineModel = "default",
) -> tuple[BaselineModel, dict[str | None, pl.DataFrame]]:
    """`measure` for several segmentations at once (None = unsegmented): the
    model used, and the tables keyed by segment.

    The person codes, the cohorts, the reoffence counts and the model fit are
    shared, so a payment run that needs whole cohorts and their risk tiers
    measures the data once rather than once per table. Each table equals what
    `measure(..., segment=s)` returns.
    """
    if by not in BY_CHOICES:
        raise ValueError(f"by must be one of {', '.join(BY_CHOICES)}, not {by!r}")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    for segment in segments:
        if segment is not None and segment not in SEGMENTS:
            raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}, not {segment!r}")
    data = _dataset(data)
    as_of = _as_of(data, as_of)
    if isinstance(model, BaselineModel):
        fitted = model
        if not hasattr(fitted, "coef_"):
            raise ValueError("the BaselineModel passed as model= is not fitted")
    elif isinstance(model, str):
        _check_kind(model, data)
    else:
        raise TypeError(f"model must be 'default', 'ogrs' or a fitted BaselineModel, not {type(model).__name__}")
    episodes, windows = _prepared(data)
    if isinstance(model, str):
        fitted = _fit(episodes, windows, baseline, as_of, model)

    counted = counted_episodes(episodes, by, period)
    labels = {k: key_label(k, period) for k in counted["period"].unique().to_list()}
    mature_by_period = {k: matures_on(label) <= as_of for k, label in labels.items()}
    is_mature = pl.col("period").replace_strict(mature_by_period, return_dtype=pl.Boolean)
    mature = windows.count(counted.filter(is_mature))
    immature = counted.filter(~is_mature)
    if fitted.kind == "ogrs":
        _check_ogrs(mature, "offender in a mature cohort")
    tables: dict[str | None, pl.DataFrame] = {}
    for segment in dict.fromkeys(segments):
        keys = ["group", "period"]
        seg_mature, seg_immature = mature, immature
        if segment is not None:
            seg_mature = mature.with_columns(SEGMENTS[segment].expr().alias("segment"))
            seg_immature = immature.with_columns(SEGMENTS[segment].expr().alias("segment"))
            keys.append("segment")
        cells = _case_mix_cells(seg_mature, keys, fitted)
        # Sorted on the period number (time order) and the segment's level order,
        # then labelled: `2015Q2`, and the segment's level as text.
        table = cohort_outcomes(cells, seg_immature.select(keys), keys, fitted.phi_).sort(keys)
        table = table.with_columns(pl.col("period").replace_strict(labels, return_dtype=pl.String))
        if segment is not None:
            table = table.with_columns(pl.col("segment").cast(pl.String))
        tables[segment] = table.select(output_columns(segment is not None))
    return fitted, tables


def _case_mix_cells(mature: pl.DataFrame, keys: list[str], model: BaselineModel) -> pl.DataFrame:
    """Offenders, reoffenders and reoffences per cohort and case-mix cell, with
    the cell's expected `p` and `mu`.

    Offenders in one cell share one expectation, so the expected sums are
    `sum over cells of offenders * p`, exactly the per-offender sums. Counting
    first keeps the model evaluation small, and sorting the cells fixes the
    order of the floating-point sums, so the output does not depend on the
    order of the input rows.
    """
    predictors = model.predictors(mature)
    names = predictors.columns
    cells = (
        pl.concat([mature.select(*keys, "reoffended", "reoffences"), predictors], how="horizontal")
        .group_by([*keys, *names])
        .agg(
            offenders=pl.len(),
            reoffenders=pl.col("reoffended").sum(),
            reoffences=pl.col("reoffences").sum(),
        )
        .sort([*keys, *names])
    )
    return pl.concat([cells, model.expect(cells)], how="horizontal")
