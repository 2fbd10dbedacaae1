"""The portal's settings, declared once and read from `PBRKIT_*` environment variables.

A plain typed object (pydantic-settings), so what a running service was told
can be printed and checked. Outside development the service refuses to start
without a secret key of its own: a key anyone can read in this file would let
anyone sign a session cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Signs session cookies in development only; refused anywhere else.
DEVELOPMENT_SECRET = "development-only-secret-do-not-deploy"

#: A secret shorter than this is too easy to guess.
SHORTEST_SECRET = 32


class Settings(BaseSettings):
    """What a running portal needs to know; every field has a `PBRKIT_` variable."""

    model_config = SettingsConfigDict(env_prefix="PBRKIT_", extra="forbid")

    #: development relaxes the secret key and secure-cookie rules; production and test do not.
    environment: Literal["development", "test", "production"] = "production"
    #: The ledger database, which the portal shares: a SQLite file path or a SQLAlchemy URL.
    database_url: str = "ledger.sqlite"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    #: Uploaded datasets are kept here, one directory each.
    storage_dir: Path = Path("portal-files")
    #: The largest request body accepted (an upload); anything larger is refused with 413.
    upload_limit_bytes: int = 200 * 1024 * 1024
    #: A zip may unpack to at most this many times its own size (a zip bomb is refused).
    unpacked_ratio_limit: int = 20
    #: The GOV.UK crown and Transport font are shown only on a service.gov.uk domain.
    service_gov_uk: bool = False
    #: Failed sign-ins allowed per email and address within the window, before 429.
    login_attempts: int = 5
    login_window_seconds: int = 15 * 60
    session_max_age_seconds: int = 8 * 60 * 60
    #: Session cookies only over HTTPS (turn off only for plain-HTTP development).
    secure_cookies: bool = True
    #: Run payment jobs inside the request that starts them (tests), not on a worker thread.
    run_jobs_in_request: bool = False
    #: Providers a design is not applied to when a programme is paid (the public sector).
    public_providers: tuple[str, ...] = ("nps",)

    @model_validator(mode="after")
    def _secret_fit_for_the_environment(self) -> Settings:
        if self.environment == "development":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET:
            raise ValueError(
                f"set PBRKIT_SECRET_KEY (at least {SHORTEST_SECRET} random characters): the development key "
                f"is refused in {self.environment}")
        if len(secret) < SHORTEST_SECRET:
            raise ValueError(f"PBRKIT_SECRET_KEY must be at least {SHORTEST_SECRET} characters")
        return self
