"""The HTML pages through FastAPI's TestClient (no browser): every page against
every role, CSRF on every form, labels on every field, text shown escaped,
uploads with problems listed, and the GOV.UK branding only on service.gov.uk.

The page list comes from the app's routes, so a new page without an entry in
the matrix fails here. Pages run the same service functions as the API, whose
own suite covers both database backends; these run on SQLite.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from web_portal import NORTH, NORTH_CONTRACT, PASSWORD, PERIOD, portal_on, seed

from pbrkit.web import datasets
from pbrkit.web.app import create_app
from pbrkit.web.models import Dataset, QueryMessage

EMAILS = {"commissioner": "commissioner@example.org", "provider_own": "north@example.org",
          "provider_other": "south@example.org", "auditor": "auditor@example.org"}
ROLES = (*EMAILS, "anonymous")
STATEMENT = f"/statements/{NORTH_CONTRACT}/{PERIOD}"
LINE = "fee.service"
#: Files, not pages: anyone may fetch them.
PUBLIC = {("GET", "/static/vega.js"), ("GET", "/static/{path:path}"), ("GET", "/assets/{path:path}"),
          ("GET", "/sign-in"), ("POST", "/sign-in")}

OK, SEE_OTHER, BAD, FORBIDDEN, MISSING, INVALID = 200, 303, 400, 403, 404, 422


def everyone(status: int) -> dict[str, int]:
    return {role: status for role in EMAILS}


def but(status: int, **others: int) -> dict[str, int]:
    return {**everyone(status), **others}


#: Each page: (the URL asked for, with {ids} from the seeded world; what each signed-in role gets).
#: Anonymous always goes to the sign-in page.
GET_PAGES = {
    "/": ("/", everyone(OK)),
    "/programmes": ("/programmes", everyone(OK)),
    "/programmes/{programme_id}": ("/programmes/{programme_id}", everyone(OK)),
    "/reports/{report_id}": ("/reports/{report_id}", but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/reports/{report_id}/view": ("/reports/{report_id}/view",
                                  but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/reports/{report_id}/download": ("/reports/{report_id}/download",
                                      but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/jobs": ("/jobs", but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/jobs/{job_id}": ("/jobs/{job_id}", but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/statements": ("/statements", everyone(OK)),
    "/statements/{contract_id}/{period}": (STATEMENT, but(OK, provider_other=MISSING)),
    "/statements/{contract_id}/{period}/download": (f"{STATEMENT}/download", but(OK, provider_other=MISSING)),
    "/statements/{contract_id}/{period}/query": (f"{STATEMENT}/query?line={LINE}",
                                                 but(OK, provider_other=MISSING, auditor=FORBIDDEN)),
    "/providers": ("/providers", but(OK, provider_own=SEE_OTHER, provider_other=SEE_OTHER)),
    "/providers/{provider_id}": (f"/providers/{NORTH}", but(OK, provider_other=MISSING)),
    "/renewals": ("/renewals", everyone(OK)),
    "/queries": ("/queries", everyone(OK)),
    "/queries/{query_id}": ("/queries/{query_id}", but(OK, provider_other=MISSING)),
    "/users": ("/users", but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
    "/audit": ("/audit", but(OK, provider_own=FORBIDDEN, provider_other=FORBIDDEN)),
}

#: Each form: (URL, fields sent, what each role gets). The commissioner's fields are
#: mostly left wrong on purpose (422/400), so the matrix changes little.
POST_FORMS = {
    "/sign-out": ("/sign-out", {}, everyone(SEE_OTHER)),
    "/programmes": ("/programmes", {"name": "Not A Name", "title": "t", "design": "tr2014"},
                    but(FORBIDDEN, commissioner=INVALID)),
    "/programmes/{programme_id}/datasets": ("/programmes/{programme_id}/datasets", {},
                                            but(FORBIDDEN, commissioner=BAD)),
    "/programmes/{programme_id}/runs": ("/programmes/{programme_id}/runs", {}, but(FORBIDDEN, commissioner=INVALID)),
    "/programmes/{programme_id}/reports": ("/programmes/{programme_id}/reports", {},
                                           but(FORBIDDEN, commissioner=BAD)),
    "/statements/{contract_id}/{period}/approvals": (f"{STATEMENT}/approvals", {"note": "ok"},
                                                     but(FORBIDDEN, commissioner=SEE_OTHER)),
    "/statements/{contract_id}/{period}/queries": (f"{STATEMENT}/queries", {"line_key": LINE, "body": " "},
                                                   but(INVALID, provider_other=MISSING, auditor=FORBIDDEN)),
    "/queries/{query_id}/messages": ("/queries/{query_id}/messages", {"body": ""},
                                     but(INVALID, provider_other=MISSING, auditor=FORBIDDEN)),
    "/users": ("/users", {"email": "not an email", "role": "auditor", "password": "x"},
               but(FORBIDDEN, commissioner=INVALID)),
    "/users/{user_id}/active": ("/users/{user_id}/active", {"active": "yes"}, but(FORBIDDEN, commissioner=SEE_OTHER)),
}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Browser:
    """A TestClient with a signed-in session and its CSRF token, as a browser holds them."""

    def __init__(self, client, email: str | None) -> None:
        self.client, self.csrf = client, None
        if email is None:
            return
        form = client.get("/sign-in")
        signed = client.post("/sign-in", data={"csrf_token": csrf_of(form.text), "email": email,
                                               "password": PASSWORD}, follow_redirects=False)
        assert signed.status_code == SEE_OTHER, signed.text
        self.csrf = csrf_of(client.get("/").text)  # the session's token changes at sign-in

    def get(self, url: str, **kw):
        return self.client.get(url, follow_redirects=False, **kw)

    def post(self, url: str, data: dict | None = None, csrf: bool = True, **kw):
        fields = {**({"csrf_token": self.csrf} if csrf and self.csrf else {}), **(data or {})}
        return self.client.post(url, data=fields, follow_redirects=False, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pages")
    portal = portal_on(f"sqlite:///{directory / 'portal.sqlite'}", directory / "files", secure_cookies=False)
    with portal:
        yield seed(portal)


def browser_for(app, role: str) -> Browser:
    """A new browser session on `app` (plain HTTP: the tests' portals do not ask for Secure cookies)."""
    return Browser(TestClient(app), EMAILS.get(role))


def app_for(portal):
    return create_app(portal.settings, portal)


@pytest.fixture(scope="module")
def app(world):
    return app_for(world.portal)


@pytest.fixture(scope="module")
def browsers(app):
    return {role: browser_for(app, role) for role in ROLES}


def page_routes() -> set[tuple[str, str]]:
    from pbrkit.web import pages

    return {(method, route.path) for route in pages.router.routes if isinstance(route, APIRoute)
            for method in route.methods}


def test_every_page_is_in_the_matrix():
    listed = {("GET", p) for p in GET_PAGES} | {("POST", p) for p in POST_FORMS} | PUBLIC
    assert page_routes() == listed


def test_pages_are_not_in_the_api_document(app):
    paths = app.openapi()["paths"]
    assert all(path.startswith("/api/") for path in paths)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(GET_PAGES))
