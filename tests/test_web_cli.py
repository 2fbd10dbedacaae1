"""`pbrkit user add` and `pbrkit serve`."""

from __future__ import annotations

import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from web_portal import PASSWORD, portal_on

from pbrkit.cli import app
from pbrkit.web.models import AuditRecord, User

runner = CliRunner()
NO_ENV = {"PBRKIT_SECRET_KEY": None, "PBRKIT_DATABASE_URL": None, "PBRKIT_ENVIRONMENT": None}


def add(db, *args, password=PASSWORD + "\n"):
    return runner.invoke(app, ["user", "add", *args, "--password-stdin", "--db", str(db)], input=password,
                         env=NO_ENV)


def test_user_add_creates_a_provider_user_who_can_sign_in(tmp_path):
    db = tmp_path / "ledger.sqlite"
    result = add(db, "Finance@North.example", "--role", "provider", "--provider", "crc-north")
    assert result.exit_code == 0, result.output
    assert "Added provider finance@north.example of crc-north" in result.output
    portal = portal_on(str(db), tmp_path / "files")
    with portal, TestClient(portal_app(portal), base_url="https://testserver") as client:
        signed_in = client.post("/api/v1/session", json={"email": "finance@north.example", "password": PASSWORD})
        assert signed_in.status_code == 200 and signed_in.json()["user"]["provider_id"] == "crc-north"
        with portal.session() as session:
            record = session.scalars(select(AuditRecord).where(AuditRecord.action == "user added")).one()
            assert record.actor == "cli" and record.actor_id is None
            assert PASSWORD not in record.details


def portal_app(portal):
    from pbrkit.web.app import create_app

    return create_app(portal.settings, portal)


def test_user_add_refuses_what_it_cannot_accept(tmp_path):
    db = tmp_path / "ledger.sqlite"
    no_provider = add(db, "a@example.org", "--role", "provider")
    assert no_provider.exit_code == 2 and "provider id" in no_provider.output
    assert add(db, "a@example.org", "--role", "auditor", password="short\n").exit_code == 2
    assert add(db, "a@example.org", "--role", "auditor").exit_code == 0
    again = add(db, "A@example.org", "--role", "commissioner")
    assert again.exit_code == 2 and "already a user a@example.org" in again.output
    assert runner.invoke(app, ["user", "add", "b@example.org", "--role", "overlord", "--db", str(db)]).exit_code == 2
    portal = portal_on(str(db), tmp_path / "files")
    with portal, portal.session() as session:
        assert session.scalars(select(User.email)).all() == ["a@example.org"]


def test_serve_refuses_the_development_secret_outside_development(tmp_path):
    result = runner.invoke(app, ["serve", "--db", str(tmp_path / "ledger.sqlite")], env=NO_ENV)
    assert result.exit_code == 2 and "PBRKIT_SECRET_KEY" in result.output


def test_serve_migrates_and_runs_the_app(tmp_path, monkeypatch):
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: served.update(app=application, **options))
    result = runner.invoke(app, ["serve", "--development", "--db", str(tmp_path / "ledger.sqlite"), "--port", "8123"],
                           env=NO_ENV)
    assert result.exit_code == 0, result.output
    assert served["port"] == 8123 and served["host"] == "127.0.0.1"
    with TestClient(served["app"]) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/api/v1/statements").status_code == 401
        assert "/api/v1/statements" in client.get("/api/v1/openapi.json").json()["paths"]
