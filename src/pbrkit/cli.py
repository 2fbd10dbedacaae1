"""The `pbrkit` command: one thin command per capability.

Each command parses its options, calls the pure core, and prints a table plus a
plain-English sentence. Input errors exit with code 2.
"""

from __future__ import annotations

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


if __name__ == "__main__":  # pragma: no cover
    app()