def test_page_matrix(world, browsers, route, role):
    url, expected = GET_PAGES[route]
    answer = browsers[role].get(url.format(**world.ids))
    if role == "anonymous":
        assert answer.status_code == SEE_OTHER and answer.headers["location"].startswith("/sign-in?next=")
        return
    assert answer.status_code == expected[role], answer.text[:500]
    if answer.status_code == MISSING:
        assert "Page not found" in answer.text and NORTH not in answer.text  # nothing of crc-north's


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(POST_FORMS))
def test_form_matrix(world, app, route, role):
    url, fields, expected = POST_FORMS[route]
    browser = browser_for(app, role)  # its own session: signing out must not end the others'
    answer = browser.post(url.format(**world.ids), fields)
    if role == "anonymous":
        assert answer.status_code == SEE_OTHER and answer.headers["location"] == "/sign-in"
        return
    assert answer.status_code == expected[role], answer.text[:500]


@pytest.mark.parametrize("route", sorted(POST_FORMS))
def test_every_form_refuses_a_missing_or_forged_csrf_token(world, browsers, route):
    url, fields, _ = POST_FORMS[route]
    commissioner = browsers["commissioner"]
    for token in (None, "forged-" + "x" * 40):
        sent = {**fields, **({"csrf_token": token} if token else {})}
        answer = commissioner.post(url.format(**world.ids), sent, csrf=False)
        assert answer.status_code == FORBIDDEN and "This form has expired" in answer.text


