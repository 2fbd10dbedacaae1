"""The portal's HTML pages (GOV.UK Frontend), over the same services as the API.

Each handler finds who is asking the way the API does (`api.requester`: the
session cookie, and the form's CSRF token on every POST), calls one service
function, which applies the role rules in `access`, and renders a template.
The pages never decide who may see what: they only hide the buttons a role may
not press (`access.allowed`), and the services refuse anyway.

A service's refusal becomes a page, not JSON: nobody signed in is sent to the
sign-in page, a thing the user may not know of is a 404 page, an action the
role may never take a 403 page. A form with problems is shown again with the
GOV.UK error summary at the top and each message beside its field.

Pages are plain `def` handlers, so FastAPI runs them on worker threads and
their database and ledger reads never hold up the event loop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from pbrkit.report.page import vega_bundle
from pbrkit.web import accounts, api, audit, datasets, jobs, programmes, queries, statements, views
from pbrkit.web.access import Action, Forbidden, NotFound, Principal, Role, Unauthenticated, allowed, require
from pbrkit.web.accounts import InvalidAccount
from pbrkit.web.api import CsrfRefused, Db, Ptl
from pbrkit.web.auth import CSRF, TooManyAttempts, csrf_matches, new_csrf_token
from pbrkit.web.jobs import InvalidRun
from pbrkit.web.programmes import InvalidProgramme
from pbrkit.web.queries import InvalidQuery
from pbrkit.web.schemas import SignIn

HERE = Path(__file__).parent
STATIC = HERE / "static"
SERVICE_NAME = "Payment by results"
#: Problems listed on the upload page; the rest are counted (the validator caps them per rule anyway).
PROBLEMS_SHOWN = 200
#: A national programme pays about twenty contracts a quarter for years: show them a page at a time.
STATEMENTS_PER_PAGE = 50

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                        trim_blocks=True, lstrip_blocks=True)
templates.filters.update(pounds=views.pounds, percent=views.percent, points=views.points,
                         urlquote=lambda value: quote(str(value), safe=""), pair=lambda value: (value, value))

router = APIRouter(include_in_schema=False)


# -- rendering and refusals ------------------------------------------------------------

#: The service navigation: (label, path, action that shows it).
NAVIGATION = (
    ("Programmes", "/programmes", Action.read_programmes),
    ("Payment runs", "/jobs", Action.read_jobs),
    ("Statements", "/statements", Action.read_statements),
    ("Dashboards", "/providers", Action.read_dashboard),
    ("Queries", "/queries", Action.read_queries),
    ("Renewals", "/renewals", Action.read_statements),
    ("Users", "/users", Action.read_users),
    ("Audit log", "/audit", Action.read_audit),
)


def _navigation(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    items = [{"label": label, "href": href} for label, href, action in NAVIGATION if allowed(principal, action)]
    for item in items:
        item["current"] = path == item["href"] or path.startswith(item["href"] + "/")
    return items


def render(request: Request, template: str, principal: Principal | None, *, status: int = 200,
           errors: list[tuple[str, str]] | None = None, **context: Any) -> HTMLResponse:
    """A page in the GOV.UK template. `errors` are (field id, message) pairs for the
    error summary; a page showing someone's data is never cached."""
    settings = request.app.state.settings
    html = templates.get_template(template).render(
        principal=principal, csrf_token=request.session.get(CSRF, ""), service_name=SERVICE_NAME,
        service_gov_uk=settings.service_gov_uk, navigation=_navigation(principal, request.url.path),
        errors=errors or [], field_errors=dict(errors or []), allowed=lambda action: allowed(principal, action),
        Action=Action, Role=Role, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303)


def page(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the services' refusals into pages (the app's handlers answer the API in JSON)."""

    @functools.wraps(handler)
    def answer(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return handler(*args, **kwargs)
        except Unauthenticated:
            if request.method == "GET":
                return _sign_in_redirect(request)
            return RedirectResponse("/sign-in", status_code=303)
        except CsrfRefused:
            return render(request, "error.html", None, status=403, title="This form has expired",
                          message="The page was open too long, or was sent from somewhere else. "
                                  "Go back, reload the page and try again.")
        except Forbidden:
            return render(request, "error.html", _quiet_principal(request, kwargs), status=403,
                          title="You cannot do this", message="Your role does not allow this.")
        except NotFound:
            return render(request, "error.html", _quiet_principal(request, kwargs), status=404,
                          title="Page not found", message="If you typed the web address, check it is correct.")

    return answer


def _quiet_principal(request: Request, kwargs: dict[str, Any]) -> Principal | None:
    """Who is signed in, for an error page's navigation (no CSRF check: nothing changes)."""
    session = kwargs.get("session")
    return accounts.principal_for_browser(session, request.session) if session is not None else None


