"""The portal's tables, in the same database as the payment ledger.

The ledger keeps its own two tables (`pbrkit.pay.ledger.tables`, created by
`Ledger`); these sit beside them under their own metadata, created and changed
only by the Alembic migrations in `migrations/`. Statements are never copied
here: the portal reads them from the ledger, and refers to a statement by its
natural key (contract, period) and to a line by its line key.

Timestamps are ISO text in UTC, as in the ledger, so every backend stores and
returns exactly the same thing. `audit_record` is append-only: the migration
adds triggers that refuse UPDATE and DELETE, as the ledger's tables do.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names spelt out, so migrations name the same thing on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now() -> str:
    """The current time as the portal stores it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A person who signs in; a provider user belongs to exactly one provider."""

    __tablename__ = "portal_user"
    __table_args__ = (
        CheckConstraint("role IN ('commissioner', 'provider', 'auditor')", name="role"),
        CheckConstraint("(role = 'provider') = (provider_id IS NOT NULL)", name="provider_only_for_providers"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[str] = mapped_column(String(32), default=now)


class BrowserSession(Base):
    """A signed-in browser. Its cookie carries a random key; only the key's SHA-256
    is kept. Signing out ends the session here, so a copied cookie stops working
    at once instead of when it expires."""

    __tablename__ = "browser_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(32), default=now)
    ended_at: Mapped[str | None] = mapped_column(String(32))


class ApiToken(Base):
    """A bearer token for the REST API. Only its SHA-256 is kept: a stolen
    database gives no usable token."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(32), default=now)
    revoked_at: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()


class Programme(Base):
    """A commissioning programme: one contract design applied to the providers in its data."""

    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    design: Mapped[str] = mapped_column(String(100))
    #: The reference period of the dashboard's baseline model, e.g. 2011.
    baseline: Mapped[str] = mapped_column(String(32), default="2011")
    created_at: Mapped[str] = mapped_column(String(32), default=now)


class Dataset(Base):
    """An upload that met the data standard, kept under the storage directory."""

    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    #: Directory under the storage directory holding the table files.
    storage_path: Mapped[str] = mapped_column(Text)
    #: Rows per table, as JSON.
    rows: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    uploaded_at: Mapped[str] = mapped_column(String(32), default=now)


class Job(Base):
    """A background run (measurement and payments), with its progress for polling."""

    __tablename__ = "job"
    __table_args__ = (CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    #: What was asked for (through, as_of), as JSON.
    parameters: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: From 0 to 1.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    #: What the run did (the ledger's run summary), as JSON, once it has succeeded.
    result: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    requested_at: Mapped[str] = mapped_column(String(32), default=now)
    finished_at: Mapped[str | None] = mapped_column(String(32))


class MeasureResult(Base):
    """One provider's measured cohort (a row of the standard's measures table) from a run,
    for its dashboard: actual against expected per quarter."""

    __tablename__ = "measure_result"
    __table_args__ = (Index("ix_measure_result_job_provider", "job_id", "provider_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"))
    provider_id: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(16))
    #: The measures row, as JSON.
    figures: Mapped[str] = mapped_column(Text)


class Approval(Base):
    """A commissioner's approval of a statement as recorded up to one ledger run."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(16))
    #: The latest ledger run of the statement when it was approved.
    run_id: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    approved_by: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    approved_at: Mapped[str] = mapped_column(String(32), default=now)


class QueryThread(Base):
    """A query about one statement line: a provider disputes, the commissioner answers."""

    __tablename__ = "query_thread"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        Index("ix_query_thread_provider", "provider_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(16))
    line_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    raised_by: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    raised_at: Mapped[str] = mapped_column(String(32), default=now)

    messages: Mapped[list[QueryMessage]] = relationship(order_by="QueryMessage.id")


class QueryMessage(Base):
    __tablename__ = "query_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("query_thread.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(32), default=now)

    author: Mapped[User] = relationship()


class SimulationReport(Base):
    """A `pbrkit compare` report (offline HTML) attached to a programme."""

    __tablename__ = "simulation_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    title: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    attached_by: Mapped[int] = mapped_column(ForeignKey("portal_user.id"))
    attached_at: Mapped[str] = mapped_column(String(32), default=now)


class AuditRecord(Base):
    """Who did what, when: one row per change, never updated or deleted."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_record_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(32), default=now)
    #: The user, or None for the command line and the system.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("portal_user.id"))
    #: The actor as a person reads it (an email, `cli`), kept even if the user changes.
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    #: Everything else worth keeping, as JSON.
    details: Mapped[str] = mapped_column(Text, default="{}")
