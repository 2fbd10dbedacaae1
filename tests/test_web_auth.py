"""Signing in, sessions, CSRF, tokens and the login rate limit."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from web_portal import PASSWORD, bearer, client_for, portal_on, seed

from pbrkit.web import accounts, programmes
from pbrkit.web.auth import CSRF_HEADER, LoginLimiter, TooManyAttempts
from pbrkit.web.models import ApiToken, AuditRecord, User
from pbrkit.web.settings import DEVELOPMENT_SECRET, Settings


@pytest.fixture
def world(tmp_path):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files", login_attempts=3)
    try:
        seeded = seed(portal, objects=False)
        with portal.session() as session:
            commissioner = accounts.principal_for_user(session, seeded.users["commissioner"])
            seeded.ids["programme_id"] = programmes.add_programme(session, commissioner, name="p", title="p",
                                                                  design="tr2014").id
        with client_for(portal) as seeded.client:
            yield seeded
    finally:
        portal.close()


def sign_in(client, email="commissioner@example.org", password=PASSWORD, **kwargs):
    return client.post("/api/v1/session", json={"email": email, "password": password}, **kwargs)


def test_session_cookie_is_signed_httponly_lax_and_secure(world):
    response = sign_in(world.client)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    assert PASSWORD not in cookie
    assert world.client.get("/api/v1/session").json()["user"]["email"] == "commissioner@example.org"


def test_a_change_by_session_needs_the_sessions_csrf_token(world):
    client = world.client
    csrf = sign_in(client).json()["csrf_token"]
    body = {"name": "csrf-test", "title": "t", "design": "tr2014"}
    missing = client.post("/api/v1/programmes", json=body)
    forged = client.post("/api/v1/programmes", json=body, headers={CSRF_HEADER: "forged-" + csrf[7:]})
    assert missing.status_code == forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    assert client.post("/api/v1/programmes", json=body, headers={CSRF_HEADER: csrf}).status_code == 201


def test_a_form_post_by_session_checks_the_csrf_field(world):
    client = world.client
    csrf = sign_in(client).json()["csrf_token"]
    url = f"/api/v1/programmes/{world.ids['programme_id']}/reports"
    report = {"file": ("r.html", b"<html><body>r</body></html>", "text/html")}
    assert client.post(url, files=report, data={"csrf_token": "forged"}).status_code == 403
    assert client.post(url, files=report, data={"csrf_token": csrf}).status_code == 201


def test_another_sessions_csrf_token_is_refused(world):
    with client_for(world.portal) as other:
        other_csrf = sign_in(other, "auditor@example.org").json()["csrf_token"]
    sign_in(world.client)
    response = world.client.post("/api/v1/tokens", json={"name": "x"}, headers={CSRF_HEADER: other_csrf})
    assert response.status_code == 403


def test_a_bearer_token_needs_no_csrf_and_a_bad_one_is_refused(world):
    client = world.client
    assert client.post("/api/v1/tokens", json={"name": "x"}, headers=bearer(world.tokens["auditor"])).status_code == 201
    assert client.get("/api/v1/session", headers=bearer("pbrk_not-a-token")).status_code == 401
    assert client.get("/api/v1/session", headers={"Authorization": "Basic abc"}).status_code == 401


def test_login_rate_limit_per_email_and_address(world):
    client = world.client
    for _ in range(3):
        assert sign_in(client, password="wrong password!").status_code == 401
    refused = sign_in(client)  # the right password, too late
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert sign_in(client, "auditor@example.org").status_code == 200  # another email is not held up
    with world.portal.session() as session:
        actions = session.scalars(select(AuditRecord.action)).all()
    assert actions.count("sign-in refused") == 3


def test_limiter_forgets_failures_after_the_window():
    now = [0.0]
    limiter = LoginLimiter(attempts=2, window_seconds=60, clock=lambda: now[0])
    limiter.failed("a@x", "1.2.3.4")
    limiter.failed("a@x", "1.2.3.4")
    with pytest.raises(TooManyAttempts):
        limiter.check("a@x", "1.2.3.4")
    limiter.check("a@x", "5.6.7.8")
    now[0] = 61.0
    limiter.check("a@x", "1.2.3.4")


def test_wrong_email_and_wrong_password_are_refused_alike(world):
    unknown = sign_in(world.client, "nobody@example.org")
    wrong = sign_in(world.client, password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_passwords_are_argon2_and_tokens_are_kept_only_as_hashes(world):
    with world.portal.session() as session:
        hashes = session.scalars(select(User.password_hash)).all()
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(token in stored for token in world.tokens.values() if token)


def test_a_deactivated_user_is_out_at_once(world):
    client = world.client
    token = world.tokens["auditor"]
    assert client.get("/api/v1/session", headers=bearer(token)).status_code == 200
    response = client.patch(f"/api/v1/users/{world.users['auditor']}", json={"active": False},
                            headers=bearer(world.tokens["commissioner"]))
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.get("/api/v1/session", headers=bearer(token)).status_code == 401
    assert sign_in(client, "auditor@example.org").status_code == 401


def test_a_revoked_token_is_refused(world):
    client = world.client
    issued = client.post("/api/v1/tokens", json={"name": "short-lived"}, headers=bearer(world.tokens["auditor"]))
    token, token_id = issued.json()["token"], issued.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/session", headers=bearer(token)).status_code == 401


def test_sign_out_ends_the_session(world):
    client = world.client
    csrf = sign_in(client).json()["csrf_token"]
    assert client.delete("/api/v1/session", headers={CSRF_HEADER: csrf}).status_code == 204
    assert client.get("/api/v1/session").status_code == 401


def test_a_copied_session_cookie_stops_working_at_sign_out(world):
    client = world.client
    csrf = sign_in(client).json()["csrf_token"]
    copied = dict(client.cookies)
    with client_for(world.portal) as thief:
        thief.cookies.update(copied)
        assert thief.get("/api/v1/session").status_code == 200  # the copy works while signed in...
        assert client.delete("/api/v1/session", headers={CSRF_HEADER: csrf}).status_code == 204
        assert thief.get("/api/v1/session").status_code == 401  # ...and not after signing out
        assert thief.get("/statements", follow_redirects=False).status_code == 303  # nor for the pages


def test_a_new_password_signs_the_user_out_everywhere(world):
    client = world.client
    sign_in(client)
    assert client.get("/api/v1/session").status_code == 200
    token = world.tokens["auditor"]
    with world.portal.session() as session:
        boss = accounts.principal_for_user(session, world.users["commissioner"])
        accounts.change_user(session, boss, world.users["commissioner"], password="a brand new long password")
        accounts.change_user(session, boss, world.users["auditor"], password="another brand new password")
    assert client.get("/api/v1/session").status_code == 401  # the open session has ended
    assert client.get("/api/v1/session", headers=bearer(token)).status_code == 401  # the token is revoked


def test_the_audit_log_is_append_only(world):
    with world.portal.engine.connect() as conn:
        for statement in ("UPDATE audit_record SET actor = 'someone else'", "DELETE FROM audit_record"):
            with pytest.raises(Exception, match="append-only"):
                with conn.begin():
                    conn.execute(text(statement))


def test_the_development_secret_is_refused_outside_development(tmp_path):
    with pytest.raises(ValueError, match="PBRKIT_SECRET_KEY"):
        Settings(environment="production", database_url=str(tmp_path / "x.sqlite"))
    with pytest.raises(ValueError, match="at least"):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="development").secret_key.get_secret_value() == DEVELOPMENT_SECRET
