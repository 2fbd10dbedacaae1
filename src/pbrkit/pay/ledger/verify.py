"""Walking both chains and reporting the first broken link.

Runs and entries are streamed side by side in id order: run r's entries follow
run r-1's, because a writer inserts a run and then its entries while holding
the write lock. For each run the walk checks the run's own link and hash, then
consumes exactly `entry_count` entries, checking each entry's id, link, hash
and run, and finally that the entry chain's head equals the run's recorded
`last_entry_hash`. Only the first break is reported: everything after a break
is suspect anyway, and the first one is where an investigation starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, select

from pbrkit.pay.ledger.chain import (
    ENTRY_FIELDS,
    GENESIS,
    RUN_FIELDS,
    entry_hash,
    run_hash,
)
from pbrkit.pay.ledger.tables import ledger_entry, payment_run

#: Reasons for a break, as stable codes for programs; `Verification.message` says it in words.
CONTENT_CHANGED = "content_changed"
LINK_BROKEN = "link_broken"
ENTRIES_MISSING = "entries_missing"
TRUNCATED = "truncated"
WRONG_RUN = "wrong_run"
RUN_CHANGED = "run_changed"
RUN_LINK_BROKEN = "run_link_broken"
RUNS_MISSING = "runs_missing"
RUN_SEAL_BROKEN = "run_seal_broken"
UNSEALED_ENTRIES = "unsealed_entries"
ANCHOR_NOT_FOUND = "anchor_not_found"

#: Rows fetched per round trip while streaming: large enough that the driver
#: is not the bottleneck, small enough to keep memory flat at any ledger size.
BATCH = 5000


@dataclass(frozen=True)
class Verification:
    """The result of walking the ledger: OK, or the first broken link."""

    ok: bool
    runs_checked: int
    entries_checked: int
    #: Hash of the latest run walked (the ledger's head when `ok`).
    head: str
    reason: str | None = None
    entry_id: int | None = None
    run_id: int | None = None
    message: str = ""

    def sentence(self) -> str:
        if self.ok:
            return (f"The ledger verifies: {self.runs_checked} runs and {self.entries_checked} entries, "
                    f"every hash and link intact; head {self.head[:12]}.")
        return f"The ledger does NOT verify: {self.message}"


class _Broken(Exception):
    def __init__(self, reason: str, message: str, *, entry_id: int | None = None, run_id: int | None = None):
        super().__init__(message)
        self.reason, self.message, self.entry_id, self.run_id = reason, message, entry_id, run_id


def _stream(conn: Connection, table, columns) -> Iterator[dict]:
    result = conn.execution_options(yield_per=BATCH).execute(
        select(*[table.c[name] for name in columns]).order_by(table.c.id))
    for row in result:
        yield dict(zip(columns, row, strict=True))


class _Walk:
    def __init__(self, conn: Connection, anchor: str | None) -> None:
        self.runs = _stream(conn, payment_run, (*RUN_FIELDS, "prev_hash", "hash"))
        self.entries = _stream(conn, ledger_entry, (*ENTRY_FIELDS, "prev_hash", "hash"))
        self.anchor = anchor
        self.anchor_seen = anchor is None
        self.runs_checked = 0
        self.entries_checked = 0
        self.run_head = GENESIS
        self.entry_head = GENESIS
        self.next_entry_id = 1

    def walk(self) -> None:
        expected_run_id = 1
        for run in self.runs:
            self._check_run(run, expected_run_id)
            for _ in range(run["entry_count"]):
                self._check_entry(run)
            if self.entry_head != run["last_entry_hash"]:
                raise _Broken(RUN_SEAL_BROKEN, (
                    f"run {run['id']} ({run['contract_id']} {run['period']}) recorded its last entry hash as "
                    f"{run['last_entry_hash'][:12]} but the entry chain reads {self.entry_head[:12]} there"),
                    run_id=run["id"], entry_id=self.next_entry_id - 1 or None)
            self.run_head = run["hash"]
            self.anchor_seen = self.anchor_seen or run["hash"] == self.anchor
            self.runs_checked += 1
            expected_run_id = run["id"] + 1
        extra = next(self.entries, None)
        if extra is not None:
            raise _Broken(UNSEALED_ENTRIES, (
                f"entry {extra['id']} (and any after it) is not covered by any recorded run: "
                "its run was removed, or it was inserted outside a payment run"),
                entry_id=extra["id"], run_id=extra["run_id"])
        if not self.anchor_seen:
            raise _Broken(ANCHOR_NOT_FOUND, (
                f"no run has the anchor hash {self.anchor[:12]}: runs kept outside were removed from the "
                f"end of the ledger or rewritten"))

    def _check_run(self, run: dict, expected_id: int) -> None:
        rid = run["id"]
        if rid != expected_id:
            raise _Broken(RUNS_MISSING, f"runs {expected_id} to {rid - 1} are missing before run {rid}", run_id=rid)
        if run["prev_hash"] != self.run_head:
            raise _Broken(RUN_LINK_BROKEN, f"run {rid}'s link to the previous run is broken", run_id=rid)
        if run_hash(run["prev_hash"], run) != run["hash"]:
            raise _Broken(RUN_CHANGED, (
                f"run {rid} ({run['contract_id']} {run['period']}) was changed after it was recorded"), run_id=rid)

    def _check_entry(self, run: dict) -> None:
        entry = next(self.entries, None)
        expected = self.next_entry_id
        if entry is None:
            raise _Broken(TRUNCATED, (
                f"entries from {expected} on are missing: run {run['id']} ({run['contract_id']} {run['period']}) "
                f"recorded {run['entry_count']} entries ending in hash {run['last_entry_hash'][:12]}"),
                entry_id=expected, run_id=run["id"])
        eid = entry["id"]
        if eid != expected:
            raise _Broken(ENTRIES_MISSING, f"entries {expected} to {eid - 1} are missing before entry {eid}",
                          entry_id=eid, run_id=entry["run_id"])
        if entry["prev_hash"] != self.entry_head:
            raise _Broken(LINK_BROKEN, f"entry {eid}'s link to the previous entry is broken",
                          entry_id=eid, run_id=entry["run_id"])
        if entry_hash(entry["prev_hash"], entry, run["input_digest"]) != entry["hash"]:
            raise _Broken(CONTENT_CHANGED, (
                f"entry {eid} ({entry['contract_id']} {entry['period']} {entry['line_key']}) was changed "
                "after it was recorded"), entry_id=eid, run_id=entry["run_id"])
        if entry["run_id"] != run["id"]:
            raise _Broken(WRONG_RUN, f"entry {eid} is filed under run {entry['run_id']}, expected run {run['id']}",
                          entry_id=eid, run_id=run["id"])
        self.entry_head = entry["hash"]
        self.next_entry_id = eid + 1
        self.entries_checked += 1


def verify(conn: Connection, anchor: str | None = None) -> Verification:
    """Walk both chains on `conn`, which should hold one consistent snapshot."""
    walk = _Walk(conn, anchor)
    try:
        walk.walk()
    except _Broken as broken:
        return Verification(False, walk.runs_checked, walk.entries_checked, walk.run_head, broken.reason,
                            broken.entry_id, broken.run_id, broken.message)
    return Verification(True, walk.runs_checked, walk.entries_checked, walk.run_head)
