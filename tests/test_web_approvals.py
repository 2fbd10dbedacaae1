"""Approving a statement signs off the version the approver saw, never a later one."""

from __future__ import annotations

from web_portal import NORTH_CONTRACT, PERIOD, bearer, client_for, portal_on, seed

from pbrkit.web.statements import latest_run

URL = f"/api/v1/statements/{NORTH_CONTRACT}/{PERIOD}/approvals"


def test_an_approval_of_a_statement_changed_since_it_was_seen_is_refused(tmp_path):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files")
    try:
        world = seed(portal)
        token = world.tokens["commissioner"]
        seen = latest_run(portal.ledger, NORTH_CONTRACT, PERIOD)
        with client_for(portal) as client:
            stale = client.post(URL, json={"note": "ok", "run_id": seen - 1}, headers=bearer(token))
            assert stale.status_code == 422 and "changed since you viewed it" in stale.json()["detail"]
            fresh = client.post(URL, json={"note": "ok", "run_id": seen}, headers=bearer(token))
            assert fresh.status_code == 201, fresh.text
            assert fresh.json()["run_id"] == seen
    finally:
        portal.close()
