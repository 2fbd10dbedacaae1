"""Synthesis and validation of the national dataset (issue 2 targets).

- `pbrkit synth --years 7 --scale 1`: at most 60 s and 3 GB peak memory.
- `pbrkit validate` on its output: at most 15 s. Baseline: a plain eager read
  of the same files (`polars.read_*`), so the ratio shows what the rule checks
  cost on top of just reading the data.

Each command runs as its own process; its peak resident memory comes from the
kernel's accounting for that child (`os.wait4`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in GB, and exit code of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0,):
        err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err}")
    return seconds, usage.ru_maxrss / 1024 / 1024, code


def plain_read(directory: Path, fmt: str) -> list[str]:
    return [sys.executable, "-c",
            "import sys, polars as pl, pathlib; d = pathlib.Path(sys.argv[1]); "
            f"[pl.read_{fmt}(p) for p in sorted(d.glob('*.{fmt}'))]", str(directory)]


def run(ctx) -> list[dict]:
    rows = []
    national = ctx.out / "national"
    seconds, gb, _ = timed([str(BIN / "pbrkit"), "synth", "--years", "7", "--scale", "1", "--seed", "1",
                            "--out", str(national)])
    ctx.national = national
    rows.append({"name": "synth 7y scale 1 (parquet)", "seconds": seconds, "target_seconds": 60.0,
                 "baseline_name": None, "baseline_seconds": None,
                 "note": f"peak {gb:.2f} GB (target 3 GB){'' if gb <= 3 else ' OVER'}"})
    for fmt in ("parquet", "csv"):
        directory = national
        if fmt == "csv":
            directory = ctx.out / "national-csv"
            timed([str(BIN / "pbrkit"), "synth", "--years", "7", "--scale", "1", "--seed", "1",
                   "--format", "csv", "--out", str(directory)])
        size = sum(p.stat().st_size for p in directory.glob(f"*.{fmt}")) / 1e9
        base, _, _ = timed(plain_read(directory, fmt))
        seconds, gb, _ = timed([str(BIN / "pbrkit"), "validate", str(directory)])
        rows.append({"name": f"validate national ({fmt}, {size:.2f} GB)", "seconds": seconds,
                     "target_seconds": 15.0, "baseline_name": f"plain polars read_{fmt}",
                     "baseline_seconds": base, "note": f"peak {gb:.2f} GB"})
    return rows
