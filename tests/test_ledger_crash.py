"""A payment run killed mid-transaction leaves nothing behind, and two runs at
once queue on the write lock instead of both writing originals.

The writers are real processes (`ledger_writer.py`), so the database, not
Python, has to roll back the half-written run and hand the lock on.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from ledger_builders import market

from pbrkit.pay.ledger import Ledger

WRITER = Path(__file__).parent / "ledger_writer.py"
PERIODS = ("2015Q1", "2015Q2")


@contextlib.contextmanager
def writers():
    """Start writer processes; any still running when the test ends (a failed
    assertion while one is paused) are killed, not left waiting forever."""
    started: list[subprocess.Popen] = []

    def start(url: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, str(WRITER), url, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"writer exited early: {process.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {path.name}"
        time.sleep(0.02)


def originals_per_key(ledger: Ledger) -> pl.DataFrame:
    return (ledger.entries().filter(pl.col("entry_type") == "original")
            .group_by("contract_id", "period", "line_key").len())


def test_a_run_killed_mid_transaction_leaves_nothing_and_reruns_cleanly(ledger_url, tmp_path):
    with Ledger(ledger_url) as ledger, writers() as writer:
        ledger.record_run(market(contracts=4, periods=("2015Q1",)))
        before = (ledger.runs().height, ledger.entries().height, ledger.head())

        # 8 statements: 4 adjust 2015Q1 (later convictions), 4 are new for 2015Q2.
        marker = tmp_path / "half-written"
        process = writer(ledger_url, "--periods", *PERIODS, "--reoffenders", "12", "--pause-after", "5",
                         "--marker", str(marker))
        wait_for(marker, process)
        # Written but not committed: C000 and C001 each adjusted (1 entry) and new (3), C002 adjusted.
        assert int(marker.read_text()) == 3 * 1 + 2 * 3
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL

        assert (ledger.runs().height, ledger.entries().height, ledger.head()) == before
        assert ledger.verify().ok

        rerun = ledger.record_run(market(contracts=4, periods=PERIODS, reoffenders=12))
        assert (rerun.new, rerun.adjusted, rerun.unchanged) == (4, 4, 0)
        counts = originals_per_key(ledger)
        assert counts.height == 8 * 3 and counts["len"].to_list() == [1] * 24
        verification = ledger.verify()
        assert verification.ok and verification.entries_checked == 12 + 4 + 12


def test_two_runs_at_once_queue_on_the_write_lock(ledger_url, tmp_path):
    with Ledger(ledger_url) as ledger, writers() as writer:  # the schema exists before either writer starts
        marker, release, started = tmp_path / "paused", tmp_path / "release", tmp_path / "started"
        first = writer(ledger_url, "--periods", *PERIODS, "--pause-after", "3", "--marker", str(marker),
                       "--release", str(release))
        # Started together (imports take a while), the second starts its run once the first is paused in its.
        second = writer(ledger_url, "--periods", *PERIODS, "--started", str(started), "--wait-for", str(marker))
        wait_for(marker, first)
        wait_for(started, second)
        time.sleep(0.5)
        assert second.poll() is None, f"second writer did not wait: {second.communicate()}"

        release.touch()
        outputs = [json.loads(p.communicate(timeout=60)[0]) for p in (first, second)]
        assert [p.returncode for p in (first, second)] == [0, 0]
        assert outputs[0]["new"] == 8 and outputs[1] == {"new": 0, "adjusted": 0, "unchanged": 8,
                                                         "entries_written": 0}
        assert originals_per_key(ledger)["len"].to_list() == [1] * 24
        assert ledger.verify().ok
