"""A payment run in its own process, for the crash and concurrency tests.

    python ledger_writer.py URL --periods 2015Q1 2015Q2 --pause-after 4 --marker m [--release r]

Records `ledger_builders.market(...)`. After `--pause-after` statements (their
runs and entries written, the transaction still open) it writes the number of
entries written so far to `--marker`, then waits: until `--release` exists, or
forever, so the test can SIGKILL it mid-transaction. `--started` is written
just before `record_run` is called, after `--wait-for` exists if given. Prints the run summary's counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger_builders import market

from pbrkit.pay.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--contracts", type=int, default=4)
    parser.add_argument("--periods", nargs="+", default=["2015Q1"])
    parser.add_argument("--reoffenders", type=int, default=10)
    parser.add_argument("--pause-after", type=int)
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--release", type=Path)
    parser.add_argument("--started", type=Path)
    parser.add_argument("--wait-for", type=Path)
    args = parser.parse_args()

    done = {"statements": 0, "entries": 0}

    def progress(outcome) -> None:
        done["statements"] += 1
        done["entries"] += outcome.entries
        if done["statements"] == args.pause_after:
            args.marker.write_text(str(done["entries"]))
            while args.release is None or not args.release.exists():
                time.sleep(0.02)

    statements = market(args.contracts, tuple(args.periods), reoffenders=args.reoffenders)
    while args.wait_for is not None and not args.wait_for.exists():
        time.sleep(0.02)
    with Ledger(args.url) as ledger:
        if args.started:
            args.started.write_text("")
        summary = ledger.record_run(statements, progress=progress)
    print(json.dumps({"new": summary.new, "adjusted": summary.adjusted, "unchanged": summary.unchanged,
                      "entries_written": summary.entries_written}))


if __name__ == "__main__":
    main()