def test_sign_in_needs_its_csrf_token_and_refuses_a_wrong_password(app):
    browser = browser_for(app, "anonymous")
    token = csrf_of(browser.get("/sign-in").text)
    forged = browser.post("/sign-in", {"csrf_token": "forged", "email": EMAILS["auditor"], "password": PASSWORD},
                          csrf=False)
    assert forged.status_code == FORBIDDEN and "The form expired" in forged.text
    assert browser.get("/").status_code == SEE_OTHER  # still not signed in
    wrong = browser.post("/sign-in", {"csrf_token": token, "email": EMAILS["auditor"], "password": "wrong"},
                         csrf=False)
    assert wrong.status_code == 401
    assert 'class="govuk-error-summary"' in wrong.text and 'href="#email"' in wrong.text
    assert "<title>Error: Sign in" in wrong.text and f'value="{EMAILS["auditor"]}"' in wrong.text


def test_sign_in_goes_back_only_to_a_page_of_this_site(app):
    browser = browser_for(app, "anonymous")
    for target, landing in (("/renewals", "/renewals"), ("//evil.example/", "/"), ("https://evil.example/", "/")):
        token = csrf_of(browser.get("/sign-in").text)
        answer = browser.post("/sign-in", {"csrf_token": token, "email": EMAILS["auditor"], "password": PASSWORD,
                                           "next": target}, csrf=False)
        assert answer.headers["location"] == landing


def test_sign_in_is_rate_limited(tmp_path):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files", secure_cookies=False,
                       login_attempts=2)
    with portal:
        seed(portal, objects=False)
        browser = browser_for(app_for(portal), "anonymous")
        answers = []
        for _ in range(3):
            token = csrf_of(browser.get("/sign-in").text)
            answers.append(browser.post("/sign-in", {"csrf_token": token, "email": EMAILS["auditor"],
                                                     "password": "wrong"}, csrf=False).status_code)
        assert answers == [401, 401, 429]


def test_a_provider_never_sees_another_providers_statement(world, browsers):
    south = browsers["provider_other"]
    listing = south.get("/statements").text
    assert NORTH_CONTRACT not in listing and "tr2014-crc-south" in listing
    assert south.get(f"/statements?provider={NORTH}").text.count(NORTH_CONTRACT) == 0
    for url in (STATEMENT, f"{STATEMENT}/download", f"/providers/{NORTH}",
                f"/queries/{world.ids['query_id']}"):
        answer = south.get(url)
        assert answer.status_code == MISSING and NORTH_CONTRACT not in answer.text


