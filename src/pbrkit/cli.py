"""The `pbrkit` command: one thin command per capability.

Each command parses its options, calls the pure core, and prints a table plus a
plain-English sentence. Input errors exit with code 2.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import polars as pl
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
        bool | None,
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

    from pbrkit.report.volumes import volume_sentence
    from pbrkit.synth import generate, write

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
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"
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
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date the data are complete to, YYYY-MM-DD (default: the latest date in the data).")
    ] = None,
    segment: Annotated[MeasureSegment | None, typer.Option(help="Split each cohort by this feature.")] = None,
    model: Annotated[str, typer.Option(
        help="Baseline model: default (case mix), ogrs (the supplied OGRS score, recalibrated), "
             "or a model FILE.json saved earlier with --save-model.")
    ] = "default",
    chart: Annotated[Path | None, typer.Option(help="Write a funnel plot and time series to FILE.html.")] = None,
    funnel: Annotated[FunnelPoints, typer.Option(
        help="Funnel points: the latest mature period, or pooled over all mature periods.")
    ] = FunnelPoints.latest,
    save_model: Annotated[Path | None, typer.Option(
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
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"
    num = lambda v, f: "" if v is None else format(v, f)
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


# --- pbrkit contract: check, list and show contract designs -------------------

contract_app = typer.Typer(
    help="Contract designs and contracts: check TOML files, list and show the shipped designs.",
    no_args_is_help=True,
)
app.add_typer(contract_app, name="contract")


@contract_app.command("check")
def contract_check(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Design or contract TOML files.")],
) -> None:
    """Load each design or contract file and summarise its terms.

    Exits 0 when every file loads, 2 when any does not; each problem is printed
    to stderr as `FILE: key.path: rule`.
    """
    from rich.table import Table

    from pbrkit.contracts import Contract, ContractError, load_file
    from pbrkit.contracts.text import terms_summary

    failed = False
    for path in files:
        try:
            item = load_file(path)
        except ContractError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(f"{exc.source}: {problem}", err=True)  # plain text, for grep
            continue
        kind = "contract" if isinstance(item, Contract) else "design"
        table = Table(title=f"{path}: {kind} {item.name}" + (f" ({item.title})" if item.title else ""),
                      show_header=False, title_justify="left")
        table.add_column("component", no_wrap=True)
        table.add_column("terms", overflow="fold")
        for component, terms in terms_summary(item):
            table.add_row(component, terms)
        console.print(table, markup=False, highlight=False)
        console.print(f"{path}: OK", markup=False, highlight=False)
    if failed:
        raise typer.Exit(2)


@contract_app.command("list")
def contract_list() -> None:
    """The designs shipped with pbrkit: name and title."""
    from rich.table import Table

    from pbrkit.contracts import library

    table = Table(title="Contract designs (pbrkit contract show NAME for the terms)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("title", overflow="fold")
    for name, item in library().items():
        table.add_row(name, item.title)
    console.print(table, markup=False, highlight=False)


@contract_app.command("show")
def contract_show(
    name: Annotated[str, typer.Argument(help="A design name from `pbrkit contract list`.")],
) -> None:
    """Print a shipped design's TOML source, comments included."""
    from pbrkit.contracts import ContractError, design_source

    try:
        text = design_source(name)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(text, nl=not text.endswith("\n"))  # plain: TOML [tables] are not Rich markup


# --- pbrkit pay, statement, renewals, ledger verify ----------------------------

DB_HELP = "Ledger database: a SQLite file path (default ledger.sqlite), or a SQLAlchemy URL (postgresql+psycopg://...)."


def _open_ledger(db: str, create: bool = True):
    from pbrkit.pay.ledger import Ledger, LedgerError

    try:
        return Ledger(db, create=create)
    except LedgerError as exc:
        typer.echo(f"--db {db}: {exc}", err=True)
        raise typer.Exit(2) from None


