"""The authorisation matrix: every API route against every role, on SQLite and PostgreSQL.

The routes come from the app's own OpenAPI document, so a route added without
an entry in MATRIX fails `test_every_route_has_a_matrix_entry`. Roles:
commissioner; provider_own (crc-north, whose objects the requests name);
provider_other (crc-south); auditor; anonymous (no credentials at all).
A provider asking for another provider's things must get 404 and no data.
"""

from __future__ import annotations

import uuid

import pytest
from standard_builders import CLEAN
from web_portal import (  # noqa: F401 - database_url is a fixture
    PASSWORD,
    REPORT_HTML,
    ROLES,
    bearer,
    client_for,
    database_url,
    portal_on,
    seed,
)

from pbrkit.web.app import create_app

C, OWN, OTHER, AUD, ANON = ROLES
ALL = {C: 200, OWN: 200, OTHER: 200, AUD: 200, ANON: 401}
READ_ALL = {C: 200, OWN: 403, OTHER: 403, AUD: 200, ANON: 401}
NORTH_ONLY = {C: 200, OWN: 200, OTHER: 404, AUD: 200, ANON: 401}


def change(ok: int) -> dict[str, int]:
    """A change only the commissioner may make."""
    return {C: ok, OWN: 403, OTHER: 403, AUD: 403, ANON: 401}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def clean_files():
    return {"files": [("files", (p.name, p.read_bytes(), "text/csv")) for p in sorted(CLEAN.glob("*.csv"))]}


#: (method, path) -> (request arguments, or a function of the world giving them; expected status per role)
MATRIX = {
    ("POST", "/api/v1/session"): (lambda w: {"json": {"email": "commissioner@example.org", "password": PASSWORD}},
                                  {C: 200, OWN: 200, OTHER: 200, AUD: 200, ANON: 200}),
    ("GET", "/api/v1/session"): ({}, ALL),
    ("DELETE", "/api/v1/session"): ({}, {C: 204, OWN: 204, OTHER: 204, AUD: 204, ANON: 401}),
    ("POST", "/api/v1/tokens"): ({"json": {"name": "matrix"}}, {C: 201, OWN: 201, OTHER: 201, AUD: 201, ANON: 401}),
    ("DELETE", "/api/v1/tokens/{token_id}"): ({}, {C: 204, OWN: 404, OTHER: 404, AUD: 404, ANON: 401}),
    ("GET", "/api/v1/users"): ({}, READ_ALL),
    ("POST", "/api/v1/users"): (lambda w: {"json": {"email": unique("new") + "@example.org", "role": "auditor",
                                                    "password": PASSWORD}}, change(201)),
    ("PATCH", "/api/v1/users/{user_id}"): ({"json": {"active": True}}, change(200)),
    ("GET", "/api/v1/programmes"): ({}, ALL),
    ("POST", "/api/v1/programmes"): (lambda w: {"json": {"name": unique("p"), "title": "t", "design": "tr2014"}},
                                     change(201)),
    ("GET", "/api/v1/programmes/{programme_id}"): ({}, ALL),
    ("GET", "/api/v1/programmes/{programme_id}/reports"): ({}, READ_ALL),
    ("POST", "/api/v1/programmes/{programme_id}/reports"): (
        {"files": {"file": ("compare.html", REPORT_HTML, "text/html")}, "data": {"title": "matrix"}}, change(201)),
    ("GET", "/api/v1/reports/{report_id}"): ({}, READ_ALL),
    ("GET", "/api/v1/datasets"): ({}, READ_ALL),
    ("GET", "/api/v1/datasets/{dataset_id}"): ({}, READ_ALL),
    ("POST", "/api/v1/programmes/{programme_id}/datasets"): (lambda w: clean_files(), change(201)),
    ("POST", "/api/v1/programmes/{programme_id}/runs"): (
        lambda w: {"json": {"dataset_id": w.ids["dataset_id"], "through": "2015Q1"}}, change(202)),
    ("GET", "/api/v1/jobs"): ({}, READ_ALL),
    ("GET", "/api/v1/jobs/{job_id}"): ({}, READ_ALL),
    ("GET", "/api/v1/statements"): ({}, ALL),
    ("GET", "/api/v1/statements/{contract_id}/{period}"): ({}, NORTH_ONLY),
    ("GET", "/api/v1/statements/{contract_id}/{period}/csv"): ({}, NORTH_ONLY),
    ("GET", "/api/v1/statements/{contract_id}/{period}/approvals"): ({}, NORTH_ONLY),
    ("POST", "/api/v1/statements/{contract_id}/{period}/approvals"): ({"json": {"note": "ok"}}, change(201)),
    ("GET", "/api/v1/providers"): ({}, ALL),
    ("GET", "/api/v1/providers/{provider_id}/dashboard"): ({}, NORTH_ONLY),
    ("GET", "/api/v1/renewals"): ({}, ALL),
    ("GET", "/api/v1/queries"): ({}, ALL),
    ("POST", "/api/v1/queries"): (
        lambda w: {"json": {"contract_id": w.ids["contract_id"], "period": w.ids["period"],
                            "line_key": "fee.service", "body": "matrix"}},
        {C: 201, OWN: 201, OTHER: 404, AUD: 403, ANON: 401}),
    ("GET", "/api/v1/queries/{query_id}"): ({}, NORTH_ONLY),
    ("POST", "/api/v1/queries/{query_id}/messages"): ({"json": {"body": "matrix reply"}},
                                                      {C: 201, OWN: 201, OTHER: 404, AUD: 403, ANON: 401}),
    ("GET", "/api/v1/audit"): ({}, READ_ALL),
}


