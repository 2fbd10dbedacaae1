"""Recording one `pbrkit pay` invocation: originals, adjustments, or nothing.

The ledger never rewrites money. For each statement it compares the statement's
input digest with the latest run recorded for the same contract and period:

- the same digest: the same inputs were paid already, write nothing;
- no earlier run: one *original* entry per line, zero-amount lines included,
  so the basis of every line is on record;
- a different digest (a late conviction, corrected data, a new rules version):
  *adjustment* entries only, each `new amount - current net` for its line key
  and pointing (`corrects`) at the latest entry it corrects.

An adjustment also carries the line's new figures and basis, and is written
when the figures or basis changed even if no money moves, so the latest entry
of every key always shows what the current statement says. A key that left the
statement gets `-net` and the `REMOVED` basis, which is how the read side knows
the line is gone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl
from sqlalchemy import BigInteger, Connection, bindparam, cast, func, insert, select

from pbrkit.pay.ledger.chain import GENESIS, entry_hash, run_hash
from pbrkit.pay.ledger.tables import ledger_entry, payment_run
from pbrkit.pay.statement import Line, Statement, canonical_json, format_pence

NEW, ADJUSTED, UNCHANGED = "new", "adjusted", "unchanged"
OUTCOMES = (NEW, ADJUSTED, UNCHANGED)

#: Basis of the entry that reverses a line no longer on the statement.
REMOVED = canonical_json({"removed": True})


@dataclass(frozen=True)
class StatementOutcome:
    """What recording one statement did."""

    contract_id: str
    provider_id: str
    period: str
    outcome: str
    #: The run written, or None when the statement was unchanged.
    run_id: int | None
    entries: int
    #: Net money the written entries move, in pence.
    amount_pence: int


@dataclass(frozen=True)
class RunSummary:
    """One `record_run` call: counts per outcome and what was written."""

    batch_id: str
    new: int
    adjusted: int
    unchanged: int
    runs_written: int
    entries_written: int
    amount_pence: int
    #: Hash of the latest run once this batch committed: keep it to prove later
    #: that nothing up to here was removed (`Ledger.verify(anchor=...)`).
    head: str
    outcomes: tuple[StatementOutcome, ...]

    @classmethod
    def of(cls, batch_id: str, outcomes: list[StatementOutcome], head: str) -> RunSummary:
        count = {name: sum(o.outcome == name for o in outcomes) for name in OUTCOMES}
        return cls(
            batch_id=batch_id, new=count[NEW], adjusted=count[ADJUSTED], unchanged=count[UNCHANGED],
            runs_written=sum(o.run_id is not None for o in outcomes),
            entries_written=sum(o.entries for o in outcomes),
            amount_pence=sum(o.amount_pence for o in outcomes), head=head, outcomes=tuple(outcomes),
        )

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(o.contract_id, o.provider_id, o.period, o.outcome, o.run_id, o.entries, o.amount_pence)
             for o in self.outcomes],
            schema={"contract_id": pl.String, "provider_id": pl.String, "period": pl.String, "outcome": pl.String,
                    "run_id": pl.Int64, "entries": pl.Int64, "amount_pence": pl.Int64},
            orient="row",
        )

    def sentence(self) -> str:
        total = self.new + self.adjusted + self.unchanged
        return (
            f"Recorded {total} statement{'s' if total != 1 else ''}: {self.new} new, {self.adjusted} adjusted, "
            f"{self.unchanged} unchanged; {self.entries_written} ledger entries moving "
            f"{format_pence(self.amount_pence)}. Ledger head {self.head[:12]}."
        )


class _Recorded(NamedTuple):
    """The latest state of one line key for a contract and period."""

    net: int
    latest_id: int
    kind: str
    description: str
    quantity: str
    unit: str
    rate: str
    basis: str


def _figures(line: Line) -> dict[str, Any]:
    return {
        "line_key": line.key, "kind": line.kind, "description": line.description,
        "quantity": str(line.quantity), "unit": line.unit, "rate": str(line.rate),
        "basis": canonical_json(line.basis),
    }


def _same_figures(figures: dict[str, Any], recorded: _Recorded) -> bool:
    return all(figures[name] == getattr(recorded, name)
               for name in ("kind", "description", "quantity", "unit", "rate", "basis"))


def _queries():
    """The two per-statement queries, built once: building them per statement
    (aliases, subqueries) cost more than running them."""
    e, r = ledger_entry.c, payment_run.c
    contract_id, period = bindparam("contract_id"), bindparam("period")
    latest_digest = (select(r.input_digest).where(r.contract_id == contract_id, r.period == period)
                     .order_by(r.id.desc()).limit(1))
    sums = (
        select(e.line_key, cast(func.sum(e.amount_pence), BigInteger).label("net"),
               func.max(e.id).label("latest_id"), func.min(e.id).label("first_id"))
        .where(e.contract_id == contract_id, e.period == period).group_by(e.line_key).subquery()
    )
    latest = ledger_entry.alias("latest")
    recorded = (
        select(sums.c.line_key, sums.c.net, sums.c.latest_id, latest.c.kind, latest.c.description,
               latest.c.quantity, latest.c.unit, latest.c.rate, latest.c.basis)
        .join_from(sums, latest, latest.c.id == sums.c.latest_id)
        .order_by(sums.c.first_id)
    )
    return latest_digest, recorded


_LATEST_DIGEST, _RECORDED = _queries()


class Recorder:
    """Writes statements inside one write transaction that already holds the lock.

    It keeps the heads of both chains and the next ids in memory: nobody else
    can write until the transaction ends, so they stay true.
    """

    def __init__(self, conn: Connection, *, pbrkit_version: str) -> None:
        self.conn = conn
        self.batch_id = uuid.uuid4().hex
        self.created_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        self.pbrkit_version = pbrkit_version
        last_entry = conn.execute(
            select(ledger_entry.c.id, ledger_entry.c.hash).order_by(ledger_entry.c.id.desc()).limit(1)).first()
        last_run = conn.execute(
            select(payment_run.c.id, payment_run.c.hash).order_by(payment_run.c.id.desc()).limit(1)).first()
        self.next_entry_id, self.entry_head = (last_entry[0] + 1, last_entry[1]) if last_entry else (1, GENESIS)
        self.next_run_id, self.run_head = (last_run[0] + 1, last_run[1]) if last_run else (1, GENESIS)

    def record(self, statement: Statement) -> StatementOutcome:
        digest = statement.input_digest
        latest = self.conn.execute(
            _LATEST_DIGEST, {"contract_id": statement.contract_id, "period": statement.period}).first()
        if latest is not None and latest[0] == digest:
            return StatementOutcome(statement.contract_id, statement.provider_id, statement.period, UNCHANGED,
                                    None, 0, 0)
        if latest is None:
            outcome = NEW
            entries = [dict(_figures(line), entry_type="original", amount_pence=line.amount, corrects=None)
                       for line in statement.lines]
        else:
            outcome = ADJUSTED
            entries = self._adjustments(statement)
        run_id = self._write(statement, digest, entries)
        return StatementOutcome(statement.contract_id, statement.provider_id, statement.period, outcome, run_id,
                                len(entries), sum(e["amount_pence"] for e in entries))

    def _recorded(self, statement: Statement) -> dict[str, _Recorded]:
        """Net and latest entry per line key, in the order keys first appeared."""
        rows = self.conn.execute(_RECORDED, {"contract_id": statement.contract_id, "period": statement.period})
        return {row[0]: _Recorded(int(row[1]), *row[2:]) for row in rows}

    def _adjustments(self, statement: Statement) -> list[dict[str, Any]]:
        recorded = self._recorded(statement)
        adjustments = []
        for line in statement.lines:
            figures = _figures(line)
            before = recorded.get(line.key)
            if before is None:
                adjustments.append(dict(figures, entry_type="adjustment", amount_pence=line.amount, corrects=None))
            elif line.amount != before.net or not _same_figures(figures, before):
                adjustments.append(dict(figures, entry_type="adjustment", amount_pence=line.amount - before.net,
                                        corrects=before.latest_id))
        on_statement = {line.key for line in statement.lines}
        for key, before in recorded.items():
            if key in on_statement or (before.basis == REMOVED and before.net == 0):
                continue
            adjustments.append({
                "line_key": key, "kind": before.kind, "description": before.description, "quantity": "0",
                "unit": before.unit, "rate": before.rate, "basis": REMOVED, "entry_type": "adjustment",
                "amount_pence": -before.net, "corrects": before.latest_id,
            })
        return adjustments

    def _write(self, statement: Statement, digest: str, entries: list[dict[str, Any]]) -> int:
        run_id = self.next_run_id
        common = {
            "contract_id": statement.contract_id, "provider_id": statement.provider_id,
            "design": statement.design, "period": statement.period, "created_at": self.created_at,
        }
        rows = []
        for entry in entries:
            row = dict(entry, **common, id=self.next_entry_id, run_id=run_id, prev_hash=self.entry_head)
            row["hash"] = self.entry_head = entry_hash(self.entry_head, row, digest)
            self.next_entry_id += 1
            rows.append(row)
        run = dict(
            common, id=run_id, batch_id=self.batch_id, as_of=statement.as_of.isoformat(), input_digest=digest,
            contract_terms=statement.contract_terms, notes=canonical_json(list(statement.notes)),
            pbrkit_version=self.pbrkit_version, entry_count=len(rows), last_entry_hash=self.entry_head,
            prev_hash=self.run_head,
        )
        run["hash"] = self.run_head = run_hash(self.run_head, run)
        self.next_run_id += 1
        self.conn.execute(insert(payment_run), [run])
        if rows:
            self.conn.execute(insert(ledger_entry), rows)
        return run_id


def record_run(conn: Connection, statements: Iterable[Statement],
               progress: Callable[[StatementOutcome], object] | None, *, pbrkit_version: str) -> RunSummary:
    """Record every statement through one `Recorder`; the caller owns the transaction."""
    recorder = Recorder(conn, pbrkit_version=pbrkit_version)
    outcomes = []
    for statement in statements:
        outcome = recorder.record(statement)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return RunSummary.of(recorder.batch_id, outcomes, recorder.run_head)
