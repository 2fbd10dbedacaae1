"""Signing in: argon2 password hashes, login rate limiting, API tokens, CSRF.

Browsers hold a session in a signed, HttpOnly, SameSite=Lax cookie (Starlette's
SessionMiddleware, see `app`), holding only the user's id and the session's
CSRF token; the user is looked up on every request, so a deactivated user is
out at once. Every state-changing request made with that cookie must carry the
CSRF token (a form field or the `X-CSRF-Token` header). API clients send
`Authorization: Bearer <token>` instead: a token is not sent by a browser on
its own, so it needs no CSRF token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Session keys.
USER_ID, CSRF = "user_id", "csrf_token"
#: The cookie's key to its server-side `BrowserSession` (ended at sign-out).
SESSION_KEY = "session_key"
CSRF_HEADER, CSRF_FIELD = "X-CSRF-Token", "csrf_token"
TOKEN_PREFIX = "pbrk_"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email takes as long as
    a wrong password. Made on first use: an argon2 hash costs too much for import."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token, shown to its owner once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token. A token has 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this email from this address (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after} seconds")
        self.retry_after = retry_after


class LoginLimiter:
    """Failed sign-ins per (email, client address) within a sliding window.

    In-process: one service process holds the counts, which is what one
    commissioner's service runs. Once `attempts` failures fall within the
    window, sign-ins are refused (even with the right password) until the
    oldest failure leaves it.
    """

    def __init__(self, attempts: int, window_seconds: int, clock=time.monotonic) -> None:
        self.attempts, self.window, self.clock = attempts, window_seconds, clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures, cutoff = self._failures[key], self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def check(self, email: str, address: str) -> None:
        with self._lock:
            failures = self._recent((email, address))
            if not failures:
                del self._failures[(email, address)]
            elif len(failures) >= self.attempts:
                raise TooManyAttempts(max(1, int(failures[0] + self.window - self.clock()) + 1))

    def failed(self, email: str, address: str) -> None:
        with self._lock:
            self._recent((email, address)).append(self.clock())

    def succeeded(self, email: str, address: str) -> None:
        with self._lock:
            self._failures.pop((email, address), None)
