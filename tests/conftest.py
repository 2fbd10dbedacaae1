"""Fixtures shared by the test modules: the ledger's two backends."""

from __future__ import annotations

import os

import pytest
from postgres_server import Unavailable, server


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session, or a skip saying why there is none.

    On CI (`CI=true`) a missing server fails instead: a green CI must mean the
    ledger was tested on PostgreSQL.
    """
    try:
        running = server()
    except Unavailable as error:
        reason = f"no PostgreSQL server for the ledger tests: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield running
    running.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    """A URL to a fresh, empty ledger database (SQLite) or schema (PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    pg = request.getfixturevalue("postgres_server")
    url = pg.fresh_schema()
    yield url
    pg.drop_schema(url)
