"""The portal's connection to the ledger database, and its migrations.

The portal opens its own engine on the ledger's URL (`pbrkit.pay.ledger.ledger_url`
reads it, so a plain path means a SQLite file and `postgresql://` means psycopg 3).
Schema changes are Alembic revisions shipped inside the package; `migrate` applies
them from code, with no alembic.ini, whenever the service starts or a user is
added. Alembic's version table is named for the portal so it can never be
confused with anything else in a shared database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from pbrkit.pay.ledger import ledger_url

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "portal_alembic_version"


def portal_engine(url: str) -> Engine:
    """An engine on the ledger database; SQLite waits for a payment run's lock
    rather than failing, and checks foreign keys."""
    parsed = ledger_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, connection_record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        return engine
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration built in code, handing it our engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the portal's tables up to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
