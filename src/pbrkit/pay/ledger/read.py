"""What the CLI and the portal read: net statements, entries, runs, contracts.

A provider is paid the *net* of a line key's entries (the original plus every
adjustment), described by the key's latest entry, which always carries the
current figures and basis (see `record`). Lines whose latest entry has the
`REMOVED` basis are no longer on the statement and are left out.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Connection, Select, cast, func, select

from pbrkit.pay.ledger.errors import LedgerError
from pbrkit.pay.ledger.record import REMOVED
from pbrkit.pay.ledger.tables import ledger_entry, payment_run
from pbrkit.pay.statement import Line, Statement

S, I64 = pl.String, pl.Int64

LINE_SCHEMA = {
    "contract_id": S, "provider_id": S, "design": S, "period": S, "kind": S, "key": S, "description": S,
    "quantity": S, "unit": S, "rate": S, "amount_pence": I64, "basis": S,
}
ENTRY_SCHEMA = {
    "id": I64, "run_id": I64, "contract_id": S, "provider_id": S, "design": S, "period": S, "line_key": S,
    "kind": S, "entry_type": S, "description": S, "quantity": S, "unit": S, "rate": S, "amount_pence": I64,
    "basis": S, "corrects": I64, "created_at": S, "prev_hash": S, "hash": S,
}
RUN_SCHEMA = {
    "id": I64, "batch_id": S, "contract_id": S, "provider_id": S, "design": S, "period": S, "as_of": S,
    "input_digest": S, "contract_terms": S, "notes": S, "created_at": S, "pbrkit_version": S,
    "entry_count": I64, "last_entry_hash": S, "prev_hash": S, "hash": S,
}
CONTRACT_SCHEMA = {
    "contract_id": S, "provider_id": S, "design": S, "contract_terms": S, "periods": I64, "runs": I64,
    "last_run_id": I64, "last_recorded_at": S,
}


def _filtered(query: Select, table, **filters: Any) -> Select:
    for column, value in filters.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query


def _frame(conn: Connection, query: Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame([tuple(row) for row in conn.execute(query)], schema=schema, orient="row")


def statement_lines(conn: Connection, *, period: str | None, contract_id: str | None,
                    provider_id: str | None) -> pl.DataFrame:
    e = ledger_entry.c
    sums = _filtered(
        select(e.contract_id, e.period, e.line_key, cast(func.sum(e.amount_pence), BigInteger).label("net"),
               func.max(e.id).label("latest_id"), func.min(e.id).label("first_id")),
        ledger_entry, period=period, contract_id=contract_id, provider_id=provider_id,
    ).group_by(e.contract_id, e.period, e.line_key).subquery()
    latest = ledger_entry.alias("latest")
    query = (
        select(latest.c.contract_id, latest.c.provider_id, latest.c.design, latest.c.period, latest.c.kind,
               latest.c.line_key, latest.c.description, latest.c.quantity, latest.c.unit, latest.c.rate,
               sums.c.net, latest.c.basis)
        .join_from(sums, latest, latest.c.id == sums.c.latest_id)
        .where(latest.c.basis != REMOVED)
        .order_by(latest.c.contract_id, latest.c.period, sums.c.first_id)
    )
    return _frame(conn, query, LINE_SCHEMA)


def entries(conn: Connection, **filters: Any) -> pl.DataFrame:
    query = _filtered(select(*[ledger_entry.c[name] for name in ENTRY_SCHEMA]), ledger_entry, **filters)
    return _frame(conn, query.order_by(ledger_entry.c.id), ENTRY_SCHEMA)


def runs(conn: Connection, **filters: Any) -> pl.DataFrame:
    query = _filtered(select(*[payment_run.c[name] for name in RUN_SCHEMA]), payment_run, **filters)
    return _frame(conn, query.order_by(payment_run.c.id), RUN_SCHEMA)


def contracts(conn: Connection) -> pl.DataFrame:
    r = payment_run.c
    per_contract = (
        select(r.contract_id, func.count(func.distinct(r.period)).label("periods"), func.count().label("runs"),
               func.max(r.id).label("last_run_id"))
        .group_by(r.contract_id).subquery()
    )
    last = payment_run.alias("last")
    query = (
        select(last.c.contract_id, last.c.provider_id, last.c.design, last.c.contract_terms, per_contract.c.periods,
               per_contract.c.runs, per_contract.c.last_run_id, last.c.created_at)
        .join_from(per_contract, last, last.c.id == per_contract.c.last_run_id)
        .order_by(last.c.contract_id)
    )
    return _frame(conn, query, CONTRACT_SCHEMA)


def statement(conn: Connection, contract_id: str, period: str) -> Statement:
    """The statement as the ledger now pays it, for rendering.

    Lines are the net lines in the order their keys first appeared; header
    fields, terms and notes come from the latest run. When the latest run
    wrote the statement's keys in the same order (the usual case) its
    `input_digest` equals the recorded one.
    """
    r = payment_run.c
    run = conn.execute(
        select(r.provider_id, r.design, r.as_of, r.contract_terms, r.notes)
        .where(r.contract_id == contract_id, r.period == period).order_by(r.id.desc()).limit(1)
    ).first()
    if run is None:
        raise LedgerError(f"no statement is recorded for contract {contract_id!r} in period {period!r}")
    lines = statement_lines(conn, period=period, contract_id=contract_id, provider_id=None)
    return Statement(
        contract_id=contract_id, provider_id=run.provider_id, design=run.design, period=period,
        as_of=dt.date.fromisoformat(run.as_of),
        lines=tuple(
            Line(kind=row["kind"], key=row["key"], description=row["description"], quantity=Decimal(row["quantity"]),
                 unit=row["unit"], rate=Decimal(row["rate"]), amount=row["amount_pence"],
                 basis=json.loads(row["basis"]))
            for row in lines.iter_rows(named=True)
        ),
        contract_terms=run.contract_terms, notes=tuple(json.loads(run.notes)),
    )
