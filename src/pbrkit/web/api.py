"""The REST API under /api/v1: thin handlers over the service modules.

Each handler resolves who is asking (`requester`), calls one service function
(which applies the role rules in `access`), and shapes the answer with
`schemas`. Errors are mapped to status codes once, in `app`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from pbrkit.web import accounts, audit, datasets, jobs, programmes, queries, statements
from pbrkit.web.access import Principal, Unauthenticated
from pbrkit.web.auth import CSRF, CSRF_FIELD, CSRF_HEADER, SESSION_KEY, USER_ID, csrf_matches, new_csrf_token
from pbrkit.web.models import User
from pbrkit.web.portal import Portal
from pbrkit.web.schemas import (
    ApprovalIn,
    ApprovalOut,
    AuditOut,
    Dashboard,
    DatasetOut,
    DatasetRefused,
    JobOut,
    MessageIn,
    Problem,
    ProgrammeIn,
    ProgrammeOut,
    QueryIn,
    QueryOut,
    Renewal,
    ReportOut,
    RunIn,
    SessionOut,
    SignIn,
    StatementOut,
    StatementSummary,
    TokenIn,
    TokenOut,
    UserChange,
    UserIn,
    UserOut,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def portal(request: Request) -> Portal:
    return request.app.state.portal


def database(request: Request) -> Iterator[Session]:
    with portal(request).session() as session:
        yield session


async def csrf_token_sent(request: Request) -> str | None:
    """The CSRF token a change carries: the X-CSRF-Token header, or a form's csrf_token field."""
    if request.method in SAFE_METHODS:
        return None
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("multipart/form-data", "application/x-www-form-urlencoded")):
        field = (await request.form()).get(CSRF_FIELD)  # parsed once: FastAPI keeps the form
        given = field if isinstance(field, str) else None
    return given


def requester(request: Request, session: Annotated[Session, Depends(database)],
              csrf_sent: Annotated[str | None, Depends(csrf_token_sent)]) -> Principal | None:
    """Who is asking: a bearer token, else the session cookie, else nobody.

    A change made with the session cookie must carry the session's CSRF token;
    a bearer token is never sent by a browser on its own, so it needs none.
    (A plain function: FastAPI runs it on a worker thread, so its database
    look-up never holds up the event loop.)
    """
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        principal = accounts.principal_for_token(session, token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Unauthenticated("the API token is not valid")
        return principal
    principal = accounts.principal_for_browser(session, request.session)
    if principal is not None and request.method not in SAFE_METHODS:
        if not csrf_matches(request.session.get(CSRF), csrf_sent):
            raise CsrfRefused("the form's CSRF token is missing or wrong: reload the page and try again")
    return principal


class CsrfRefused(Exception):
    """A change sent with the session cookie but without the session's CSRF token (403)."""


Db = Annotated[Session, Depends(database)]
Who = Annotated[Principal | None, Depends(requester)]
Ptl = Annotated[Portal, Depends(portal)]

ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}}
router = APIRouter(prefix="/api/v1", responses=ERRORS)


# -- session and tokens --------------------------------------------------------

@router.post("/session", response_model=SessionOut, tags=["session"], responses={429: {"model": Problem}})
def sign_in(body: SignIn, request: Request, session: Db, ptl: Ptl) -> SessionOut:
    """Sign in with email and password: sets the session cookie and returns the CSRF token."""
    address = request.client.host if request.client else "unknown"
    principal = accounts.sign_in(session, ptl.login_limiter, body.email, body.password, address)
    request.session.clear()
    key = accounts.start_browser_session(session, principal)
    request.session.update({USER_ID: principal.user_id, SESSION_KEY: key, CSRF: new_csrf_token()})
    return SessionOut(user=UserOut.model_validate(session.get(User, principal.user_id)),
                      csrf_token=request.session[CSRF])


@router.get("/session", response_model=SessionOut, tags=["session"])
def who_am_i(request: Request, session: Db, who: Who) -> SessionOut:
    """The signed-in user (and, for a browser session, its CSRF token)."""
    if who is None:
        raise Unauthenticated("sign in first")
    return SessionOut(user=UserOut.model_validate(session.get(User, who.user_id)),
                      csrf_token=request.session.get(CSRF))


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, tags=["session"])
def sign_out(request: Request, session: Db, who: Who) -> Response:
    if who is None:
        raise Unauthenticated("sign in first")
    accounts.end_browser_session(session, request.session)
    request.session.clear()
    audit.record(session, who, "signed out", f"user {who.user_id}")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED, tags=["session"])
