"""`Portal`: everything a running service holds, built once from its settings.

The database engine and session factory, the ledger (the same database), the
login limiter and the job runner live here, so the API, the pages and the
command line all reach the same objects and no module keeps a global.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pbrkit.pay.ledger import Ledger
from pbrkit.web.auth import LoginLimiter
from pbrkit.web.database import migrate, portal_engine, session_factory
from pbrkit.web.settings import Settings


class Portal:
    """The service's state. `migrate_schema` brings the portal's tables up to date first
    (the ledger's own tables are created by `Ledger` as always)."""

    def __init__(self, settings: Settings, *, migrate_schema: bool = True) -> None:
        from pbrkit.web.jobs import JobRunner

        self.settings = settings
        # The ledger first: it creates its own tables and (on SQLite) sets WAL.
        self.ledger = Ledger(settings.database_url)
        self.engine = portal_engine(settings.database_url)
        if migrate_schema:
            migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_seconds)
        self.jobs = JobRunner(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session; the caller commits what it changes."""
        with self.sessions() as session:
            yield session

    def close(self) -> None:
        self.jobs.shutdown()
        self.engine.dispose()
        self.ledger.close()

    def __enter__(self) -> Portal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