def _contracts_for(data, contracts_dir: Path | None, design_name: str | None, public: list[str]):
    """The contracts to pay: a directory of contract files, or a library design
    applied to every provider in the data except the public ones (the NPS)."""
    from pbrkit.contracts import ContractError, design, load_contracts

    if (contracts_dir is None) == (design_name is None):
        typer.echo("give exactly one of --contracts DIR and --design NAME", err=True)
        raise typer.Exit(2)
    try:
        if contracts_dir is not None:
            contracts = load_contracts(contracts_dir)
        else:
            chosen = design(design_name)
            providers = sorted(set(data.episodes["provider_id"].unique().to_list()) - set(public))
            contracts = [chosen.for_provider(p) for p in providers]
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    known = set(data.episodes["provider_id"].unique().to_list())
    unknown = sorted({c.provider_id for c in contracts} - known)
    if unknown:
        typer.echo(f"contracts name providers with no episodes in the data: {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    return contracts


@app.command()
def pay(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory.")],
    through: Annotated[str, typer.Option(help="Last quarter to pay, e.g. 2016Q4.")],
    db: Annotated[str, typer.Option(help=DB_HELP)] = "ledger.sqlite",
    contracts_dir: Annotated[Path | None, typer.Option("--contracts", help="Directory of contract TOML files.")] = None,
    design_name: Annotated[str | None, typer.Option("--design", help="A library design for every CRC provider.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Date the data are complete to; default their latest date.")] = None,
    public: Annotated[list[str], typer.Option(help="Providers --design leaves out (public sector).")] = ["nps"],  # noqa: B006
) -> None:
    """Pay every contract from its start through a quarter, and record the
    statements in the ledger in one transaction.

    Re-running on the same data writes nothing; after late convictions or
    corrected data it writes adjustment entries that reference what they correct.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from pbrkit.measure import latest_date
    from pbrkit.measure.periods import parse_date
    from pbrkit.pay import payable_quarters, statements
    from pbrkit.pay.ledger import LedgerError
    from pbrkit.pay.statement import format_pence

    data = _load_or_exit(data_dir)
    contracts = _contracts_for(data, contracts_dir, design_name, public)
    try:
        as_of_date = latest_date(data) if as_of is None else parse_date(as_of, "--as-of")
        total = sum(len(payable_quarters(c, through)) for c in contracts)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    ledger = _open_ledger(db)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("measuring", total=total)

        def progress(what: str) -> None:
            if what != "measuring":
                bar.update(task, advance=1, description=f"paying {what}")

        try:
            # Computed before the ledger's write lock is taken, so a long
            # measurement never holds up another writer.
            paying = list(statements(contracts, data, through, as_of_date, progress=progress))
            bar.update(task, description="recording in the ledger", completed=0)
            summary = ledger.record_run(paying, progress=lambda _: bar.update(task, advance=1))
        except (ValueError, LedgerError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    paid: dict[str, int] = {}
    for s in paying:
        paid[s.contract_id] = paid.get(s.contract_id, 0) + s.total
    outcomes = summary.frame()
    table = Table(title=f"Payment run through {through}, data as at {as_of_date}")
    for col in ("contract", "provider", "statements", "new", "adjusted", "unchanged", "net paid"):
        table.add_column(col, justify="left" if col in ("contract", "provider") else "right")
    counts = outcomes.group_by("contract_id", "outcome").len()
    count = {(cid, kind): n for cid, kind, n in counts.iter_rows()}
    for c in contracts:
        n = [count.get((c.id, kind), 0) for kind in ("new", "adjusted", "unchanged")]
        table.add_row(c.id, c.provider_id, str(sum(n)), *map(str, n), format_pence(paid.get(c.id, 0)))
    console.print(table)
    console.print(summary.sentence())
    console.print(
        f"Across {len(contracts)} contracts the statements through {through} come to "
        f"{format_pence(sum(paid.values()))}."
    )


class StatementFormat(str, Enum):
    table = "table"
    csv = "csv"
    html = "html"


@app.command("statement")
def statement_cmd(
    provider: Annotated[str, typer.Option(help="Provider id.")],
    period: Annotated[str, typer.Option(help="Quarter, e.g. 2016Q1.")],
    db: Annotated[str, typer.Option(help=DB_HELP)] = "ledger.sqlite",
    contract: Annotated[str | None, typer.Option(help="Contract id, when the provider has several.")] = None,
    fmt: Annotated[StatementFormat, typer.Option("--format", help="table, csv or html.")] = StatementFormat.table,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
) -> None:
    """A provider's payment statement for a quarter, as the ledger now pays it."""
    from rich.table import Table

    from pbrkit.pay.ledger import LedgerError
    from pbrkit.pay.statement import format_pence
    from pbrkit.report.statement import statement_html

    ledger = _open_ledger(db, create=False)
    try:
        mine = ledger.contracts().filter(pl.col("provider_id") == provider)["contract_id"].to_list()
        if contract is not None and contract not in mine:
            raise LedgerError(f"provider {provider!r} has no contract {contract!r} in the ledger"
                              + (f"; it has {', '.join(mine)}" if mine else ""))
        if contract is None:
            if not mine:
                raise LedgerError(f"no statements for provider {provider!r} in the ledger")
            if len(mine) > 1:
                raise LedgerError(f"provider {provider!r} has {len(mine)} contracts; choose one with "
                                  f"--contract: {', '.join(mine)}")
            contract = mine[0]
        s = ledger.statement(contract, period)
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if fmt is StatementFormat.table or out is not None:
        # A file is written for a person too: show them what is in it.
        table = Table(title=f"{s.provider_id} {s.period}: contract {s.contract_id}")
        for col in ("line", "quantity", "unit", "rate", "amount"):
            table.add_column(col, justify="right" if col in ("quantity", "rate", "amount") else "left",
                             overflow="fold")
        for line in s.lines:
            table.add_row(line.description, str(line.quantity), line.unit, line.rate_text, format_pence(line.amount))
        table.add_row("Net amount due", "", "", "", format_pence(s.total), style="bold")
        console.print(table)
        console.print(s.sentence())
    text = {
        StatementFormat.html: lambda: statement_html(s),
        StatementFormat.csv: lambda: s.frame().write_csv(),
        StatementFormat.table: lambda: s.frame().write_csv(),
    }[fmt]()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        console.print(f"Written {out}")
    elif fmt is not StatementFormat.table:
        typer.echo(text, nl=False)


@app.command()
def renewals(
    db: Annotated[str, typer.Option(help=DB_HELP)] = "ledger.sqlite",
) -> None:
    """The renewal decision for each contract under its design's rule, from the
    cohort results recorded in the ledger."""
    from rich.table import Table

    from pbrkit.contracts import Contract
    from pbrkit.pay.ledger import LedgerError
    from pbrkit.pay.renewal import (
        renewal_decisions,
        renewal_sentence,
        results_from_entries,
    )

    ledger = _open_ledger(db, create=False)
    try:
        contracts = [Contract.model_validate_json(t) for t in ledger.contracts()["contract_terms"].to_list()]
        decisions = renewal_decisions(contracts, results_from_entries(ledger.entries()))
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for (design_name,), group in decisions.group_by("design", maintain_order=True):
        table = Table(title=f"Renewal under {design_name}: improvement = expected minus actual reoffenders "
                            "per 100 offenders, over the assessed cohorts")
        for col in ("provider", "cohorts", "offenders", "improvement", "rank", "renewed", "why"):
            table.add_column(col, justify="right" if col in ("cohorts", "offenders", "improvement", "rank")
                             else "left", overflow="fold")
        for r in group.iter_rows(named=True):
            table.add_row(r["provider_id"], str(r["cohorts"]), f"{r['offenders']:,}", r["improvement_pp"] or "",
                          f"{r['rank']} of {r['of']}", "yes" if r["renewed"] else "no", r["reason"])
        console.print(table)
    console.print(renewal_sentence(decisions))


ledger_app = typer.Typer(help="The payment ledger: verify its hash chain.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify(
    db: Annotated[str, typer.Option(help=DB_HELP)] = "ledger.sqlite",
    anchor: Annotated[str | None, typer.Option(help="A head hash kept elsewhere, to detect removed runs.")] = None,
) -> None:
    """Recompute every hash and link; exit 1 and name the first broken link if any."""
    from pbrkit.pay.ledger import LedgerError

    ledger = _open_ledger(db, create=False)
    try:
        result = ledger.verify(anchor=anchor)
    except LedgerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    console.print(result.sentence(), markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


# --- pbrkit simulate and compare: contract designs in a simulated market -------

SCALE_HELP = "1.0 = national volumes."
SET_HELP = ("Override a design or model parameter by its path, e.g. model.audit_rate=0 or "
            "design.outcomes.binary.price=1500 (value read as JSON when it parses, else text). Repeatable.")
SCENARIO_HELP = ("A named scenario, e.g. volume-shock, no-audit, small-providers, optimistic-bids "
                 "(default base). Repeatable.")
WORKERS_HELP = "Local worker processes (default: one per CPU; 1 runs in this process)."
RAY_HELP = "Run replicates on Ray: 'local' starts a local instance, 'auto' or an address joins a cluster."


# --- pbrkit evaluate: a matched-comparison impact estimate of a service ------------


@app.command()
def evaluate(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory.")],
    treated: Annotated[Path, typer.Option(
        "--treated", help="The episodes the service worked with: a CSV with an episode_id column, "
                          "or one episode_id per line.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for report.html and results.json.")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date the data are complete to, YYYY-MM-DD (default: the latest date in the data).")
    ] = None,
    caliper: Annotated[float, typer.Option(
        min=0.0, help="Caliper in standard deviations of the logit of the propensity score.")] = 0.2,
    neighbours: Annotated[int, typer.Option(min=1, max=20, help="Comparison episodes per treated episode.")] = 1,
    replace: Annotated[bool, typer.Option(
        "--replace/--no-replace", help="Match with replacement (a comparison episode may serve several).")
    ] = False,
    same_period: Annotated[bool, typer.Option(
        "--same-period", help="Only compare with episodes starting between the first and last treated start.")
    ] = False,
    same_areas: Annotated[bool, typer.Option(
        "--same-areas", help="Only compare with episodes in the areas the treated episodes are in.")
    ] = False,
) -> None:
    """Did the service's participants reoffend less than similar people? A matched-comparison estimate."""
    from pbrkit.evaluate import TooFewMatched, UnknownEpisodes
    from pbrkit.evaluate import evaluate as run_evaluation
    from pbrkit.evaluate.treated import TreatedFileError, read_treated
    from pbrkit.report.evaluation import write_evaluation

    try:
        listed = read_treated(treated)
    except TreatedFileError as exc:
        _fail(str(exc))
    data = _load_or_exit(data_dir)
    try:
        result = run_evaluation(data, listed.ids, as_of=as_of, caliper=caliper, neighbours=neighbours,
                                replace=replace, same_period=same_period, same_areas=same_areas)
    except UnknownEpisodes as exc:
        _fail(str(listed.unknown(exc.ids)))
    except TooFewMatched as exc:
        _fail(f"No estimate: {exc}")
    except ValueError as exc:
        _fail(str(exc))
    results, report = write_evaluation(out, result)
    table = result.outcome_table()
    console.print(table.select("outcome", "treated", "comparison", "difference", "ci_low", "ci_high", "p_value"))
    for line in (result.matching_sentence, *result.sentences, result.balance_sentence, *result.notes):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"Wrote {report} and {results}", markup=False, highlight=False)


@app.command("plant-service")
def plant_service_cmd(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Directory for the planted dataset (data/), treated.csv and planted.json.")],
    share: Annotated[float, typer.Option(help="About this share of mature episodes take part.")] = 0.03,
    reduction: Annotated[float, typer.Option(
        help="Share of the participants' reoffending the service prevents (0 plants no effect).")] = 0.25,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed plants the same service.")] = 1,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date the data are complete to (default: the latest date in the data).")] = None,
) -> None:
    """Plant a service with a known effect in a dataset, to check an evaluation against the truth."""
    import json

    from pbrkit.evaluate.planted import plant_service
    from pbrkit.measure import latest_date
    from pbrkit.measure.periods import parse_date
    from pbrkit.report.page import write_atomic
    from pbrkit.synth import write

    data = _load_or_exit(data_dir)
    try:
        day = latest_date(data) if as_of is None else parse_date(as_of, "as-of date")
        planted = plant_service(data, as_of=day, share=share, reduction=reduction, seed=seed)
    except ValueError as exc:
        _fail(str(exc))
    write(planted.data, out / "data", "parquet")
    write_atomic(out / "treated.csv", "episode_id\n" + "".join(f"{i}\n" for i in planted.treated_ids))
    write_atomic(out / "planted.json", json.dumps(planted.truth(), indent=2) + "\n")
    truth = planted.truth()
    console.print(
        f"Planted a service with {truth['treated']:,} participants in {out / 'data'}: it prevented the reoffending "
        f"of {truth['prevented']:,}, so their one-year proven reoffending rate is "
        f"{-100 * truth['true_binary_rate_difference']:.1f} percentage points lower than it would have been "
        f"({100 * truth['rate_without_service']:.1f}% without the service). The list is in {out / 'treated.csv'}.",
        markup=False, highlight=False, soft_wrap=True)



