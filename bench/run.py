"""`make bench`: performance targets, each timed against a baseline in the same run.

Generates the national synthetic dataset (7 years, scale 1) once into
bench-out/, then runs every `bench/bench_*.py` module's `run(ctx)` and prints
one table. Each `run` returns rows of
`{"name", "seconds", "target_seconds", "baseline_name", "baseline_seconds", "note"}`
(baseline fields may be None); the ratio printed is baseline / ours. A row
may add `"limits_met"` (a limit besides time, e.g. peak memory): it is met
only if that holds too.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
OUT = HERE.parent / "bench-out"


@dataclass
class Context:
    out: Path
    national: Path | None = None  # 7-year scale-1 dataset, parquet, made by bench_synth


def main() -> int:
    console = Console()
    ctx = Context(out=OUT)
    OUT.mkdir(exist_ok=True)
    rows: list[dict] = []
    # bench_synth first: it makes the national dataset the others use.
    modules = sorted(HERE.glob("bench_*.py"), key=lambda p: (p.stem != "bench_synth", p.stem))
    only = set(sys.argv[1:])
    for path in modules:
        if only and path.stem.removeprefix("bench_") not in only and path.stem != "bench_synth":
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        console.print(f"[bold]{path.stem}[/bold] …")
        for row in mod.run(ctx):
            rows.append(row)
            console.print(f"  {row['name']}: {row['seconds']:.2f} s  {row.get('note') or ''}")
    table = Table(title="pbrkit benchmarks (this machine, this run)")
    for col in ("benchmark", "seconds", "target", "met", "baseline", "baseline s", "ratio", "note"):
        table.add_column(col)
    failed = False
    for r in rows:
        target = r.get("target_seconds")
        checks = ([r["seconds"] <= target] if target is not None else []) + (
            [r["limits_met"]] if "limits_met" in r else [])
        met = "" if not checks else ("yes" if all(checks) else "NO")
        failed |= met == "NO"
        base = r.get("baseline_seconds")
        ratio = f"{base / r['seconds']:.1f}x" if base else ""
        table.add_row(
            r["name"], f"{r['seconds']:.2f}", "" if target is None else f"{target:g}", met,
            r.get("baseline_name") or "", f"{base:.2f}" if base else "", ratio, r.get("note") or "",
        )
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
