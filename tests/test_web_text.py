"""SQL-like and script-like strings in every free-text field: stored and returned exactly, never executed.

(Escaping them in HTML is the pages' job; the API returns JSON, where they are
just strings.) Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from web_portal import (  # noqa: F401 - database_url is a fixture
    NORTH_CONTRACT,
    PERIOD,
    REPORT_HTML,
    bearer,
    clean_zip,
    client_for,
    database_url,
    portal_on,
    seed,
)

from pbrkit.web.models import AuditRecord, User

NASTY = [
    "'; DROP TABLE portal_user; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM audit_record WHERE ('1'='1",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }} ${7*7} %s %(x)s \\x00",
    "ünïcödé ‘quotes’ \\ back\\slash \n second line",
]


@pytest.fixture(scope="module")
def world(database_url, tmp_path_factory):
    portal = portal_on(database_url, tmp_path_factory.mktemp("files"))
    try:
        seeded = seed(portal)
        with client_for(portal) as seeded.client:
            yield seeded
    finally:
        portal.close()


def counts(world) -> tuple[int, int]:
    with world.portal.session() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(AuditRecord)))


@pytest.mark.parametrize("text", NASTY)
def test_free_text_is_kept_verbatim(world, text):
    client, commissioner = world.client, bearer(world.tokens["commissioner"])
    north = bearer(world.tokens["provider_own"])
    users_before, audit_before = counts(world)

    programme = client.post("/api/v1/programmes", headers=commissioner,
                            json={"name": f"p{audit_before}", "title": text, "design": "tr2014"}).json()
    assert client.get(f"/api/v1/programmes/{programme['id']}", headers=commissioner).json()["title"] == text

    token = client.post("/api/v1/tokens", headers=north, json={"name": text}).json()
    assert token["name"] == text

    raised = client.post("/api/v1/queries", headers=north, json={
        "contract_id": NORTH_CONTRACT, "period": PERIOD, "line_key": "fee.service", "body": text}).json()
    client.post(f"/api/v1/queries/{raised['id']}/messages", headers=commissioner, json={"body": text})
    thread = client.get(f"/api/v1/queries/{raised['id']}", headers=north).json()
    assert [m["body"] for m in thread["messages"]] == [text, text]

    approval = client.post(f"/api/v1/statements/{NORTH_CONTRACT}/{PERIOD}/approvals", headers=commissioner,
                           json={"note": text}).json()
    assert approval["note"] == text

    report = client.post(f"/api/v1/programmes/{programme['id']}/reports", headers=commissioner,
                         files={"file": ("compare.html", REPORT_HTML, "text/html")}, data={"title": text}).json()
    assert report["title"] == text

    audit = client.get("/api/v1/audit", headers=commissioner).json()
    assert any(record["details"].get("title") == text for record in audit)
    assert counts(world) > (users_before, audit_before)  # nothing was dropped or deleted
    assert counts(world)[0] == users_before


def test_an_upload_keeps_its_file_name_verbatim(world):
    # Every string at once; a file name cannot hold a path separator or a line break, and
    # multipart sends a double quote as %22, so those are left out.
    filename = " ".join(t.replace("/", "").replace("\\", "").replace("\n", "").replace('"', "") for t in NASTY)
    dataset = world.client.post(f"/api/v1/programmes/{world.ids['programme_id']}/datasets",
                                headers=bearer(world.tokens["commissioner"]),
                                files={"files": (filename + ".zip", io.BytesIO(clean_zip()), "application/zip")})
    assert dataset.status_code == 201, dataset.text
    assert dataset.json()["filename"] == filename + ".zip"


@pytest.mark.parametrize("text", NASTY)
def test_nasty_identifiers_are_just_not_found(world, text):
    client, commissioner = world.client, bearer(world.tokens["commissioner"])
    from urllib.parse import quote

    assert client.get(f"/api/v1/statements/{quote(text, safe='')}/{PERIOD}", headers=commissioner).status_code == 404
    assert client.get("/api/v1/statements", headers=commissioner, params={"provider_id": text}).json() == []
    assert client.get("/api/v1/queries", headers=commissioner, params={"contract_id": text}).json() == []
    refused = client.post("/api/v1/programmes", headers=commissioner, json={"name": text, "title": "t",
                                                                            "design": "tr2014"})
    assert refused.status_code == 422
    refused = client.post("/api/v1/users", headers=commissioner, json={
        "email": "someone@example.org", "role": "provider", "provider_id": text, "password": "long enough pass"})
    assert refused.status_code == 422
