"""A payment run for all 21 CRC contracts over 28 quarters (issue 4 target).

The contracts are the `tr2014` design (every component but renewal: forecast
fee, learning curve, money at risk via the foundation payment, binary and
frequency outcomes with the hurdle, cap, clawback, three service levels)
given to each CRC provider, paid from 2015Q1 to 2021Q4 on an 11-year national
synthetic dataset (2011-2021, scale 1), and recorded in a fresh SQLite ledger.
Timed: loading, measurement, all 588 statements and the ledger transaction:
at most 15 s. Verifying the ledger is timed as a second row.

Baseline, in the same run: `pbrkit.measure` alone on the same data (one
measurement by provider and quarter), so the ratio says what paying costs
over measuring once.

Run alone: `python bench/run.py pay`.
"""

from __future__ import annotations

import time
from pathlib import Path

TARGET_SECONDS = 15.0
THROUGH = "2021Q4"
AS_OF = "2021-12-31"


def _dataset(out: Path) -> Path:
    """The 11-year national dataset, made once per benchmark run."""
    import datetime as dt

    from pbrkit.synth import generate, write

    directory = out / "national-11y"
    write(generate(start=dt.date(2011, 1, 1), years=11, scale=1.0, seed=1), directory, "parquet")
    return directory


def pay_run(directory: Path, db: Path) -> tuple[int, int]:
    """What `pbrkit pay DATA --design tr2014 --through 2021Q4` does, minus printing."""
    import pbrkit
    from pbrkit.contracts import design
    from pbrkit.pay import statements
    from pbrkit.pay.ledger import Ledger

    data = pbrkit.load(directory, check=False)
    providers = sorted(set(data.episodes["provider_id"].unique().to_list()) - {"nps"})
    contracts = [design("tr2014").for_provider(p) for p in providers]
    with Ledger(db) as ledger:
        summary = ledger.record_run(statements(contracts, data, THROUGH, AS_OF))
    return summary.new, summary.entries_written


def run(ctx) -> list[dict]:
    import pbrkit
    from pbrkit.measure import measure
    from pbrkit.pay.ledger import Ledger

    directory = _dataset(ctx.out)
    db = ctx.out / "ledger-bench.sqlite"
    db.unlink(missing_ok=True)

    t = time.perf_counter()
    statements_written, entries = pay_run(directory, db)
    pay_seconds = time.perf_counter() - t

    t = time.perf_counter()
    measure(pbrkit.load(directory, check=False), by="provider", period="quarter", baseline="2011", as_of=AS_OF)
    measure_seconds = time.perf_counter() - t

    t = time.perf_counter()
    with Ledger(db, create=False) as ledger:
        verified = ledger.verify()
    verify_seconds = time.perf_counter() - t
    assert verified.ok, verified.message
    assert statements_written == 21 * 28, statements_written

    return [
        {
            "name": "pay 21 contracts x 28 quarters",
            "seconds": pay_seconds,
            "target_seconds": TARGET_SECONDS,
            "baseline_name": "measure once",
            "baseline_seconds": measure_seconds,
            "note": f"{statements_written} statements, {entries:,} entries, SQLite",
        },
        {
            "name": "ledger verify",
            "seconds": verify_seconds,
            "target_seconds": None,
            "baseline_name": None,
            "baseline_seconds": None,
            "note": f"{verified.runs_checked} runs, {verified.entries_checked:,} entries",
        },
    ]
