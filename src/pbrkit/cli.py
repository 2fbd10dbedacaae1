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
        raise typer.Exit(2)
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


if __name__ == "__main__":  # pragma: no cover
    app()
