"""The `pbrkit` command: one thin command per capability.

Each command parses its options, calls the pure core, and prints a table plus a
plain-English sentence. Input errors exit with code 2.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

import pbrkit
from pbrkit.measure.cohorts import BY_CHOICES
from pbrkit.measure.features import SEGMENTS
from pbrkit.measure.periods import PERIODS

app = typer.Typer(
    name="pbrkit",
    help="Payment-by-results commissioning of rehabilitation services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pbrkit {pbrkit.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Measure, pay, simulate and evaluate payment-by-results contracts."""


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the tables into.")],
    start: Annotated[str, typer.Option(help="First day of the window, YYYY-MM-DD.")] = "2011-01-01",
    years: Annotated[int, typer.Option(min=1, max=30, help="Whole years in the window.")] = 7,
    scale: Annotated[float, typer.Option(min=0.0001, max=10.0, help="1.0 = national volumes.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 1,
    fmt: Annotated[Format, typer.Option("--format", help="File format.")] = Format.parquet,
) -> None:
    """Generate a synthetic national probation population in data standard v1."""
    import datetime as dt

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pbrkit.synth import generate, write
    from pbrkit.report.volumes import volume_sentence

    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        console.print(f"[red]--start {start!r}: must be a date YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("synthesising", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        data = generate(start=start_date, years=years, scale=scale, seed=seed, progress=progress)
        bar.update(task, description=f"writing {fmt.value}", completed=0.95)
        paths = write(data, out, fmt.value)
        bar.update(task, description="written", completed=1.0)
    for p in paths:
        console.print(f"  {p}")
    console.print(volume_sentence(data))


@app.command()
def summary(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory.")],
    baseline: Annotated[str, typer.Option(help="Baseline period for expected rates, e.g. 2011.")] = "2011",
) -> None:
    """Volumes and reoffending by area: episodes, people, and the latest mature annual cohort."""
    from rich.table import Table

    from pbrkit.measure import measure
    from pbrkit.measure.periods import parse_baseline
    from pbrkit.report.volumes import area_summary, volume_sentence, volumes_by_year

    data = _load_or_exit(data_dir)
    try:
        measured = measure(data, by="area", period="year", baseline=parse_baseline(baseline))
    except ValueError as exc:  # e.g. a baseline not yet mature: volumes only
        measured = None
        console.print(f"[yellow]No reoffending rates: {exc}[/yellow]")
    years = volumes_by_year(data)
    table = Table(title="Episodes by year of start")
    for col in years.columns:
        table.add_column(col, justify="right")
    for row in years.iter_rows(named=True):
        table.add_row(*[str(v) if k == "year" else f"{v:,}" for k, v in row.items()])
    console.print(table)
    areas = area_summary(data, measured)
    table = Table(title="Areas: volumes and the latest mature annual cohort")
    table.add_column("area", overflow="fold")
    for col in ("episodes", "high risk", "cohort", "offenders", "reoffended", "expected", "frequency"):
        table.add_column(col, justify="right", no_wrap=True)
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    for r in areas.iter_rows(named=True):
        table.add_row(r["area_id"], f"{r['episodes']:,}", pct(r["high_share"]),
                      r["cohort"] or "", "" if r["offenders"] is None else f"{r['offenders']:,}",
                      pct(r["binary_rate"]), pct(r["expected_rate"]),
                      "" if r["frequency"] is None else f"{r['frequency']:.2f}")
    console.print(table)
    console.print(volume_sentence(data))
    rated = areas.drop_nulls("binary_rate")
    if rated.height:
        hi = rated.sort("binary_rate").row(-1, named=True)
        lo = rated.sort("binary_rate").row(0, named=True)
        console.print(
            f"In the {hi['cohort']} cohort, reoffending ranged from {pct(lo['binary_rate'])} in {lo['area_id']} "
            f"to {pct(hi['binary_rate'])} in {hi['area_id']}, before any adjustment for case mix.")


@app.command()
def validate(
    data_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A data-standard directory.")],
) -> None:
    """Check a dataset against data standard v1 and list every problem, grouped by rule.

    Exits 0 when the dataset meets the standard, 2 when it does not.
    """
    from pbrkit.standard.problems import grouped_lines
    from pbrkit.standard.validate import validate_dataset

    try:
        findings = validate_dataset(data_dir)
    except (FileNotFoundError, NotADirectoryError) as exc:
        typer.echo(f"Nothing to validate: {exc}.")
        raise typer.Exit(2) from None
    for line in grouped_lines(findings.problems):
        typer.echo(line)  # plain text, never Rich markup: the lines are for grep
    console.print(findings.summary(), style="green" if findings.ok else "red", markup=False,
                  highlight=False, soft_wrap=True)
    if not findings.ok:
        raise typer.Exit(2)


def _choices(name: str, values) -> type[Enum]:
    """A Typer choice type from the core's own tuple of values (one source of truth)."""
    return Enum(name, {v: v for v in values}, type=str)


MeasureBy = _choices("MeasureBy", BY_CHOICES)
MeasurePeriod = _choices("MeasurePeriod", PERIODS)
MeasureSegment = _choices("MeasureSegment", SEGMENTS)
FunnelPoints = _choices("FunnelPoints", ("latest", "pooled"))


@app.command()
def measure(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory.")],
    out: Annotated[Path, typer.Option("--out", help="Output table, .csv or .parquet.")],
    by: Annotated[MeasureBy, typer.Option(help="Group cohorts by provider, area, or all together.")] = (
        MeasureBy.provider
    ),
    period: Annotated[MeasurePeriod, typer.Option(help="Cohort period.")] = MeasurePeriod.quarter,
    baseline: Annotated[str, typer.Option(
        help="Reference period for the baseline model: START:END (YYYY-MM-DD:YYYY-MM-DD) or a year.")
    ] = "2011-01-01:2011-12-31",
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Date the data are complete to, YYYY-MM-DD (default: the latest date in the data).")
    ] = None,
    segment: Annotated[Optional[MeasureSegment], typer.Option(help="Split each cohort by this feature.")] = None,
    model: Annotated[str, typer.Option(
        help="Baseline model: default (case mix), ogrs (the supplied OGRS score, recalibrated), "
             "or a model FILE.json saved earlier with --save-model.")
    ] = "default",
    chart: Annotated[Optional[Path], typer.Option(help="Write a funnel plot and time series to FILE.html.")] = None,
    funnel: Annotated[FunnelPoints, typer.Option(
        help="Funnel points: the latest mature period, or pooled over all mature periods.")
    ] = FunnelPoints.latest,
    save_model: Annotated[Optional[Path], typer.Option(
        "--save-model", help="Save the fitted baseline model as FILE.json.")
    ] = None,
) -> None:
    """Proven reoffending per group and cohort against a case-mix adjusted baseline.

    Writes the data standard's measures table and prints it with one plain
    sentence per cohort. Immature cohorts are listed, never measured.
    """
    import warnings

    from rich.table import Table

    from pbrkit.measure import BaselineModel, fit_baseline, headline, sentences
    from pbrkit.measure import measure as run_measure
    from pbrkit.measure.periods import parse_baseline, parse_date
    from pbrkit.measure.text import latest_mature_period

    def fail(message: str) -> None:
        console.print(f"error: {message}", style="red", markup=False, highlight=False)
        raise typer.Exit(2)

    if out.suffix.lower() not in (".csv", ".parquet"):
        fail(f"--out {out}: the file name must end in .csv or .parquet")
    if chart is not None and chart.suffix.lower() not in (".html", ".htm"):
        fail(f"--chart {chart}: the file name must end in .html")
    if save_model is not None and save_model.suffix.lower() != ".json":
        fail(f"--save-model {save_model}: the file name must end in .json")
    try:
        baseline_range = parse_baseline(baseline)
        as_of_date = None if as_of is None else parse_date(as_of, "--as-of")
    except ValueError as exc:
        fail(str(exc))
    if model not in ("default", "ogrs") and not model.lower().endswith(".json"):
        fail(f"--model {model!r}: must be default, ogrs, or a saved model FILE.json")
    if not data_dir.is_dir():
        fail(f"{data_dir}: not a data-standard directory")

    data = _load_or_exit(data_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if model in ("default", "ogrs"):
                fitted = fit_baseline(data, baseline_range, as_of_date, kind=model)
            else:
                fitted = BaselineModel.load(model)
            results = run_measure(data, by=by.value, period=period.value, as_of=as_of_date,
                                  segment=None if segment is None else segment.value, model=fitted)
        except ValueError as exc:
            fail(str(exc))
    for w in caught:
        console.print(f"warning: {w.message}", style="bold yellow", markup=False, highlight=False)

    if out.suffix.lower() == ".csv":
        results.write_csv(out)
    else:
        results.write_parquet(out)
    if save_model is not None:
        fitted.save(save_model)
    if chart is not None:
        from pbrkit.report.charts import measure_chart, save_html

        save_html(measure_chart(results, pooled=funnel is FunnelPoints.pooled, model=fitted.kind), chart)

    source = "loaded from " + model if model not in ("default", "ogrs") else "fitted for this run"
    console.print(f"Model ({source}): {fitted.describe()}", markup=False, highlight=False)
    shown, note = results, ""
    latest = latest_mature_period(results)
    big = results.height > 40
    if big and latest is not None:
        shown = results.filter(results["period"] == latest)
        note = f"showing the {shown.height} cohorts of {latest}, the latest mature period, of {results.height} rows"
    table = Table(title=f"Proven reoffending by {by.value} and {period.value}", caption=note or None)
    names = ["group", "period"] + (["segment"] if segment is not None else []) + [
        "offenders", "reoffended", "expected", "diff (pts)", "p-value", "per reoffender",
        "expected per reoffender", "z freq."]
    for name in names:
        if name in ("group", "period", "segment"):
            table.add_column(name, justify="left", overflow="fold")
        else:
            table.add_column(name, justify="right")
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    num = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    for r in shown.iter_rows(named=True):
        keys = [r["group"], r["period"]] + ([r["segment"]] if segment is not None else [])
        if not r["mature"]:
            table.add_row(*keys, f"{r['offenders']:,}", "immature", *[""] * 6)
            continue
        table.add_row(*keys, f"{r['offenders']:,}", pct(r["binary_rate"]), pct(r["expected_rate"]),
                      num(r["rate_diff_pp"], "+.1f"), num(r["p_value"], ".3f"), num(r["frequency"], ".2f"),
                      num(r["expected_frequency"], ".2f"), num(r["z_frequency"], "+.2f"))
    console.print(table)
    lines = sentences(results, segment=None if segment is None else segment.value, model=fitted.kind,
                      latest_only=big and latest is not None)
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if big and latest is not None:
        console.print(f"({len(lines)} sentences for {latest} shown; {results.height} rows in {out}.)",
                      markup=False, highlight=False)
    console.print(headline(results), markup=False, highlight=False, soft_wrap=True)
    console.print(f"Wrote {out}" + (f" and {chart}" if chart else "") + (f"; model saved to {save_model}"
                  if save_model else ""), markup=False, highlight=False)


def _load_or_exit(path: Path):
    """Load a dataset, or print its problems and exit 2."""
    from pbrkit.standard.problems import DataStandardError

    try:
        return pbrkit.load(path)
    except DataStandardError as exc:
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


if __name__ == "__main__":  # pragma: no cover
    app()
