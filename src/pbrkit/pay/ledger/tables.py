"""The ledger's two tables, named in the domain's words.

`payment_run` is one statement recorded for one contract and period (one row
per changed input digest); `ledger_entry` is one line of money. Neither table
is ever updated or deleted from: the triggers in `backends` reject it.

Figures that must not become binary floats (quantity, rate) are stored as the
text of a Decimal; money is integer pence; timestamps are ISO text in UTC, so
what is hashed is exactly what is stored on every backend.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Ids are handed out by the ledger under its write lock (see `chain`), never by
#: a sequence. On SQLite an INTEGER primary key is the rowid, the fast path.
RowId = BigInteger().with_variant(Integer(), "sqlite")

ENTRY_TYPES = ("original", "adjustment")

payment_run = Table(
    "payment_run",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=False),
    Column("batch_id", String(32), nullable=False),
    Column("contract_id", String, nullable=False),
    Column("provider_id", String, nullable=False),
    Column("design", String, nullable=False),
    Column("period", String, nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("input_digest", String(64), nullable=False),
    Column("contract_terms", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("pbrkit_version", String, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("last_entry_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("payment_run_contract_period", "contract_id", "period", "id"),
    Index("payment_run_provider_period", "provider_id", "period"),
)

ledger_entry = Table(
    "ledger_entry",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=False),
    Column("run_id", RowId, ForeignKey("payment_run.id"), nullable=False),
    Column("contract_id", String, nullable=False),
    Column("provider_id", String, nullable=False),
    Column("design", String, nullable=False),
    Column("period", String, nullable=False),
    Column("line_key", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("entry_type", String(10), nullable=False),
    Column("description", Text, nullable=False),
    Column("quantity", String, nullable=False),
    Column("unit", String, nullable=False),
    Column("rate", String, nullable=False),
    Column("amount_pence", BigInteger, nullable=False),
    Column("basis", Text, nullable=False),
    Column("corrects", RowId, ForeignKey("ledger_entry.id"), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("entry_type IN ('original', 'adjustment')", name="ledger_entry_type"),
    Index("ledger_entry_contract_period_key", "contract_id", "period", "line_key"),
    Index("ledger_entry_provider_period", "provider_id", "period"),
    Index("ledger_entry_run", "run_id"),
)

#: The append-only triggers, by name, on both backends.
APPEND_ONLY_TABLES = ("payment_run", "ledger_entry")
