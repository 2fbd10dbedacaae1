"""`pbrkit portal-demo`: the synthetic programme loaded through the portal's own services,
one working account per role, and loading twice changes nothing in the ledger."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import web_portal  # noqa: F401 - cheap password hashing for the tests
from sqlalchemy import func, select
from typer.testing import CliRunner

from pbrkit.cli import app
from pbrkit.pay.ledger import Ledger
from pbrkit.synth import generate, write
from pbrkit.web import accounts
from pbrkit.web.auth import LoginLimiter
from pbrkit.web.models import AuditRecord, SimulationReport
from pbrkit.web.portal import Portal
from pbrkit.web.settings import Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synth")
    write(generate(start=dt.date(2011, 1, 1), years=7, scale=0.004, seed=5), directory, "parquet")
    return directory


def test_portal_demo_loads_the_programme_and_prints_working_accounts(data_dir, tmp_path):
    db, storage = tmp_path / "portal.sqlite", tmp_path / "files"
    report = tmp_path / "compare.html"
    report.write_text("<!doctype html><html><body>compare</body></html>")
    args = ["portal-demo", str(data_dir), "--db", str(db), "--storage", str(storage), "--report", str(report)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "statements" in first.output and "pbrkit serve --db" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "0 new, 0 adjusted" in second.output  # the ledger records an identical run once
    settings = Settings(database_url=str(db), storage_dir=storage, environment="development")
    rows = re.findall(r"│ (commissioner|provider|auditor) +│ (\S+) +│ (\S+) +│", second.output)
    assert {r[0] for r in rows} == {"commissioner", "provider", "auditor"}
    with Portal(settings) as portal, portal.session() as session:
        for role, email, password in rows:
            principal = accounts.sign_in(session, LoginLimiter(5, 60), email, password, "127.0.0.1")
            assert principal.role.value == role
        assert session.scalar(select(func.count()).select_from(SimulationReport)) == 1
        assert session.scalar(select(func.count()).select_from(AuditRecord)) > 0
    ledger = Ledger(str(db))
    try:
        assert ledger.verify().ok
    finally:
        ledger.close()