def viewer(request: Request, session: Session, csrf_token: str | None = None) -> Principal | None:
    """Who is asking, exactly as the API decides it; a POST must carry the session's CSRF token."""
    return api.requester(request, session, csrf_token)


def signed_in(request: Request, session: Session, csrf_token: str | None = None) -> Principal:
    principal = viewer(request, session, csrf_token)
    if principal is None:
        raise Unauthenticated("sign in first")
    return principal


def see_other(path: str) -> RedirectResponse:
    """After a change, the browser GETs the result (so reloading does not repeat it)."""
    return RedirectResponse(path, status_code=303)


CsrfField = Annotated[str, Form(max_length=200)]


# -- static files ----------------------------------------------------------------

@router.get("/static/vega.js")
def vega_script() -> Response:
    """Vega, Vega-Lite and Vega-Embed (from vl-convert, as the offline reports inline them)."""
    return Response(vega_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """The vendored GOV.UK Frontend and the portal's own small CSS and scripts."""
    root = STATIC.resolve()
    found = (root / path).resolve()
    if not found.is_relative_to(root) or not found.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(found, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/assets/{path:path}")
def govuk_asset(path: str) -> Response:
    """Where GOV.UK Frontend's stylesheet looks for its fonts and images: only
    present on a service.gov.uk deployment that has added them."""
    return static_file(f"govuk/assets/{path}")


# -- signing in and out --------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an address elsewhere (an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/", signed_out: bool = False) -> Response:
    request.session.setdefault(CSRF, new_csrf_token())  # a sign-in form needs CSRF too (login CSRF)
    return render(request, "sign_in.html", None, next=_safe_next(next), email="", signed_out=signed_out)


@router.post("/sign-in")
def sign_in(request: Request, session: Db, ptl: Ptl, csrf_token: CsrfField = "",
            email: Annotated[str, Form(max_length=320)] = "", password: Annotated[str, Form(max_length=1024)] = "",
            next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    def again(status: int, *errors: tuple[str, str]) -> Response:
        request.session.setdefault(CSRF, new_csrf_token())
        return render(request, "sign_in.html", None, status=status, errors=list(errors), next=_safe_next(next),
                      email=email, signed_out=False)

    if not csrf_matches(request.session.get(CSRF), csrf_token):
        return again(403, ("email", "The form expired: sign in again"))
    missing = [(field, f"Enter your {label}") for field, label, value in (
        ("email", "email address", email), ("password", "password", password)) if not value.strip()]
    if missing:
        return again(400, *missing)
    try:
        api.sign_in(SignIn(email=email, password=password), request, session, ptl)
    except Unauthenticated:
        return again(401, ("email", "Enter a correct email address and password"))
    except TooManyAttempts as error:
        return again(429, ("email", f"Too many failed attempts: try again in {error.retry_after} seconds"))
    return see_other(_safe_next(next))


@router.post("/sign-out")
@page
def sign_out(request: Request, session: Db, csrf_token: CsrfField = "") -> Response:
    api.sign_out(request, session, signed_in(request, session, csrf_token))
    return see_other("/sign-in?signed_out=true")


# -- home --------------------------------------------------------------------------

@router.get("/")
@page
def home(request: Request, session: Db, ptl: Ptl) -> Response:
    """What each role comes to do: a commissioner's programmes and runs, a
    provider's statements and queries, an auditor's way into everything."""
    who = signed_in(request, session)
    context: dict[str, Any] = {"open_queries": queries.queries(session, who, status="open")}
    if allowed(who, Action.read_programmes) and who.role is not Role.provider:
        context["programmes"] = programmes.programmes(session, who)
    if allowed(who, Action.read_jobs):
        context["recent_jobs"] = jobs.jobs(session, who)[:5]
    if who.role is Role.provider:
        # The latest eight quarters across all of the provider's contracts, newest first.
        context["statements"] = sorted(statements.statement_list(ptl.ledger, who),
                                       key=lambda s: (s["period"], s["contract_id"]), reverse=True)[:8]
    return render(request, "home.html", who, **context)


# -- programmes, datasets, runs, reports ---------------------------------------------------

@router.get("/programmes")
@page
def programme_list(request: Request, session: Db) -> Response:
    who = signed_in(request, session)
    return _programmes_page(request, session, who)


def _programmes_page(request: Request, session: Session, who: Principal, *, status: int = 200,
                     errors: list[tuple[str, str]] | None = None, form: dict[str, str] | None = None) -> Response:
    from pbrkit.contracts import library

    return render(request, "programmes.html", who, status=status, errors=errors,
                  programmes=programmes.programmes(session, who), designs=[(name, name) for name in sorted(library())],
                  form=form or {"name": "", "title": "", "design": "", "baseline": "2011"})


@router.post("/programmes")
@page
def add_programme(request: Request, session: Db, csrf_token: CsrfField = "",
                  name: Annotated[str, Form(max_length=100)] = "", title: Annotated[str, Form(max_length=1000)] = "",
                  design: Annotated[str, Form(max_length=100)] = "",
                  baseline: Annotated[str, Form(max_length=32)] = "2011") -> Response:
    who = signed_in(request, session, csrf_token)
    form = {"name": name, "title": title, "design": design, "baseline": baseline}
    try:
        found = programmes.add_programme(session, who, name=name.strip(), title=title.strip(), design=design,
                                         baseline=baseline.strip())
    except InvalidProgramme as error:
        session.rollback()
        return _programmes_page(request, session, who, status=422, errors=[("name", str(error))], form=form)
    return see_other(f"/programmes/{found.id}")


def _programme_page(request: Request, session: Session, who: Principal, programme_id: int, *, status: int = 200,
                    errors: list[tuple[str, str]] | None = None, **context: Any) -> Response:
    found = programmes.programme(session, who, programme_id)
    uploaded = (datasets.datasets(session, who, programme_id)
                if allowed(who, Action.read_datasets) else [])
    runs = ([j for j in jobs.jobs(session, who) if j.programme_id == programme_id]
            if allowed(who, Action.read_jobs) else [])
    attached = programmes.reports(session, who, programme_id) if allowed(who, Action.read_reports) else []
    context.setdefault("problems", [])
    context.setdefault("problem_count", 0)
    context.setdefault("run_form", {"dataset_id": str(uploaded[-1].id) if uploaded else "", "through": "",
                                    "as_of": ""})
    return render(request, "programme.html", who, status=status, errors=errors, programme=found,
                  datasets=[(d, json.loads(d.rows)) for d in uploaded], runs=runs, reports=attached,
                  dataset_options=[(str(d.id), f"Dataset {d.id}: {d.filename}") for d in reversed(uploaded)],
                  **context)


@router.get("/programmes/{programme_id}")
@page
def programme_page(programme_id: int, request: Request, session: Db) -> Response:
    return _programme_page(request, session, signed_in(request, session), programme_id)


@router.post("/programmes/{programme_id}/datasets")
@page
def upload_dataset(programme_id: int, request: Request, session: Db, ptl: Ptl, csrf_token: CsrfField = "",
                   files: Annotated[list[UploadFile] | None, File()] = None) -> Response:
    """Validate and keep a dataset; if it breaks the standard, list every problem by file, row and column."""
    who = signed_in(request, session, csrf_token)
    chosen = [f for f in files or [] if f.filename]
    if not chosen:
        require(who, Action.upload_datasets)
        return _programme_page(request, session, who, programme_id, status=400,
                               errors=[("files", "Select a zip of the dataset, or its table files")])
    settings = ptl.settings
    try:
        kept = datasets.upload_dataset(
            session, who, programme_id, [datasets.Upload(f.filename, f.file) for f in chosen],
            storage_dir=settings.storage_dir, unpacked_limit=settings.upload_limit_bytes * settings.unpacked_ratio_limit)
    except datasets.DatasetProblems as refused:
        session.rollback()
        rows = datasets.problem_rows(refused.problems)
        return _programme_page(request, session, who, programme_id, status=422,
                               errors=[("files", f"The dataset was not kept: {refused.summary}")],
                               problems=rows[:PROBLEMS_SHOWN], problem_count=len(rows))
    return see_other(f"/programmes/{programme_id}?uploaded={kept.id}#datasets")


@router.post("/programmes/{programme_id}/runs")
@page
def start_run(programme_id: int, request: Request, session: Db, ptl: Ptl, csrf_token: CsrfField = "",
              dataset_id: Annotated[str, Form(max_length=20)] = "", through: Annotated[str, Form(max_length=16)] = "",
              as_of: Annotated[str, Form(max_length=10)] = "") -> Response:
    who = signed_in(request, session, csrf_token)
    form = {"dataset_id": dataset_id, "through": through, "as_of": as_of}
    errors = []
    if not dataset_id.isdigit():
        errors.append(("dataset_id", "Choose the dataset to pay from"))
    if not through.strip():
        errors.append(("through", "Enter the last quarter to pay, like 2016Q4"))
    if not errors:
        try:
            job = jobs.start_run(ptl, session, who, programme_id, dataset_id=int(dataset_id),
                                 through=through.strip().upper(), as_of=as_of.strip() or None)
        except InvalidRun as error:
            session.rollback()
            field = "as_of" if "as_of" in str(error) else ("dataset_id" if "dataset" in str(error) else "through")
            errors.append((field, str(error)))
        else:
            return see_other(f"/jobs/{job.id}")
    require(who, Action.start_runs)
    return _programme_page(request, session, who, programme_id, status=422, errors=errors, run_form=form)


@router.post("/programmes/{programme_id}/reports")
@page
def attach_report(programme_id: int, request: Request, session: Db, csrf_token: CsrfField = "",
                  title: Annotated[str, Form(max_length=1000)] = "",
                  file: Annotated[UploadFile | None, File()] = None) -> Response:
    who = signed_in(request, session, csrf_token)
    if file is None or not file.filename:
        require(who, Action.attach_reports)
        return _programme_page(request, session, who, programme_id, status=400,
                               errors=[("report", "Select the HTML report `pbrkit compare` wrote")])
    try:
        programmes.attach_report(session, who, programme_id, title=title.strip(), filename=file.filename,
                                 content=file.file.read())
    except InvalidProgramme as error:
        session.rollback()
        return _programme_page(request, session, who, programme_id, status=422, errors=[("report", str(error))])
    return see_other(f"/programmes/{programme_id}#reports")


@router.get("/reports/{report_id}")
@page
def report_page(report_id: int, request: Request, session: Db) -> Response:
    """The report inside a sandboxed frame: its charts run, but never as the portal."""
    who = signed_in(request, session)
    return render(request, "report.html", who, report=programmes.report(session, who, report_id))


@router.get("/reports/{report_id}/view")
@page
def report_document(report_id: int, request: Request, session: Db) -> Response:
    """The report itself, for the frame: sandboxed by its own header too, so opened
    on its own it still has no access to the portal's origin, cookies or forms."""
    who = signed_in(request, session)
    found = programmes.report(session, who, report_id)
    return HTMLResponse(found.html, headers={
        "Content-Security-Policy": "sandbox allow-scripts; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"})


@router.get("/reports/{report_id}/download")
@page
def report_download(report_id: int, request: Request, session: Db) -> Response:
    who = signed_in(request, session)
    return api.download_report(report_id, session, who)


@router.get("/jobs")
@page
def job_list(request: Request, session: Db) -> Response:
    who = signed_in(request, session)
    return render(request, "jobs.html", who, jobs=jobs.jobs(session, who))


@router.get("/jobs/{job_id}")
@page
def job_page(job_id: int, request: Request, session: Db) -> Response:
    """A run's progress. While it runs, a small script polls the API and updates the
    page; without scripts, the "Check progress" link does the same by hand."""
    who = signed_in(request, session)
    found = jobs.job(session, who, job_id)
    return render(request, "job.html", who, job=found, programme=programmes.programme(session, who, found.programme_id),
                  result=json.loads(found.result) if found.result else None)


# -- statements, dashboards, renewals ---------------------------------------------------

@router.get("/statements")
@page
def statement_list(request: Request, session: Db, ptl: Ptl, provider: str = "", period: str = "",
                   page: int = 1) -> Response:
    who = signed_in(request, session)
    everyone = statements.statement_list(ptl.ledger, who)
    found = [s for s in everyone if (not provider or s["provider_id"] == provider)
             and (not period or s["period"] == period)]
    pages = max(1, -(-len(found) // STATEMENTS_PER_PAGE))
    page = min(max(page, 1), pages)

    def link(number: int) -> str:
        return "/statements?" + urlencode({k: v for k, v in (("provider", provider), ("period", period),
                                                             ("page", number)) if v})
    return render(request, "statements.html", who, provider=provider, period=period, count=len(found),
                  statements=found[(page - 1) * STATEMENTS_PER_PAGE:page * STATEMENTS_PER_PAGE],
                  page_number=page, pages=pages, previous_page=link(page - 1) if page > 1 else None,
                  next_page=link(page + 1) if page < pages else None,
                  providers=sorted({s["provider_id"] for s in everyone}),
                  periods=sorted({s["period"] for s in everyone}))


def _statement_page(request: Request, session: Session, ptl, who: Principal, contract_id: str, period: str, *,
                    status: int = 200, errors: list[tuple[str, str]] | None = None) -> Response:
    found = statements.statement(ptl.ledger, who, contract_id, period)
    threads = queries.queries(session, who, contract_id=contract_id, period=period)
    by_line: dict[str, list] = {}
    for thread in threads:
        by_line.setdefault(thread.line_key, []).append(thread)
    return render(request, "statement.html", who, status=status, errors=errors, statement=found,
                  sections=views.statement_sections(found), queries_by_line=by_line,
                  approvals=statements.approvals(session, who, contract_id, period, ptl.ledger),
                  latest_run=statements.latest_run(ptl.ledger, contract_id, period))


@router.get("/statements/{contract_id}/{period}")
@page
def statement_page(contract_id: str, period: str, request: Request, session: Db, ptl: Ptl) -> Response:
    return _statement_page(request, session, ptl, signed_in(request, session), contract_id, period)


@router.get("/statements/{contract_id}/{period}/download")
@page
def statement_download(contract_id: str, period: str, request: Request, session: Db, ptl: Ptl) -> Response:
    """The statement's lines as CSV, the same file as the API's and `pbrkit statement --format csv`."""
    return api.statement_csv(contract_id, period, ptl, signed_in(request, session))


@router.post("/statements/{contract_id}/{period}/approvals")
@page
def approve_statement(contract_id: str, period: str, request: Request, session: Db, ptl: Ptl,
                      csrf_token: CsrfField = "", note: Annotated[str, Form(max_length=10_000)] = "",
                      run_id: Annotated[int | None, Form()] = None) -> Response:
    who = signed_in(request, session, csrf_token)
    try:
        statements.approve(session, ptl.ledger, who, contract_id, period, note=note.strip(), seen_run=run_id)
    except statements.StatementChanged as changed:
        return _statement_page(request, session, ptl, who, contract_id, period, status=422,
                               errors=[("note", str(changed))])
    return see_other(f"/statements/{quote(contract_id, safe='')}/{quote(period, safe='')}#approvals")


@router.get("/statements/{contract_id}/{period}/query")
@page
def new_query_page(contract_id: str, period: str, request: Request, session: Db, ptl: Ptl, line: str = "") -> Response:
    who = signed_in(request, session)
    require(who, Action.raise_queries)
    return _new_query_form(request, ptl, who, contract_id, period, line)


def _new_query_form(request: Request, ptl, who: Principal, contract_id: str, period: str, line_key: str, *,
                    status: int = 200, errors: list[tuple[str, str]] | None = None, body: str = "") -> Response:
    found = statements.statement(ptl.ledger, who, contract_id, period)
    line = next((x for x in found.lines if x.key == line_key), None)
    if line is None:
        raise NotFound(f"no line {line_key!r}")
    return render(request, "query_new.html", who, status=status, errors=errors, statement=found, line=line,
                  body=body)


@router.post("/statements/{contract_id}/{period}/queries")
@page
def raise_query(contract_id: str, period: str, request: Request, session: Db, ptl: Ptl, csrf_token: CsrfField = "",
                line_key: Annotated[str, Form(max_length=1000)] = "",
                body: Annotated[str, Form(max_length=10_000)] = "") -> Response:
    who = signed_in(request, session, csrf_token)
    try:
        thread = queries.raise_query(session, ptl.ledger, who, contract_id=contract_id, period=period,
                                     line_key=line_key, body=body)
    except InvalidQuery as error:
        session.rollback()
        return _new_query_form(request, ptl, who, contract_id, period, line_key, status=422,
                               errors=[("body", f"Enter your query: {error}")], body=body)
    return see_other(f"/queries/{thread.id}")


@router.get("/providers")
@page
def provider_list(request: Request, session: Db, ptl: Ptl) -> Response:
    who = signed_in(request, session)
    known = statements.providers(ptl.ledger, who)
    if who.role is Role.provider:
        return see_other(f"/providers/{quote(who.provider_id, safe='')}")
    return render(request, "providers.html", who, providers=known)


@router.get("/providers/{provider_id}")
@page
def dashboard_page(provider_id: str, request: Request, session: Db, ptl: Ptl) -> Response:
    """Funnel plot, actual against expected per quarter, payments by kind: each a
    chart drawn from the page's own scripts, with the same numbers in a table."""
    who = signed_in(request, session)
    return render(request, "dashboard.html", who, **views.dashboards(ptl).view(session, ptl.ledger, who, provider_id))


@router.get("/renewals")
@page
def renewal_list(request: Request, session: Db, ptl: Ptl) -> Response:
    who = signed_in(request, session)
    return render(request, "renewals.html", who, renewals=statements.renewals(ptl.ledger, who))


# -- queries --------------------------------------------------------------------------

@router.get("/queries")
@page
def query_list(request: Request, session: Db, status: str = "") -> Response:
    who = signed_in(request, session)
    chosen = status if status in ("open", "answered", "closed") else ""
    return render(request, "queries.html", who, queries=queries.queries(session, who, status=chosen or None),
                  chosen_status=chosen)


def _query_page(request: Request, session: Session, who: Principal, query_id: int, *, status: int = 200,
                errors: list[tuple[str, str]] | None = None, body: str = "") -> Response:
    return render(request, "query.html", who, status=status, errors=errors,
                  thread=queries.query(session, who, query_id), body=body)


@router.get("/queries/{query_id}")
@page
def query_page(query_id: int, request: Request, session: Db) -> Response:
    return _query_page(request, session, signed_in(request, session), query_id)


@router.post("/queries/{query_id}/messages")
@page
def reply_to_query(query_id: int, request: Request, session: Db, csrf_token: CsrfField = "",
                   body: Annotated[str, Form(max_length=10_000)] = "",
                   close: Annotated[str, Form(max_length=10)] = "") -> Response:
    who = signed_in(request, session, csrf_token)
    try:
        queries.reply(session, who, query_id, body=body, close=close == "yes")
    except InvalidQuery as error:
        session.rollback()
        return _query_page(request, session, who, query_id, status=422, errors=[("body", str(error))], body=body)
    return see_other(f"/queries/{query_id}")


# -- users and the audit log ----------------------------------------------------------

BLANK_USER = {"email": "", "role": "", "provider_id": ""}


def _users_page(request: Request, session: Session, who: Principal, *, status: int = 200,
                errors: list[tuple[str, str]] | None = None, form: dict[str, str] | None = None) -> Response:
    return render(request, "users.html", who, status=status, errors=errors, users=accounts.users(session, who),
                  form=form or BLANK_USER)


@router.get("/users")
@page
def user_list(request: Request, session: Db) -> Response:
    return _users_page(request, session, signed_in(request, session))


@router.post("/users")
@page
def add_user(request: Request, session: Db, csrf_token: CsrfField = "",
             email: Annotated[str, Form(max_length=320)] = "", role: Annotated[str, Form(max_length=20)] = "",
             provider_id: Annotated[str, Form(max_length=100)] = "",
             password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    who = signed_in(request, session, csrf_token)
    form = {"email": email, "role": role, "provider_id": provider_id}
    try:
        accounts.add_user(session, who, email=email, role=role, password=password,
                          provider_id=provider_id.strip() or None)
    except InvalidAccount as error:
        session.rollback()
        message = str(error)
        field = ("password" if "password" in message else "role" if "role" in message
                 else "provider_id" if "provider" in message else "email")
        return _users_page(request, session, who, status=422, errors=[(field, message)], form=form)
    return see_other("/users")


@router.post("/users/{user_id}/active")
@page
def change_active(user_id: int, request: Request, session: Db, csrf_token: CsrfField = "",
                  active: Annotated[str, Form(max_length=10)] = "") -> Response:
    who = signed_in(request, session, csrf_token)
    try:
        accounts.change_user(session, who, user_id, active=active == "yes")
    except InvalidAccount as error:
        session.rollback()
        return _users_page(request, session, who, status=422, errors=[(f"user-{user_id}", str(error))])
    return see_other("/users")


@router.get("/audit")
@page
def audit_log(request: Request, session: Db, before: int | None = None) -> Response:
    who = signed_in(request, session)
    page_size = 100
    found = audit.records(session, who, limit=page_size, before_id=before)
    return render(request, "audit.html", who, records=[(r, json.loads(r.details or "{}")) for r in found],
                  older=found[-1].id if len(found) == page_size else None)
