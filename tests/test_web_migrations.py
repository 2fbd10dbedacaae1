"""The portal's Alembic migrations, from an empty database, on SQLite and PostgreSQL,
beside the payment ledger in the same database."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ledger_builders import market
from sqlalchemy import inspect
from web_portal import database_url  # noqa: F401 - a fixture

from pbrkit.pay.ledger import Ledger
from pbrkit.web.database import VERSION_TABLE, alembic_config, migrate, portal_engine
from pbrkit.web.models import Base

PORTAL_TABLES = set(Base.metadata.tables)
LEDGER_TABLES = {"payment_run", "ledger_entry"}


def tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_upgrade_from_empty_then_down_and_up_again_leaves_the_ledger_alone(database_url):
    engine = portal_engine(database_url)
    try:
        assert tables(engine) == set()
        migrate(engine)
        migrate(engine)  # idempotent: the service migrates on every start
        assert tables(engine) == PORTAL_TABLES | {VERSION_TABLE}
        with Ledger(database_url) as ledger:  # the ledger adds its tables beside the portal's
            ledger.record_run(market(contracts=2))
        assert tables(engine) == PORTAL_TABLES | LEDGER_TABLES | {VERSION_TABLE}

        command.downgrade(alembic_config(engine), "base")
        assert tables(engine) == LEDGER_TABLES | {VERSION_TABLE}
        migrate(engine)
        with Ledger(database_url, create=False) as ledger:
            assert ledger.verify().ok and ledger.runs().height == 2
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_models(database_url):
    with Ledger(database_url):
        pass  # a ledger first this time, as a database that already pays providers would be
    engine = portal_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_object": lambda obj, name, type_, reflected, compare_to:
                    type_ != "table" or name in PORTAL_TABLES})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