def api_routes() -> set[tuple[str, str]]:
    """Every (method, path) the API documents, from a portal built for the purpose."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as scratch:
        portal = portal_on(f"sqlite:///{Path(scratch) / 'routes.sqlite'}", Path(scratch) / "files")
        try:
            schema = create_app(portal.settings, portal).openapi()
        finally:
            portal.close()
    return {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations
            if path.startswith("/api/")}


def test_every_route_has_a_matrix_entry():
    routes = api_routes()
    assert routes - MATRIX.keys() == set(), "routes without an authorisation matrix entry"
    assert MATRIX.keys() - routes == set(), "matrix entries for routes that no longer exist"


@pytest.fixture(scope="module")
def world(database_url, tmp_path_factory):
    portal = portal_on(database_url, tmp_path_factory.mktemp("files"))
    try:
        seeded = seed(portal)
        with client_for(portal) as seeded.client:
            yield seeded
    finally:
        portal.close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_role_against_route(world, route, role):
    method, path = route
    arguments, expected = MATRIX[route]
    arguments = dict(arguments(world) if callable(arguments) else arguments)
    client = world.client
    client.cookies.clear()  # no session cookie from an earlier case (signing in sets one)
    response = client.request(method, path.format(**world.ids), headers=bearer(world.tokens[role]), **arguments)
    assert response.status_code == expected[role], response.text
    if response.status_code in (401, 403, 404):
        assert response.json().keys() == {"detail"}, "a refusal carries no data"


def test_a_provider_never_sees_another_providers_statement(world):
    client = world.client
    client.cookies.clear()
    south = bearer(world.tokens[OTHER])
    for path in ("/api/v1/statements/tr2014-crc-north/2015Q1", "/api/v1/statements/tr2014-crc-north/2015Q1/csv",
                 "/api/v1/providers/crc-north/dashboard", f"/api/v1/queries/{world.ids['query_id']}"):
        response = client.get(path, headers=south)
        assert response.status_code == 404 and "amount" not in response.text and "basis" not in response.text
    listed = client.get("/api/v1/statements", headers=south, params={"provider_id": "crc-north"}).json()
    assert listed == []
    mine = client.get("/api/v1/statements", headers=south).json()
    assert {s["provider_id"] for s in mine} == {"crc-south"}
    assert client.get("/api/v1/providers", headers=south).json() == ["crc-south"]
    assert all(q["provider_id"] == "crc-south" for q in client.get("/api/v1/queries", headers=south).json())


def test_the_role_rules_read_as_the_issue_says():
    from pbrkit.web.access import PERMISSIONS, Action, Principal, Role, allowed

    assert PERMISSIONS[Role.commissioner] == set(Action)
    assert all(action.name.startswith("read_") for action in PERMISSIONS[Role.auditor])
    assert PERMISSIONS[Role.auditor] == {a for a in Action if a.name.startswith("read_")}
    provider = Principal(1, "p@example.org", Role.provider, "crc-north")
    assert provider.provider_scope == "crc-north"
    assert Principal(2, "a@example.org", Role.auditor).provider_scope is None
    assert not allowed(provider, Action.upload_datasets) and allowed(provider, Action.raise_queries)
    assert not allowed(None, Action.read_statements)
