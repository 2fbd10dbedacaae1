"""The facts a payment run reads, computed once for every contract and quarter.

A payment run for 21 contracts over 28 quarters asks the same questions of
the data hundreds of times: how many episodes a provider started in a quarter,
how many case-months it supervised, how many service events it missed, and what
its cohorts' proven reoffending was against the baseline. Answering them once,
as small tables keyed by provider and quarter, makes each statement a handful
of dictionary look-ups, and the measure is `pbrkit.measure` itself, so a
statement's outcome figures are exactly the published ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pbrkit.contracts.schema import Contract
from pbrkit.measure import BaselineModel, measure_segments
from pbrkit.measure.periods import parse_baseline, parse_date
from pbrkit.standard.schema import Dataset, conform

#: A service level's counting rule: what makes an event of a kind a failure.
ServiceRule = tuple[str, int, bool]  # (kind, days_allowed, incomplete_is_failure)


def _quarter_of(column: str) -> pl.Expr:
    d = pl.col(column)
    return (d.dt.year().cast(pl.Int32) * 4 + d.dt.quarter().cast(pl.Int32) - 1).alias("quarter")


def _month_of(expr: pl.Expr) -> pl.Expr:
    return expr.dt.year().cast(pl.Int32) * 12 + expr.dt.month().cast(pl.Int32) - 1


@dataclass
class PaymentInputs:
    """Per-provider, per-quarter facts for the contracts of one payment run.

    Quarters are integer indices (`quarter_index("2015Q1")`); measure rows are
    keyed by the cohort's label. Build with `prepare`.
    """

    as_of: dt.date
    #: (provider, quarter) -> {sentence: new episodes}
    episodes: dict[tuple[str, int], dict[str, int]]
    #: supervision months -> (provider, quarter) -> case-months
    case_months: dict[int, dict[tuple[str, int], int]]
    #: service rule -> (provider, quarter) -> counts of due, met, late, missing, incomplete, pending
    service: dict[ServiceRule, dict[tuple[str, int], dict[str, int]]]
    #: (baseline, segment or None) -> (provider, cohort label) -> measure row(s)
    measures: dict[tuple[str, str | None], dict[tuple[str, str], list[dict[str, Any]]]]
    #: baseline -> the fitted model the outcome figures came from
    models: dict[str, BaselineModel] = field(default_factory=dict)
    #: baseline year label -> provider -> episodes started in it
    baseline_volumes: dict[str, dict[str, int]] = field(default_factory=dict)

    def new_episodes(self, provider: str, quarter: int) -> dict[str, int]:
        return self.episodes.get((provider, quarter), {})

    def cohort(self, baseline: str, provider: str, cohort: str, segment: str | None = None) -> list[dict[str, Any]]:
        return self.measures[(baseline, segment)].get((provider, cohort), [])


def _episode_counts(episodes: pl.DataFrame) -> dict[tuple[str, int], dict[str, int]]:
    table = episodes.group_by("provider_id", _quarter_of("start_date"), "sentence").agg(n=pl.len())
    out: dict[tuple[str, int], dict[str, int]] = {}
    for provider, quarter, sentence, n in table.iter_rows():
        out.setdefault((provider, quarter), {})[str(sentence)] = n
    return out


def _case_months(episodes: pl.DataFrame, transfers: pl.DataFrame, months: int) -> dict[tuple[str, int], int]:
    """Case-months per provider and quarter: an episode counts in each month
    whose first day falls while it is supervised, from its start for `months`
    months, or until it is transferred to another provider if that is sooner.

    Counted with a difference array over month numbers (+1 where supervision
    starts counting, -1 where it stops), so the work is linear in episodes
    however long supervision runs.
    """
    moved = (
        transfers.join(episodes.select("episode_id", "provider_id", "start_date"), on="episode_id")
        .filter(pl.col("to_provider_id") != pl.col("provider_id"), pl.col("transfer_date") >= pl.col("start_date"))
        .group_by("episode_id")
        .agg(moved=pl.col("transfer_date").min())
    )
    spans = episodes.select("episode_id", "provider_id", "start_date").join(moved, on="episode_id", how="left")
    end = pl.col("start_date").dt.offset_by(f"{months}mo")
    end = pl.when(pl.col("moved").is_not_null() & (pl.col("moved") < end)).then(pl.col("moved")).otherwise(end)
    # The first month whose first day is on or after a date d: month(d), plus
    # one unless d is itself the first of its month.
    first_on_or_after = lambda d: _month_of(d) + (d.dt.day() != 1).cast(pl.Int32)
    spans = spans.select(
        "provider_id",
        begin=first_on_or_after(pl.col("start_date")),
        stop=first_on_or_after(end),
    ).filter(pl.col("stop") > pl.col("begin"))
    if spans.height == 0:
        return {}
    steps = pl.concat([
        spans.select("provider_id", month="begin", step=pl.lit(1, pl.Int64)),
        spans.select("provider_id", month="stop", step=pl.lit(-1, pl.Int64)),
    ]).group_by("provider_id", "month").agg(pl.col("step").sum())
    lo, hi = steps["month"].min(), steps["month"].max()
    grid = steps.select("provider_id").unique().join(
        pl.DataFrame({"month": pl.int_range(lo, hi + 1, eager=True).cast(pl.Int32)}), how="cross"
    )
    open_cases = (
        grid.join(steps, on=["provider_id", "month"], how="left")
        .sort("provider_id", "month")
        .with_columns(open=pl.col("step").fill_null(0).cum_sum().over("provider_id"))
        .group_by("provider_id", quarter=pl.col("month") // 3)
        .agg(pl.col("open").sum())
        .filter(pl.col("open") > 0)
    )
    return {(p, q): n for p, q, n in open_cases.iter_rows()}


def responsible_events(
    episodes: pl.DataFrame, events: pl.DataFrame, transfers: pl.DataFrame, kinds: Iterable[str]
) -> pl.DataFrame:
    """Service events of the given kinds, each with the provider responsible on
    its due date and the quarter it fell due.

    Responsibility follows transfers: an event due after a risk-escalation
    transfer is the receiving provider's, not the one that started the case.
    Only events of transferred episodes need the as-of join on transfer dates;
    the rest (most) take the starting provider with a plain join.
    """
    due = events.filter(pl.col("kind").is_in(list(kinds))).join(
        episodes.select("episode_id", "provider_id"), on="episode_id", how="inner"
    )
    moved_ids = transfers.get_column("episode_id").unique()
    moved = due.filter(pl.col("episode_id").is_in(moved_ids.implode()))
    if moved.height:
        moves = transfers.select("episode_id", "transfer_date", "to_provider_id").sort("episode_id", "transfer_date")
        moved = (
            moved.sort("episode_id", "due_date")
            .join_asof(moves, left_on="due_date", right_on="transfer_date", by="episode_id",
                       strategy="backward", check_sortedness=False)
            .with_columns(provider_id=pl.coalesce("to_provider_id", "provider_id"))
            .drop("transfer_date", "to_provider_id")
        )
        due = pl.concat([due.filter(~pl.col("episode_id").is_in(moved_ids.implode())), moved])
    return due.with_columns(_quarter_of("due_date"))


def _service_counts(due: pl.DataFrame, rule: ServiceRule, as_of: dt.date) -> dict[tuple[str, int], dict[str, int]]:
    """Events of one kind (from `responsible_events`) by provider and quarter,
    split into met, late, missing, incomplete and pending (deadline after the
    as-of date and not yet done)."""
    kind, days_allowed, incomplete_is_failure = rule
    deadline = pl.col("due_date") + pl.duration(days=days_allowed)
    done = pl.col("done_date").is_not_null()
    on_time = done & (pl.col("done_date") <= deadline)
    incomplete = pl.col("complete").eq(False).fill_null(False) & pl.lit(incomplete_is_failure)
    pending = ~done & (deadline > pl.lit(as_of))
    table = (
        due.filter(pl.col("kind") == kind)
        .group_by("provider_id", "quarter")
        .agg(
            due=pl.len(),
            pending=pending.sum(),
            missing=(~done & ~pending).sum(),
            late=(done & ~on_time).sum(),
            incomplete=(on_time & incomplete).sum(),
            met=(on_time & ~incomplete).sum(),
        )
    )
    out = {}
    for row in table.iter_rows(named=True):
        key = (row.pop("provider_id"), row.pop("quarter"))
        out[key] = {k: int(v) for k, v in row.items()}
    return out


def _measure_rows(table: pl.DataFrame) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in table.iter_rows(named=True):
        out.setdefault((row["group"], row["period"]), []).append(row)
    return out


def _baseline_volumes(episodes: pl.DataFrame, baseline: str) -> dict[str, int]:
    first, last = parse_baseline(baseline)
    table = episodes.filter(pl.col("start_date").is_between(first, last)).group_by("provider_id").agg(n=pl.len())
    return dict(table.iter_rows())


def prepare(data: Dataset, as_of: dt.date | str, contracts: Iterable[Contract]) -> PaymentInputs:
    """Everything the statements of `contracts` will read, from one dataset as at `as_of`."""
    contracts = list(contracts)
    as_of = parse_date(as_of, "as-of date")
    episodes = conform("episodes", data.episodes)
    transfers = conform("transfers", data.transfers) if data.transfers is not None else None
    events = conform("service_events", data.service_events) if data.service_events is not None else None
    if transfers is None:
        transfers = pl.DataFrame(schema={"episode_id": pl.String, "transfer_date": pl.Date, "to_provider_id": pl.String})

    months = sorted({c.fee.supervision_months for c in contracts if c.fee and c.fee.per_case_month is not None})
    rules = sorted({
        (s.kind, s.days_allowed, s.incomplete_is_failure) for c in contracts for s in c.service_levels
    })
    measured = sorted({
        (c.outcomes.baseline if c.outcomes else "2011", seg)
        for c in contracts
        if c.outcomes or c.at_risk or c.renewal
        for seg in (None, c.outcomes.binary.segment if c.outcomes and c.outcomes.binary else None)
    }, key=lambda k: (k[0], k[1] or ""))
    forecast_years = sorted({
        c.fee.forecast.baseline for c in contracts
        if c.fee and c.fee.forecast and c.fee.forecast.baseline_factor is not None
    })

    models: dict[str, BaselineModel] = {}
    measures: dict[tuple[str, str | None], dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for baseline in sorted({b for b, _ in measured}):
        segments = tuple(seg for b, seg in measured if b == baseline)
        models[baseline], tables = measure_segments(
            data, by="provider", period="quarter", baseline=baseline, as_of=as_of, segments=segments
        )
        for seg, table in tables.items():
            measures[(baseline, seg)] = _measure_rows(table)
    due = None
    if rules and events is not None and events.height:
        due = responsible_events(episodes, events, transfers, {kind for kind, _, _ in rules})
    return PaymentInputs(
        as_of=as_of,
        episodes=_episode_counts(episodes),
        case_months={m: _case_months(episodes, transfers, m) for m in months},
        service={r: ({} if due is None else _service_counts(due, r, as_of)) for r in rules},
        measures=measures,
        models=models,
        baseline_volumes={y: _baseline_volumes(episodes, y) for y in forecast_years},
    )


__all__ = ["PaymentInputs", "ServiceRule", "prepare"]
