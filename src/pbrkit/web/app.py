"""`create_app(settings)`: the portal as an ASGI application.

One `Portal` (database, ledger, jobs) per application. The REST API is
`api.router`; the HTML pages are `pages.router` when that module exists (the
GOV.UK Frontend pages are added there, over the same service modules). Errors
raised by the services are turned into status codes here, once.
"""

from __future__ import annotations

import importlib
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import pbrkit
from pbrkit.pay.ledger import LedgerError
from pbrkit.web import api
from pbrkit.web.access import Forbidden, NotFound, Unauthenticated
from pbrkit.web.accounts import InvalidAccount
from pbrkit.web.auth import TooManyAttempts
from pbrkit.web.datasets import DatasetProblems, problem_rows
from pbrkit.web.jobs import InvalidRun
from pbrkit.web.portal import Portal
from pbrkit.web.programmes import InvalidProgramme
from pbrkit.web.statements import StatementChanged
from pbrkit.web.queries import InvalidQuery
from pbrkit.web.settings import Settings

SESSION_COOKIE = "pbrkit_session"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class BodyLimit:
    """Refuse a request body larger than the limit with 413, before it is parsed.

    A declared Content-Length is checked at once; a body sent in chunks is
    counted as it arrives.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse({"detail": _TooLarge(self.limit).detail}, status_code=413)
        await response({"type": "http"}, _no_body, send)


class _TooLarge(HTTPException):
    """Raised from inside the body being read: an HTTPException, so FastAPI's body
    parsing passes it on (it turns anything else into 400) and the app answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the upload is larger than the limit of {limit:,} bytes")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class SecurityHeaders:
    """Headers every answer carries: no sniffing, no framing, no referrer to other sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                present = {name for name, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _handlers() -> dict:
    invalid = lambda request, error: _problem(422, str(error))  # noqa: E731
    return {
        Unauthenticated: lambda request, error: _problem(401, str(error), **{"WWW-Authenticate": "Bearer"}),
        Forbidden: lambda request, error: _problem(403, str(error)),
        api.CsrfRefused: lambda request, error: _problem(403, str(error)),
        NotFound: lambda request, error: _problem(404, str(error)),
        TooManyAttempts: lambda request, error: _problem(429, str(error), **{"Retry-After": str(error.retry_after)}),
        DatasetProblems: lambda request, error: JSONResponse(
            {"detail": error.summary, "problems": problem_rows(error.problems)}, status_code=422),
        InvalidAccount: invalid, InvalidProgramme: invalid, InvalidQuery: invalid, InvalidRun: invalid,
        StatementChanged: invalid,
        LedgerError: lambda request, error: _problem(503, str(error)),
    }


def _include_pages(app: FastAPI) -> None:
    """The HTML pages, when `pbrkit.web.pages` provides a `router` (GOV.UK Frontend, added separately)."""
    try:
        pages = importlib.import_module("pbrkit.web.pages")
    except ModuleNotFoundError as error:
        if error.name != "pbrkit.web.pages":
            raise
        return
    app.include_router(pages.router)


def create_app(settings: Settings | None = None, portal: Portal | None = None) -> FastAPI:
    """The portal application. `portal` may be given to share one (tests); otherwise
    one is built from `settings`, migrating the database first."""
    settings = settings or Settings()
    owned = portal is None
    portal = portal or Portal(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if owned:  # a portal handed in belongs to whoever made it
            portal.close()

    app = FastAPI(
        title="pbrkit portal", version=pbrkit.__version__, lifespan=lifespan,
        description="Payment-by-results commissioning: statements, dashboards, queries, datasets and payment runs. "
                    "Authenticate with `Authorization: Bearer <token>` (POST /api/v1/tokens) or the session cookie "
                    "(POST /api/v1/session) plus the X-CSRF-Token header on every change.",
        openapi_url="/api/v1/openapi.json", docs_url="/api/docs", redoc_url=None,
    )
    app.state.portal = portal
    app.state.settings = settings
    for error, handler in _handlers().items():
        app.add_exception_handler(error, handler)
    app.include_router(api.router)
    _include_pages(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Outermost last: the size limit sees the body before anything parses it.
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.get_secret_value(),
                       session_cookie=SESSION_COOKIE, max_age=settings.session_max_age_seconds, same_site="lax",
                       https_only=settings.secure_cookies)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, limit=settings.upload_limit_bytes)
    return app
