"""A payment run through the API on a small synthetic dataset, on SQLite and PostgreSQL:
upload, run as a job, then statements, CSV, dashboard and a query thread, each seen by the right people."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest
from sqlalchemy import select
from web_portal import PASSWORD, bearer, client_for, database_url, portal_on, seed, zip_directory  # noqa: F401

from pbrkit.synth import generate, write
from pbrkit.web import accounts
from pbrkit.web.models import AuditRecord

THROUGH, AS_OF = "2016Q4", "2016-12-31"


@pytest.fixture(scope="module")
def synthetic_zip(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synth")
    write(generate(start=dt.date(2011, 1, 1), years=6, scale=0.004, seed=5), directory, "csv")
    return zip_directory(directory)


def start(client, token, programme_id, dataset_id):
    return client.post(f"/api/v1/programmes/{programme_id}/runs", headers=bearer(token),
                       json={"dataset_id": dataset_id, "through": THROUGH, "as_of": AS_OF})


def prepared(portal, client, synthetic_zip):
    """Users, a tr2014 programme and the synthetic dataset uploaded: (world, programme id, dataset id)."""
    world = seed(portal, objects=False)
    token = world.tokens["commissioner"]
    programme = client.post("/api/v1/programmes", headers=bearer(token),
                            json={"name": "tr2014", "title": "Transforming Rehabilitation", "design": "tr2014"})
    assert programme.status_code == 201, programme.text
    dataset = client.post(f"/api/v1/programmes/{programme.json()['id']}/datasets", headers=bearer(token),
                          files={"files": ("synthetic.zip", synthetic_zip, "application/zip")})
    assert dataset.status_code == 201, dataset.text
    return world, programme.json()["id"], dataset.json()["id"]


def test_payment_run_end_to_end(database_url, tmp_path, synthetic_zip):
    portal = portal_on(database_url, tmp_path / "files")
    with portal, client_for(portal) as client:
        world, programme_id, dataset_id = prepared(portal, client, synthetic_zip)
        commissioner = bearer(world.tokens["commissioner"])
        job = start(client, world.tokens["commissioner"], programme_id, dataset_id)
        assert job.status_code == 202, job.text
        finished = client.get(f"/api/v1/jobs/{job.json()['id']}", headers=commissioner).json()
        assert finished["status"] == "succeeded", finished["message"]
        assert finished["progress"] == 1.0 and finished["result"]["new"] == finished["result"]["statements"] > 0
        assert finished["message"].startswith("Recorded")

        everything = client.get("/api/v1/statements", headers=commissioner).json()
        providers = sorted({s["provider_id"] for s in everything})
        assert len(providers) > 2 and "nps" not in providers
        mine = providers[0]
        with portal.session() as session:
            user = accounts.principal_of(accounts.add_user(
                session, "test", email="finance@provider.example", role="provider", password=PASSWORD,
                provider_id=mine))
            token = bearer(accounts.issue_token(session, user, "e2e")[1])
        own = client.get("/api/v1/statements", headers=token).json()
        assert own and {s["provider_id"] for s in own} == {mine}
        assert len(own) == sum(s["provider_id"] == mine for s in everything)
        other = next(s for s in everything if s["provider_id"] != mine)
        refused = client.get(f"/api/v1/statements/{other['contract_id']}/{other['period']}", headers=token)
        assert refused.status_code == 404

        first = own[-1]
        detail = client.get(f"/api/v1/statements/{first['contract_id']}/{first['period']}", headers=token).json()
        assert detail["total_pence"] == first["total_pence"] == sum(line["amount_pence"] for line in detail["lines"])
        assert all(isinstance(line["basis"], dict) for line in detail["lines"])
        download = client.get(f"/api/v1/statements/{first['contract_id']}/{first['period']}/csv", headers=token)
        assert download.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert [r["key"] for r in rows] == [line["key"] for line in detail["lines"]]

        dashboard = client.get(f"/api/v1/providers/{mine}/dashboard", headers=token).json()
        assert dashboard["measures"] and all("expected_rate" in m for m in dashboard["measures"])
        assert sum(point["own"] for point in dashboard["funnel"]) == 1
        assert dashboard["payments_by_kind"]

        line_key = detail["lines"][0]["key"]
        raised = client.post("/api/v1/queries", headers=token, json={
            "contract_id": first["contract_id"], "period": first["period"], "line_key": line_key,
            "body": "We count one more completion."})
        assert raised.status_code == 201, raised.text
        answered = client.post(f"/api/v1/queries/{raised.json()['id']}/messages", headers=commissioner,
                               json={"body": "Agreed; corrected next quarter."}).json()
        assert answered["status"] == "answered" and [m["author"] for m in answered["messages"]] == [
            "finance@provider.example", "commissioner@example.org"]
        renewals = client.get("/api/v1/renewals", headers=token).json()
        assert all(r["provider_id"] == mine for r in renewals)

        with portal.session() as session:
            actions = session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)).all()
        for action in ("programme added", "dataset uploaded", "payment run started", "payment run finished",
                       "query raised", "query answered"):
            assert action in actions


def test_a_run_on_the_worker_thread_reports_progress_until_done(tmp_path, synthetic_zip):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files", run_jobs_in_request=False)
    with portal, client_for(portal) as client:
        world, programme_id, dataset_id = prepared(portal, client, synthetic_zip)
        job = start(client, world.tokens["commissioner"], programme_id, dataset_id).json()
        assert job["status"] in ("queued", "running")
        seen, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline:
            polled = client.get(f"/api/v1/jobs/{job['id']}", headers=bearer(world.tokens["auditor"])).json()
            seen.append(polled["progress"])
            if polled["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)
        assert polled["status"] == "succeeded", polled["message"]
        assert seen == sorted(seen) and seen[-1] == 1.0


def test_a_run_that_fails_says_why(tmp_path):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files")
    with portal, client_for(portal) as client:
        world = seed(portal)  # its job ran on the four-row corpus, which has no 2011 baseline
        job = client.get(f"/api/v1/jobs/{world.ids['job_id']}", headers=bearer(world.tokens["auditor"])).json()
        assert job["status"] == "failed" and "baseline" in job["message"]
        bad = client.post(f"/api/v1/programmes/{world.ids['programme_id']}/runs",
                          headers=bearer(world.tokens["commissioner"]),
                          json={"dataset_id": world.ids["dataset_id"], "through": "2016Q9"})
        assert bad.status_code == 422