def _fail(message: str, code: int = 2):
    typer.echo(message, err=True)  # plain text on stderr
    raise typer.Exit(code)


def _parse_sets(items: list[str] | None) -> dict[str, object]:
    """`--set key=value` pairs: the value as JSON when it parses (numbers, true, lists), else text."""
    import json

    out: dict[str, object] = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key:
            _fail(f"--set {item!r}: write it as key=value, e.g. --set model.audit_rate=0.1")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _sim_design(spec: str):
    """A library design by name, or a design TOML file by path."""
    from pbrkit.contracts import ContractError, design, load_file

    try:
        if spec.lower().endswith(".toml") or Path(spec).is_file():
            return load_file(spec)
        return design(spec)
    except ContractError as exc:
        _fail(str(exc))


def _sim_setup(design_specs: list[str], scenarios: list[str] | None, sets: list[str] | None,
               workers: int | None, ray: str | None):
    """Everything checked before anything runs or is written: designs, scenarios,
    --set paths and the executor. Input errors exit 2."""
    from pbrkit.simulate import runner
    from pbrkit.simulate.executors import make_executor

    designs = [_sim_design(spec) for spec in design_specs]
    names = [d.name for d in designs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(f"design {twice[0]!r} is given twice (designs are told apart by name)")
    overrides = _parse_sets(sets)
    scenarios = list(scenarios or ["base"])
    try:
        executor = make_executor(workers, ray)
    except ValueError as exc:
        _fail(str(exc))
    try:
        kernel = runner.load_kernel()
    except runner.KernelMissing as exc:
        _fail(f"the simulation kernel is not available: {exc}", code=1)
    try:
        runner.plan(designs, scenarios, overrides, kernel.make_params(), kernel)
    except ValueError as exc:
        _fail(str(exc))
    return designs, scenarios, overrides, executor, kernel


def _sim_run(designs, scenarios, overrides, executor, kernel, *, replicates: int, years: int, seed: int,
             scale: float):
    """Run with a progress bar over replicates; a Ray address that cannot be reached exits 2."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from pbrkit.simulate import runner
    from pbrkit.simulate.executors import RayNotInstalled

    console.print(f"Simulating {', '.join(d.name for d in designs)} under {', '.join(scenarios)}: "
                  f"{replicates} replicates each, {years} years at scale {scale}, seed {seed}, "
                  f"on {executor.describe()}.", markup=False, highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("starting", total=len(designs) * len(scenarios) * replicates)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        try:
            return runner.run(designs, scenarios, replicates=replicates, years=years, seed=seed, scale=scale,
                              overrides=overrides, executor=executor, progress=progress, kernel=kernel)
        except RayNotInstalled as exc:
            _fail(str(exc))
        except ConnectionError as exc:
            _fail(f"--ray {getattr(executor, 'address', '')}: cannot connect: {exc}")


def _summary_table(summary) -> None:
    from rich.table import Table

    from pbrkit.simulate.report import metric_table

    header, rows = metric_table(summary)
    table = Table(title="Simulated outcomes by design and scenario", caption="mean (5th to 95th percentile) "
                  "over replicates")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table, markup=False, highlight=False)


@app.command()
def simulate(
    design: Annotated[str, typer.Argument(metavar="DESIGN", help="A library design name or a design TOML file.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for metrics.csv and summary.json.")],
    replicates: Annotated[int, typer.Option(min=1, help="Monte Carlo replicates per scenario.")] = 200,
    years: Annotated[int, typer.Option(min=1, max=30, help="Years to simulate.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same numbers.")] = 1,
    scale: Annotated[float, typer.Option(min=0.0001, max=10.0, help=SCALE_HELP)] = 1.0,
    scenario: Annotated[list[str] | None, typer.Option(help=SCENARIO_HELP)] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP)] = None,
    workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
    ray: Annotated[str | None, typer.Option("--ray", metavar="ADDRESS", help=RAY_HELP)] = None,
) -> None:
    """Simulate providers' behaviour under a contract design: Monte Carlo over a
    national market, against the status quo on the same random numbers.

    Writes one row per replicate to DIR/metrics.csv and the mean and 90%
    interval of every metric to DIR/summary.json; bad input exits 2 with
    nothing written.
    """
    from pbrkit.simulate.report import run_sentences

    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: not a directory")
    designs, scenarios, overrides, executor, kernel = _sim_setup([design], scenario, sets, workers, ray)
    output = _sim_run(designs, scenarios, overrides, executor, kernel, replicates=replicates, years=years,
                      seed=seed, scale=scale)
    summary = output.summary()
    written = output.write(out)
    _summary_table(summary)
    for line in run_sentences(summary):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print("Wrote " + ", ".join(str(p) for p in written), markup=False, highlight=False)


@app.command()
def compare(
    out: Annotated[Path, typer.Option("--out", help="The report to write, FILE.html (opens offline).")],
    designs: Annotated[list[str] | None, typer.Argument(
        metavar="DESIGN...", help="Library design names or design TOML files (not with --from).")] = None,
    scenario: Annotated[list[str] | None, typer.Option(help=SCENARIO_HELP)] = None,
    replicates: Annotated[int | None, typer.Option(min=1, help="Replicates per design and scenario (default 200).")
                          ] = None,
    years: Annotated[int | None, typer.Option(min=1, max=30, help="Years to simulate (default 7).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 1).")] = None,
    scale: Annotated[float | None, typer.Option(min=0.0001, max=10.0, help=SCALE_HELP + " (default 1.0)")
                     ] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP)] = None,
    workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
    ray: Annotated[str | None, typer.Option("--ray", metavar="ADDRESS", help=RAY_HELP)] = None,
    metrics_dir: Annotated[Path | None, typer.Option(
        "--metrics-dir", help="Also write this run's metrics.csv and summary.json to DIR.")] = None,
    from_dirs: Annotated[list[Path] | None, typer.Option(
        "--from", metavar="DIR", help="Report on earlier `pbrkit simulate --out DIR` runs instead of running. "
                                      "Repeatable.")] = None,
) -> None:
    """Compare contract designs side by side in one offline HTML report: cost
    against reoffences avoided, provider margins and failures, parking, the
    cliff edge, service-level gaming, and a plain-English verdict per design.
    """
    from rich.table import Table

    from pbrkit.simulate import runner
    from pbrkit.simulate.report import verdicts, write_report

    if out.suffix.lower() not in (".html", ".htm"):
        _fail(f"--out {out}: the file name must end in .html")
    if from_dirs:
        run_options = {"DESIGN": designs, "--scenario": scenario, "--replicates": replicates, "--years": years,
                       "--seed": seed, "--scale": scale, "--set": sets, "--workers": workers, "--ray": ray,
                       "--metrics-dir": metrics_dir}
        given = [name for name, value in run_options.items()
                 if value is not None and not (isinstance(value, (list, tuple)) and not value)]
        if given:
            _fail(f"--from reports on earlier runs; {', '.join(given)} apply only when compare runs them")
        try:
            metrics, summary, providers = runner.combine_outputs(from_dirs)
        except ValueError as exc:
            _fail(str(exc))
        if metrics.height == 0:
            _fail(f"--from {', '.join(map(str, from_dirs))}: the metrics have no rows")
    else:
        if not designs:
            _fail("name at least one DESIGN to compare, or give --from DIR")
        if metrics_dir is not None and metrics_dir.exists() and not metrics_dir.is_dir():
            _fail(f"--metrics-dir {metrics_dir}: not a directory")
        chosen, scenarios, overrides, executor, kernel = _sim_setup(designs, scenario, sets, workers, ray)
        output = _sim_run(chosen, scenarios, overrides, executor, kernel,
                          replicates=200 if replicates is None else replicates, years=7 if years is None else years,
                          seed=1 if seed is None else seed, scale=1.0 if scale is None else scale)
        metrics, summary, providers = output.metrics(), output.summary(), output.provider_frame()
        if metrics_dir is not None:
            for path in runner.write_outputs(metrics_dir, metrics, summary, providers):
                console.print(f"Wrote {path}", markup=False, highlight=False)
    write_report(out, metrics, summary, providers)
    for verdict in verdicts(summary):
        table = Table(title=f"Scenario {verdict['scenario']}: designs compared (90% intervals in brackets)")
        for col in ("design", "reoffences avoided", "cost", "extra per avoided", "P(failure)", "parking",
                    "cliff edge", "SL reported / proper"):
            table.add_column(col, justify="left" if col == "design" else "right", overflow="fold")
        for r in verdict["rows"]:
            table.add_row(r["design"], r["avoided"], r["cost"], r["per_avoided"], r["failure"], r["parking"],
                          r["cliff"], r["gaming"])
        console.print(table, markup=False, highlight=False)
        for line in verdict["sentences"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"Wrote {out}", markup=False, highlight=False)


# --- pbrkit serve and user: the portal (pbrkit.web) -----------------------------

user_app = typer.Typer(help="Portal accounts: add users.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PORTAL_DB_HELP = ("The ledger database the portal shares: a SQLite file path or a SQLAlchemy URL "
                  "(default PBRKIT_DATABASE_URL, else ledger.sqlite).")


def _web_or_exit():
    """The portal's modules, or exit 2 saying how to install them."""
    try:
        import pbrkit.web.app  # noqa: F401
    except ModuleNotFoundError as exc:
        typer.echo(f"the portal needs pbrkit[web] ({exc.name} is not installed): pip install 'pbrkit[web]'", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    db: Annotated[str | None, typer.Option(help=PORTAL_DB_HELP)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    development: Annotated[bool, typer.Option(
        "--development", help="Development mode: a built-in secret key and cookies over plain HTTP.")] = False,
) -> None:
    """Run the portal (web pages and the REST API at /api/v1) on the ledger database.

    Applies the portal's database migrations first. Outside --development it
    needs PBRKIT_SECRET_KEY; every setting is a PBRKIT_ variable (docs/portal.md).
    """
    _web_or_exit()
    import uvicorn
    from pydantic import ValidationError

    from pbrkit.pay.ledger import LedgerError
    from pbrkit.web import Settings, create_app

    chosen: dict[str, object] = {} if db is None else {"database_url": db}
    if development:
        chosen.update(environment="development", secure_cookies=False)
    try:
        settings = Settings(**chosen)
        application = create_app(settings)
    except ValidationError as exc:
        typer.echo("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()), err=True)
        raise typer.Exit(2) from None
    except LedgerError as exc:
        typer.echo(f"--db: {exc}", err=True)
        raise typer.Exit(2) from None
    console.print(f"Serving the portal on http://{host}:{port} (API at /api/v1, documented at /api/docs) "
                  f"with the database {application.state.portal.ledger.where}.", markup=False, highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="info")


PortalRole = _choices("PortalRole", ("commissioner", "provider", "auditor"))


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The user's email address (their sign-in name).")],
    role: Annotated[PortalRole, typer.Option(help="commissioner, provider or auditor.")],
    provider: Annotated[str | None, typer.Option(help="The provider id, for a provider user (e.g. crc-north).")
                        ] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input instead of prompting.")] = False,
    db: Annotated[str | None, typer.Option(help=PORTAL_DB_HELP)] = None,
) -> None:
    """Add a portal user; the change is written to the audit log as made from the command line."""
    _web_or_exit()
    import os
    import sys

    from pbrkit.pay.ledger import Ledger, LedgerError
    from pbrkit.web import accounts, audit
    from pbrkit.web.database import migrate, portal_engine, session_factory

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    url = db or os.environ.get("PBRKIT_DATABASE_URL") or "ledger.sqlite"
    try:
        Ledger(url).close()  # the portal lives in the ledger's database: make sure it is there
        engine = portal_engine(url)
    except LedgerError as exc:
        typer.echo(f"--db {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            user = accounts.add_user(session, audit.COMMAND_LINE, email=email, role=role.value, password=password,
                                     provider_id=provider)
    except accounts.InvalidAccount as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"Added {user.role} {user.email}" + (f" of {user.provider_id}" if user.provider_id else "")
                  + f" (user {user.id}).", markup=False, highlight=False)


@app.command("portal-demo")
def portal_demo(
    data_dir: Annotated[Path, typer.Argument(metavar="DATA", help="A data-standard directory (e.g. demo-out/data).")],
    db: Annotated[str, typer.Option(help=PORTAL_DB_HELP)],
    storage: Annotated[Path, typer.Option(help="Where the portal keeps uploaded datasets.")] = Path("portal-files"),
    provider: Annotated[str, typer.Option(help="The provider the demo provider account belongs to.")] = "crc-wales",
    report: Annotated[Path | None, typer.Option(help="A `pbrkit compare` report to attach to the programme.")
                      ] = None,
) -> None:
    """Load the synthetic programme into a portal database and print one demo account per role."""
    _web_or_exit()
    from rich.table import Table

    from pbrkit.web import Settings
    from pbrkit.web.demo import PROGRAMME, load_demo

    settings = Settings(database_url=db, storage_dir=storage, environment="development", secure_cookies=False)
    try:
        made, sentence = load_demo(settings, data_dir, provider_id=provider, report=report)
    except Exception as exc:  # a demo that cannot load says why and exits 2
        typer.echo(f"portal-demo: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=f"Demo accounts for programme {PROGRAMME} (development only)")
    for col in ("role", "email", "password", "provider"):
        table.add_column(col)
    for a in made:
        table.add_row(a.role, a.email, a.password, a.provider_id or "")
    console.print(table)
    console.print(sentence, markup=False, highlight=False, soft_wrap=True)
    console.print(f"Serve it with: PBRKIT_STORAGE_DIR={storage} pbrkit serve --db {db} --development",
                  markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
