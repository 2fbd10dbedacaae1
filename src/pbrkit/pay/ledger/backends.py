"""Everything that differs between SQLite and PostgreSQL, as a few small hooks.

The ledger's SQL is portable Core; only these differ by backend (in the manner
of splink's per-database API classes): how a connection is prepared, how a
writer takes the one write lock, how the append-only triggers are spelt, and
how a long read gets one consistent snapshot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event, text

from pbrkit.pay.ledger.tables import APPEND_ONLY_TABLES

#: Execution option that marks a connection as the ledger's writer.
WRITER = "pbrkit_ledger_writer"


def trigger_names(table: str) -> tuple[str, ...]:
    return (f"{table}_no_update", f"{table}_no_delete")


class Backend:
    """SQL that every backend shares; subclasses override the hooks."""

    name = "generic"

    def connect_args(self) -> dict[str, Any]:
        return {}

    def prepare(self, engine: Engine) -> None:
        """Hook engine events before the first connection is made."""

    def lock_for_writing(self, conn: Connection) -> None:
        """Block until no other writer holds the ledger; called first in a write transaction."""

    def lock_schema(self, conn: Connection) -> None:
        """Serialise two processes creating the schema at the same moment."""

    def before_create(self, engine: Engine) -> None:
        """Set persistent database options before the schema is first created."""

    def snapshot_options(self) -> dict[str, Any]:
        """Execution options for a read that must see one consistent state."""
        return {}

    def existing_triggers(self, conn: Connection) -> set[str]:
        raise NotImplementedError

    def trigger_ddl(self, missing: set[str]) -> list[str]:
        raise NotImplementedError

    def expected_triggers(self) -> set[str]:
        return {name for table in APPEND_ONLY_TABLES for name in trigger_names(table)}


class SQLite(Backend):
    """pysqlite with SQLAlchemy's documented BEGIN recipe.

    The driver's own transaction handling defers BEGIN until the first write,
    so two payment runs could both read the same latest run and both write
    originals. Taking BEGIN over (isolation_level None plus a "begin" event)
    lets the writer say BEGIN IMMEDIATE: the write lock is taken before the
    first read. WAL lets the portal read while a payment run writes.
    """

    name = "sqlite"

    #: Seconds a writer waits for another writer's payment run to commit.
    busy_timeout = 60

    def connect_args(self) -> dict[str, Any]:
        return {"timeout": self.busy_timeout}

    def prepare(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, connection_record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER) else "BEGIN")

    def before_create(self, engine: Engine) -> None:
        # WAL is a property of the file, kept once set; it can't be switched
        # inside a transaction, hence the raw autocommit connection.
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA journal_mode = WAL")
        finally:
            raw.close()

    def existing_triggers(self, conn: Connection) -> set[str]:
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {row[0] for row in rows}

    def trigger_ddl(self, missing: set[str]) -> list[str]:
        ddl = []
        for table in APPEND_ONLY_TABLES:
            for name, operation in zip(trigger_names(table), ("UPDATE", "DELETE"), strict=True):
                if name in missing:
                    ddl.append(
                        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {operation} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} is not allowed'); END"
                    )
        return ddl


class PostgreSQL(Backend):
    """psycopg 3. A writer takes SHARE ROW EXCLUSIVE on both tables: it conflicts
    with itself and with plain INSERTs, so writers queue, while readers (ACCESS
    SHARE) carry on. Reads that walk the chain use REPEATABLE READ so runs and
    entries come from one snapshot."""

    name = "postgresql"

    #: Arbitrary constant for the schema-creation advisory lock ("pbrkit" in ASCII).
    schema_lock_key = 0x706272_6B6974

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 10}

    def lock_for_writing(self, conn: Connection) -> None:
        conn.execute(text(f"LOCK TABLE {', '.join(APPEND_ONLY_TABLES)} IN SHARE ROW EXCLUSIVE MODE"))

    def lock_schema(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.schema_lock_key})

    def snapshot_options(self) -> dict[str, Any]:
        return {"isolation_level": "REPEATABLE READ"}

    def existing_triggers(self, conn: Connection) -> set[str]:
        rows = conn.execute(text(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.oid IN (to_regclass('payment_run'), to_regclass('ledger_entry'))"
        ))
        return {row[0] for row in rows}

    def expected_triggers(self) -> set[str]:
        return super().expected_triggers() | {f"{table}_no_truncate" for table in APPEND_ONLY_TABLES}

    def trigger_ddl(self, missing: set[str]) -> list[str]:
        # CREATE OR REPLACE FUNCTION is cheap and idempotent; triggers are only
        # created when missing, so opening a ledger never takes the ACCESS
        # EXCLUSIVE lock that DROP/CREATE TRIGGER would (it would queue behind a
        # payment run in progress).
        ddl = [
            "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP; END $$"
        ]
        for table in APPEND_ONLY_TABLES:
            for name, operation, level in (
                (f"{table}_no_update", "UPDATE", "ROW"),
                (f"{table}_no_delete", "DELETE", "ROW"),
                (f"{table}_no_truncate", "TRUNCATE", "STATEMENT"),
            ):
                if name in missing:
                    ddl.append(
                        f"CREATE TRIGGER {name} BEFORE {operation} ON {table} "
                        f"FOR EACH {level} EXECUTE FUNCTION ledger_append_only()"
                    )
        return ddl


BACKENDS: dict[str, Backend] = {"sqlite": SQLite(), "postgresql": PostgreSQL()}