class Fields(HTMLParser):
    """Every form (its method and hidden fields) and every field with its id, and every label's `for`."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.fields: list[dict] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"method": attrs.get("method", "get"), "hidden": set()})
        elif tag == "label" and "for" in attrs:
            self.labels.add(attrs["for"])
        elif tag in ("input", "select", "textarea"):
            if attrs.get("type") == "hidden":
                self.forms[-1]["hidden"].add(attrs.get("name"))
            elif attrs.get("type") not in ("submit", "button"):
                self.fields.append(attrs)


def read(html: str) -> Fields:
    parsed = Fields()
    parsed.feed(html)
    return parsed


@pytest.mark.parametrize("route", sorted(GET_PAGES))
def test_every_form_carries_the_csrf_token_and_every_field_a_label(world, browsers, route):
    url, _ = GET_PAGES[route]
    answer = browsers["commissioner"].get(url.format(**world.ids))
    if "govuk-template" not in answer.text:
        return  # a file (CSV, a simulation report), not a page of the portal
    parsed = read(answer.text)
    for form in parsed.forms:
        if form["method"] == "post":
            assert "csrf_token" in form["hidden"]
    for field in parsed.fields:
        assert field.get("id") in parsed.labels, f"{url}: a field without a label: {field}"
    assert '<html lang="en"' in answer.text and 'href="#main-content"' in answer.text


def test_script_like_text_is_shown_escaped(world, browsers):
    script = "<script>alert('x')</script> ' OR 1=1; --"
    commissioner = browsers["commissioner"]
    answered = commissioner.post(f"/queries/{world.ids['query_id']}/messages", {"body": script})
    assert answered.status_code == SEE_OTHER
    shown = commissioner.get(f"/queries/{world.ids['query_id']}").text
    assert "<script>alert" not in shown and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &#39; OR 1=1; --" in shown
    with world.portal.session() as session:
        assert session.query(QueryMessage).filter_by(body=script).count() == 1
    refused = commissioner.post("/programmes", {"name": "x", "title": script, "design": script})
    assert refused.status_code == INVALID and "<script>alert" not in refused.text


def test_a_malformed_upload_lists_its_problems_and_keeps_nothing(world, browsers):
    with world.portal.session() as session:
        before = session.query(Dataset).count()
    answer = browsers["commissioner"].post(
        f"/programmes/{world.ids['programme_id']}/datasets",
        files={"files": ("episodes.csv", b"episode_id,person_id\n1,<b>x</b>\n", "text/csv")})
    assert answer.status_code == INVALID
    assert 'class="govuk-error-summary"' in answer.text and 'href="#files"' in answer.text
    assert "Problems, by file, row and column" in answer.text and "episodes.csv" in answer.text
    assert "<b>x</b>" not in answer.text
    with world.portal.session() as session:
        assert session.query(Dataset).count() == before


def test_a_clean_upload_is_kept(world, browsers):
    from web_portal import clean_zip

    answer = browsers["commissioner"].post(f"/programmes/{world.ids['programme_id']}/datasets",
                                           files={"files": ("clean.zip", clean_zip(), "application/zip")})
    assert answer.status_code == SEE_OTHER and "uploaded=" in answer.headers["location"]
    assert "clean.zip" in browsers["commissioner"].get(f"/programmes/{world.ids['programme_id']}").text


def test_a_run_with_a_bad_quarter_is_shown_beside_its_field(world, browsers):
    answer = browsers["commissioner"].post(f"/programmes/{world.ids['programme_id']}/runs",
                                           {"dataset_id": str(world.ids["dataset_id"]), "through": "2015Q9"})
    assert answer.status_code == INVALID and 'href="#through"' in answer.text and 'id="through-error"' in answer.text


def test_a_provider_raises_a_query_and_the_commissioner_answers(world, browsers):
    north = browsers["provider_own"]
    raised = north.post(f"{STATEMENT}/queries", {"line_key": LINE, "body": "Is this fee right?"})
    assert raised.status_code == SEE_OTHER
    thread = raised.headers["location"]
    answered = browsers["commissioner"].post(f"{thread}/messages", {"body": "Yes.", "close": "yes"})
    assert answered.status_code == SEE_OTHER
    shown = north.get(thread).text
    assert "Is this fee right?" in shown and "Yes." in shown and "This query is closed." in shown


def test_the_job_page_follows_a_run_without_refreshing_the_page(world, browsers):
    html = browsers["commissioner"].get(f"/jobs/{world.ids['job_id']}").text
    assert 'http-equiv="refresh"' not in html  # a timed refresh fails WCAG 2.2.1
    assert f'data-job-url="/api/v1/jobs/{world.ids["job_id"]}"' in html and "/static/pbrkit-job.js" in html


def test_the_dashboard_charts_are_valid_vega_lite_with_tables(world, browsers):
    import json

    import altair as alt
    from altair.utils.schemapi import validate_jsonschema

    html = browsers["provider_own"].get(f"/providers/{NORTH}").text
    specs = json.loads(re.search(r'<script id="chart-specs" type="application/json">(.*?)</script>', html,
                                 re.S).group(1))
    assert specs
    for spec in specs.values():
        validate_jsonschema(spec, alt.vegalite.v6.schema.core.load_schema())
    assert '<script src="/static/vega.js"></script>' in html and "Paid per quarter, by kind" in html


def test_the_simulation_report_is_framed_sandboxed(world, browsers):
    commissioner = browsers["commissioner"]
    framing = commissioner.get(f"/reports/{world.ids['report_id']}").text
    assert 'sandbox="allow-scripts"' in framing
    document = commissioner.get(f"/reports/{world.ids['report_id']}/view")
    assert document.headers["content-security-policy"].startswith("sandbox allow-scripts")
    assert document.headers["x-frame-options"] == "SAMEORIGIN"


def test_pages_of_data_are_not_cached(world, browsers):
    assert browsers["provider_own"].get(STATEMENT).headers["cache-control"] == "no-store"


@pytest.mark.parametrize("service_gov_uk", [False, True])
def test_the_crown_and_transport_font_only_on_service_gov_uk(tmp_path, service_gov_uk):
    portal = portal_on(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "files", secure_cookies=False,
                       service_gov_uk=service_gov_uk)
    with portal:
        html = browser_for(app_for(portal), "anonymous").get("/sign-in").text
    assert ('class="govuk-header__logotype"' in html) is service_gov_uk
    assert ('class="govuk-footer__crown"' in html) is service_gov_uk
    assert ("/static/pbrkit-system-font.css" in html) is not service_gov_uk


def test_static_files_are_served_and_nothing_else(world, browsers):
    anonymous = browsers["anonymous"]
    css = anonymous.get("/static/govuk/govuk-frontend.min.css")
    assert css.status_code == OK and css.headers["content-type"].startswith("text/css")
    assert anonymous.get("/static/govuk/govuk-frontend.min.js").status_code == OK
    assert anonymous.get("/static/govuk/LICENSE.txt").status_code == OK
    for sneaky in ("/static/%2e%2e/pages.py", "/static/..%2fpages.py", "/static/%2e%2e/%2e%2e/settings.py",
                   "/static/govuk/missing.css", "/assets/fonts/none.woff2"):
        assert anonymous.get(sneaky).status_code == MISSING, sneaky
    vega = anonymous.get("/static/vega.js")
    assert vega.status_code == OK and "vegaEmbed" in vega.text


def test_no_font_or_crown_file_is_vendored():
    from pbrkit.web.pages import STATIC

    shipped = {p.name for p in (STATIC / "govuk").rglob("*") if p.is_file()}
    assert shipped == {"govuk-frontend.min.css", "govuk-frontend.min.js", "LICENSE.txt", "README.md"}


def test_urls_with_odd_ids_are_answered_not_crashed(world, browsers):
    commissioner = browsers["commissioner"]
    for url in ("/statements/" + quote("'; DROP TABLE x; --", safe="") + "/2015Q1", "/queries/999999",
                "/providers/" + quote("<script>x", safe=""), "/reports/0", "/jobs/424242",
                f"{STATEMENT}/query?line=" + quote("<nope>", safe="")):
        answer = commissioner.get(url)
        assert answer.status_code == MISSING and "<script>x" not in answer.text and "<nope>" not in answer.text, url
    assert commissioner.get("/programmes/not-a-number").status_code == INVALID


def test_upload_problems_table_has_file_row_and_column(world):
    rows = datasets.problem_rows([datasets.problem("x")])
    assert {"file", "row", "column", "rule"} <= set(rows[0])
