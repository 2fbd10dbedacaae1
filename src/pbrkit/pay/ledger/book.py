"""`Ledger`: the payment ledger behind one SQLAlchemy URL.

A SQLite file by default (a plain path is enough), PostgreSQL by URL for a
commissioner running the service for many users. The CLI and the portal only
ever talk to this class; everything it raises for a bad URL, an unreachable
server or a busy database is a `LedgerError` with a sentence to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from sqlalchemy import URL, Connection, create_engine, inspect, make_url, select, text
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)

import pbrkit
from pbrkit.pay.ledger import read
from pbrkit.pay.ledger import record as recording
from pbrkit.pay.ledger import verify as verifying
from pbrkit.pay.ledger.backends import BACKENDS, WRITER, Backend
from pbrkit.pay.ledger.chain import GENESIS
from pbrkit.pay.ledger.errors import LedgerError
from pbrkit.pay.ledger.record import RunSummary, StatementOutcome
from pbrkit.pay.ledger.tables import metadata, payment_run
from pbrkit.pay.ledger.verify import Verification
from pbrkit.pay.statement import Statement


def ledger_url(target: str | os.PathLike | URL) -> URL:
    """A SQLAlchemy URL for `target`: a URL as given, anything without `://` a SQLite file path.

    `postgresql://` and `postgres://` mean psycopg 3, the driver pbrkit ships
    with, rather than SQLAlchemy's default psycopg2.
    """
    if isinstance(target, URL):
        url = target
    else:
        text_ = os.fspath(target)
        if "://" not in text_:
            return URL.create("sqlite", database=str(Path(text_).expanduser().absolute()))
        try:
            url = make_url(text_)
        except ArgumentError as error:
            raise LedgerError(f"{text_!r} is not a database URL or a file path: {error}") from error
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


class Ledger:
    """The append-only, hash-chained payment ledger.

    Opening checks the database can be reached and, with `create=True`, creates
    the tables and append-only triggers if any are missing (idempotently, so
    restarting a service or opening twice is harmless). With `create=False`
    (read-only callers) a missing ledger is an error instead of a new empty one.
    """

    def __init__(self, url: str | os.PathLike | URL, *, create: bool = True) -> None:
        self.url = ledger_url(url)
        backend = BACKENDS.get(self.url.get_backend_name())
        if backend is None:
            raise LedgerError(
                f"unsupported ledger database {self.url.get_backend_name()!r}: use a SQLite file path or a "
                "postgresql:// URL")
        self.backend: Backend = backend
        if backend.name == "sqlite" and not create and not self._sqlite_file_exists():
            raise LedgerError(f"there is no ledger at {self.url.database}: record a payment run first")
        try:
            self.engine = create_engine(self.url, connect_args=backend.connect_args())
        except ModuleNotFoundError as error:
            raise LedgerError(
                f"the driver for {self.where} is not installed ({error.name}); install pbrkit[postgres]") from error
        except ArgumentError as error:
            raise LedgerError(f"cannot use {self.where}: {error}") from error
        backend.prepare(self.engine)
        try:
            with self._errors("open"):
                self._open(create)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def where(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.url.render_as_string(hide_password=True)

    def _sqlite_file_exists(self) -> bool:
        database = self.url.database
        return not database or database == ":memory:" or Path(database).exists()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError, ProgrammingError) as error:
            cause = str(error.orig).strip() if error.orig is not None else str(error)
            if "locked" in cause:
                cause += " (another payment run is writing; try again when it has finished)"
            raise LedgerError(f"cannot {action} the ledger at {self.where}: {cause}") from error

    def _open(self, create: bool) -> None:
        # Look before taking any lock: opening a complete ledger must not queue
        # behind a payment run in progress.
        with self.engine.connect() as conn:
            missing_tables = {t.name for t in metadata.sorted_tables} - set(inspect(conn).get_table_names())
            missing_triggers = (self.backend.expected_triggers() - self.backend.existing_triggers(conn)
                                if not missing_tables else set())
        if not missing_tables and not missing_triggers:
            return
        if not create:
            if missing_tables:
                raise LedgerError(f"{self.where} holds no payment ledger (tables {sorted(missing_tables)} missing)")
            return
        if missing_tables:
            self.backend.before_create(self.engine)
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITER: True})
            with conn.begin():
                self.backend.lock_schema(conn)
                metadata.create_all(conn, checkfirst=True)
                missing = self.backend.expected_triggers() - self.backend.existing_triggers(conn)
                for ddl in self.backend.trigger_ddl(missing):
                    conn.execute(text(ddl))

    @contextmanager
    def _reading(self, *, snapshot: bool = False) -> Iterator[Connection]:
        with self._errors("read"), self.engine.connect() as conn:
            if snapshot:
                conn.execution_options(**self.backend.snapshot_options())
            with conn.begin():
                yield conn

    # -- writing ---------------------------------------------------------------

    def record_run(self, statements: Iterable[Statement],
                   progress: Callable[[StatementOutcome], object] | None = None) -> RunSummary:
        """Record every statement of one `pbrkit pay` invocation in ONE transaction.

        Either every statement's run and entries are committed or none are (an
        exception from `statements`, `progress` or the database rolls the whole
        batch back), so a crashed run is simply re-run. Writers queue on the
        write lock, so two runs at once can't both write originals.
        `progress(outcome)` is called after each statement is written.
        """
        with self._errors("write to"), self.engine.connect() as conn:
            conn.execution_options(**{WRITER: True})
            with conn.begin():
                self.backend.lock_for_writing(conn)
                return recording.record_run(conn, statements, progress, pbrkit_version=pbrkit.__version__)

    # -- checking --------------------------------------------------------------

    def verify(self, anchor: str | None = None) -> Verification:
        """Recompute every hash and link; report the first break.

        `anchor` is a head hash kept outside the database (say from an earlier
        `RunSummary.head`): if no run has it, runs were removed from the end.
        """
        with self._reading(snapshot=True) as conn:
            return verifying.verify(conn, anchor)

    def head(self) -> str:
        """Hash of the latest run: it seals every run and entry recorded so far."""
        with self._reading() as conn:
            latest = conn.execute(select(payment_run.c.hash).order_by(payment_run.c.id.desc()).limit(1)).scalar()
        return latest or GENESIS

    # -- reading ---------------------------------------------------------------

    def statement_lines(self, *, period: str | None = None, contract_id: str | None = None,
                        provider_id: str | None = None) -> pl.DataFrame:
        """Net statement lines: what is owed per line key once every adjustment is applied."""
        with self._reading() as conn:
            return read.statement_lines(conn, period=period, contract_id=contract_id, provider_id=provider_id)

    def entries(self, *, contract_id: str | None = None, provider_id: str | None = None,
                period: str | None = None, run_id: int | None = None) -> pl.DataFrame:
        """Every entry (optionally filtered), in chain order."""
        with self._reading() as conn:
            return read.entries(conn, contract_id=contract_id, provider_id=provider_id, period=period,
                                run_id=run_id)

    def runs(self, *, contract_id: str | None = None, provider_id: str | None = None,
             period: str | None = None, batch_id: str | None = None) -> pl.DataFrame:
        """Every run (optionally filtered), in chain order."""
        with self._reading() as conn:
            return read.runs(conn, contract_id=contract_id, provider_id=provider_id, period=period,
                             batch_id=batch_id)

    def contracts(self) -> pl.DataFrame:
        """Each contract paid through the ledger, with the terms of its latest run."""
        with self._reading() as conn:
            return read.contracts(conn)

    def statement(self, contract_id: str, period: str) -> Statement:
        """The statement as the ledger now pays it (net lines), for rendering."""
        with self._reading(snapshot=True) as conn:
            return read.statement(conn, contract_id, period)

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.where!r})"