def issue_token(body: TokenIn, session: Db, who: Who) -> TokenOut:
    """A new API token for the signed-in user; the token is shown only in this answer."""
    row, token = accounts.issue_token(session, who, body.name)
    return TokenOut(id=row.id, name=row.name, token=token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["session"])
def revoke_token(token_id: int, session: Db, who: Who) -> Response:
    accounts.revoke_token(session, who, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- users ---------------------------------------------------------------------

@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(session: Db, who: Who):
    return accounts.users(session, who)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, tags=["users"])
def add_user(body: UserIn, session: Db, who: Who):
    return accounts.add_user(session, who, email=body.email, role=body.role, password=body.password,
                             provider_id=body.provider_id)


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def change_user(user_id: int, body: UserChange, session: Db, who: Who):
    return accounts.change_user(session, who, user_id, **body.model_dump(exclude_unset=True))


# -- programmes and simulation reports -------------------------------------------

@router.get("/programmes", response_model=list[ProgrammeOut], tags=["programmes"])
def list_programmes(session: Db, who: Who):
    return programmes.programmes(session, who)


@router.post("/programmes", response_model=ProgrammeOut, status_code=status.HTTP_201_CREATED, tags=["programmes"])
def add_programme(body: ProgrammeIn, session: Db, who: Who):
    return programmes.add_programme(session, who, **body.model_dump())


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut, tags=["programmes"])
def get_programme(programme_id: int, session: Db, who: Who):
    return programmes.programme(session, who, programme_id)


@router.get("/programmes/{programme_id}/reports", response_model=list[ReportOut], tags=["programmes"])
def list_reports(programme_id: int, session: Db, who: Who):
    return programmes.reports(session, who, programme_id)


@router.post("/programmes/{programme_id}/reports", response_model=ReportOut, status_code=status.HTTP_201_CREATED,
             tags=["programmes"])
def attach_report(programme_id: int, session: Db, who: Who, file: Annotated[UploadFile, File()],
                  title: Annotated[str, Form(max_length=1000)] = ""):
    """Attach a `pbrkit compare` HTML report to the programme."""
    return programmes.attach_report(session, who, programme_id, title=title, filename=file.filename or "report.html",
                                    content=file.file.read())


@router.get("/reports/{report_id}", tags=["programmes"], response_class=Response,
            responses={200: {"content": {"text/html": {}}}})
def download_report(report_id: int, session: Db, who: Who) -> Response:
    """The report as a download. Served sandboxed: its own scripts (charts) may run,
    but never with the portal's origin, cookies or forms."""
    found = programmes.report(session, who, report_id)
    return Response(found.html, media_type="text/html", headers={
        "Content-Disposition": f'attachment; filename="report-{found.id}.html"',
        "Content-Security-Policy": "sandbox allow-scripts",
    })


# -- datasets and payment runs ---------------------------------------------------

@router.get("/datasets", response_model=list[DatasetOut], tags=["datasets"])
def list_datasets(session: Db, who: Who, programme_id: int | None = None):
    return datasets.datasets(session, who, programme_id)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, tags=["datasets"])
def get_dataset(dataset_id: int, session: Db, who: Who):
    return datasets.dataset(session, who, dataset_id)


@router.post("/programmes/{programme_id}/datasets", response_model=DatasetOut, status_code=status.HTTP_201_CREATED,
             tags=["datasets"], responses={413: {"model": Problem}, 422: {"model": DatasetRefused}})
def upload_dataset(programme_id: int, session: Db, who: Who, ptl: Ptl,
                   files: Annotated[list[UploadFile], File(description="A zip of the dataset, or its table files")]):
    """Upload a dataset: validated against the data standard, kept only if it meets it."""
    uploads = [datasets.Upload(f.filename or "upload", f.file) for f in files]
    settings = ptl.settings
    return datasets.upload_dataset(session, who, programme_id, uploads, storage_dir=settings.storage_dir,
                                   unpacked_limit=settings.upload_limit_bytes * settings.unpacked_ratio_limit)


@router.post("/programmes/{programme_id}/runs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED,
             tags=["runs"])
def start_run(programme_id: int, body: RunIn, session: Db, who: Who, ptl: Ptl):
    """Start measurement and payments as a background job; poll /jobs/{id} for progress."""
    return jobs.start_run(ptl, session, who, programme_id, dataset_id=body.dataset_id, through=body.through,
                          as_of=body.as_of)


