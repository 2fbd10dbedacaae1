"""Alembic environment: the portal's metadata, on the engine `database.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pbrkit.web.database import VERSION_TABLE
from pbrkit.web.models import Base

config = context.config
target_metadata = Base.metadata


def _portal_tables_only(obj, name, type_, reflected, compare_to):
    """Autogenerate must leave the ledger's tables (and anything else) alone."""
    return type_ != "table" or name in target_metadata.tables


def run_migrations() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            include_object=_portal_tables_only,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
