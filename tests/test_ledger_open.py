"""Opening a ledger: URLs and paths in, a clear `LedgerError` for anything wrong."""

from __future__ import annotations

import time

import pytest
from ledger_builders import statement
from postgres_server import free_port

from pbrkit.pay.ledger import Ledger, LedgerError, ledger_url


def test_a_plain_path_is_a_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Ledger("ledger.db") as ledger:
        ledger.record_run([statement()])
    assert (tmp_path / "ledger.db").exists()
    with Ledger(tmp_path / "ledger.db", create=False) as again:
        assert again.backend.name == "sqlite" and again.entries().height == 3


def test_postgresql_urls_mean_psycopg_3():
    assert ledger_url("postgresql://u:secret@db.example/ledger").drivername == "postgresql+psycopg"
    assert ledger_url("postgres://u@db.example/ledger").drivername == "postgresql+psycopg"
    assert ledger_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize("url, says", [
    ("mysql://u@localhost/ledger", "unsupported ledger database 'mysql'"),
    ("nonsense+driver://x", "unsupported ledger database"),
    ("postgresql+nodriver://u@localhost/x", "cannot use"),
    ("://", "not a database URL"),
])
def test_a_bad_url_is_a_ledger_error(url, says):
    with pytest.raises(LedgerError, match=says):
        Ledger(url)


def test_an_unreachable_server_is_a_ledger_error_without_the_password():
    started = time.monotonic()
    with pytest.raises(LedgerError, match="cannot open the ledger at postgresql") as caught:
        Ledger(f"postgresql://clerk:hunter2@127.0.0.1:{free_port()}/ledger")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)
    assert time.monotonic() - started < 15


def test_a_sqlite_file_in_a_missing_directory_is_a_ledger_error(tmp_path):
    with pytest.raises(LedgerError, match="unable to open database file"):
        Ledger(tmp_path / "no" / "such" / "dir" / "ledger.db")


def test_reading_a_ledger_that_does_not_exist_is_an_error_not_a_new_ledger(tmp_path):
    with pytest.raises(LedgerError, match="there is no ledger at"):
        Ledger(tmp_path / "typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()


def test_a_database_without_ledger_tables_is_an_error_when_not_creating(ledger_url):
    if ledger_url.startswith("sqlite"):
        import sqlite3

        sqlite3.connect(ledger_url.removeprefix("sqlite:///")).close()
    with pytest.raises(LedgerError, match="holds no payment ledger"):
        Ledger(ledger_url, create=False)
    with Ledger(ledger_url) as created, Ledger(ledger_url, create=False) as reader:
        created.record_run([statement()])
        assert reader.statement_lines().height == 3


def test_a_busy_sqlite_ledger_is_a_ledger_error(tmp_path, monkeypatch):
    from pbrkit.pay.ledger.backends import SQLite

    monkeypatch.setattr(SQLite, "busy_timeout", 0.2)
    path = tmp_path / "ledger.db"
    with Ledger(path) as first, Ledger(path) as second:
        def hold(_outcome):
            with pytest.raises(LedgerError, match="another payment run is writing"):
                second.record_run([statement("C2")])

        first.record_run([statement("C1")], progress=hold)
        assert first.runs()["contract_id"].to_list() == ["C1"]