@router.get("/jobs", response_model=list[JobOut], tags=["runs"])
def list_jobs(session: Db, who: Who):
    return jobs.jobs(session, who)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["runs"])
def get_job(job_id: int, session: Db, who: Who):
    return jobs.job(session, who, job_id)


# -- statements, dashboards, renewals ------------------------------------------

@router.get("/statements", response_model=list[StatementSummary], tags=["statements"])
def list_statements(ptl: Ptl, who: Who, provider_id: str | None = None, period: str | None = None,
                    contract_id: str | None = None):
    return statements.statement_list(ptl.ledger, who, provider_id=provider_id, period=period,
                                     contract_id=contract_id)


@router.get("/statements/{contract_id}/{period}", response_model=StatementOut, tags=["statements"])
def get_statement(contract_id: str, period: str, ptl: Ptl, who: Who) -> StatementOut:
    """A statement as the ledger now pays it, every line with its basis."""
    return StatementOut.of(statements.statement(ptl.ledger, who, contract_id, period))


@router.get("/statements/{contract_id}/{period}/csv", tags=["statements"], response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {}}}})
def statement_csv(contract_id: str, period: str, ptl: Ptl, who: Who) -> Response:
    text = statements.statement_csv(ptl.ledger, who, contract_id, period)
    return Response(text, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="statement-{contract_id}-{period}.csv"'})


@router.get("/statements/{contract_id}/{period}/approvals", response_model=list[ApprovalOut],
            tags=["statements"])
def list_approvals(contract_id: str, period: str, ptl: Ptl, session: Db, who: Who):
    return statements.approvals(session, who, contract_id, period, ptl.ledger)


@router.post("/statements/{contract_id}/{period}/approvals", response_model=ApprovalOut,
             status_code=status.HTTP_201_CREATED, tags=["statements"])
def approve_statement(contract_id: str, period: str, body: ApprovalIn, ptl: Ptl, session: Db, who: Who):
    return statements.approve(session, ptl.ledger, who, contract_id, period, note=body.note, seen_run=body.run_id)


@router.get("/providers", response_model=list[str], tags=["providers"])
def list_providers(ptl: Ptl, who: Who):
    return statements.providers(ptl.ledger, who)


@router.get("/providers/{provider_id}/dashboard", response_model=Dashboard, tags=["providers"])
def provider_dashboard(provider_id: str, ptl: Ptl, session: Db, who: Who):
    return statements.dashboard(session, ptl.ledger, who, provider_id)


@router.get("/renewals", response_model=list[Renewal], tags=["statements"])
def list_renewals(ptl: Ptl, who: Who):
    return statements.renewals(ptl.ledger, who)


# -- queries -------------------------------------------------------------------

@router.get("/queries", response_model=list[QueryOut], tags=["queries"])
def list_queries(session: Db, who: Who, status_: Annotated[str | None, Query(alias="status")] = None,
                 contract_id: str | None = None, period: str | None = None) -> list[QueryOut]:
    found = queries.queries(session, who, status=status_, contract_id=contract_id, period=period)
    return [QueryOut.of(thread) for thread in found]


@router.post("/queries", response_model=QueryOut, status_code=status.HTTP_201_CREATED, tags=["queries"])
def raise_query(body: QueryIn, ptl: Ptl, session: Db, who: Who) -> QueryOut:
    """Raise a query on one line of a statement."""
    return QueryOut.of(queries.raise_query(session, ptl.ledger, who, **body.model_dump()))


@router.get("/queries/{query_id}", response_model=QueryOut, tags=["queries"])
def get_query(query_id: int, session: Db, who: Who) -> QueryOut:
    return QueryOut.of(queries.query(session, who, query_id))


@router.post("/queries/{query_id}/messages", response_model=QueryOut, status_code=status.HTTP_201_CREATED,
             tags=["queries"])
def reply_to_query(query_id: int, body: MessageIn, session: Db, who: Who) -> QueryOut:
    return QueryOut.of(queries.reply(session, who, query_id, body=body.body, close=body.close))


# -- audit ---------------------------------------------------------------------

@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
def audit_log(session: Db, who: Who, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
              before_id: int | None = None):
    """Who changed what, and when: the latest first."""
    return audit.records(session, who, limit=limit, before_id=before_id)
