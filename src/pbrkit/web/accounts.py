"""Users and API tokens: creating, changing, signing in.

A user's email is kept in lower case, so `Ana@x` and `ana@x` are one account.
Every change writes an audit record; a password never appears in one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, Role, Unauthenticated, require
from pbrkit.web.auth import SESSION_KEY, USER_ID, LoginLimiter, hash_password, new_token, password_matches, token_digest
from pbrkit.web.models import ApiToken, BrowserSession, User, now

SHORTEST_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class InvalidAccount(ValueError):
    """Account details that cannot be accepted (422); the message says why."""


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, email=user.email, role=Role(user.role), provider_id=user.provider_id)


def _checked(email: str, role: str, provider_id: str | None) -> tuple[str, Role, str | None]:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidAccount(f"{email!r} is not an email address")
    try:
        chosen = Role(role)
    except ValueError:
        raise InvalidAccount(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if chosen is Role.provider:
        if not provider_id or not _PROVIDER_ID.match(provider_id):
            raise InvalidAccount("a provider user needs a provider id, e.g. crc-north (lower case, digits, - . _)")
    elif provider_id:
        raise InvalidAccount(f"only provider users belong to a provider, not a {chosen.value}")
    return email, chosen, provider_id if chosen is Role.provider else None


def _checked_password(password: str) -> str:
    if len(password) < SHORTEST_PASSWORD:
        raise InvalidAccount(f"a password must be at least {SHORTEST_PASSWORD} characters")
    return password


def add_user(session: Session, actor: Principal | str, *, email: str, role: str, password: str,
             provider_id: str | None = None) -> User:
    """Create a user. `actor` is the commissioner, or `audit.COMMAND_LINE` for `pbrkit user add`."""
    if isinstance(actor, Principal) or actor is None:
        require(actor, Action.manage_users)
    email, chosen, provider_id = _checked(email, role, provider_id)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise InvalidAccount(f"there is already a user {email}")
    user = User(email=email, role=chosen.value, provider_id=provider_id,
                password_hash=hash_password(_checked_password(password)), active=True)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user added", f"user {user.id}", email=email, role=chosen.value,
                 provider_id=provider_id)
    session.commit()
    return user


def change_user(session: Session, actor: Principal | None, user_id: int, *, role: str | None = None,
                provider_id: str | None = None, active: bool | None = None,
                password: str | None = None) -> User:
    """Change a user's role, provider, active flag or password (commissioner only)."""
    require(actor, Action.manage_users)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    changes: dict[str, object] = {}
    if role is not None or provider_id is not None:
        new_role = role if role is not None else user.role
        new_provider = provider_id if provider_id is not None else (user.provider_id if new_role == "provider"
                                                                    else None)
        _, chosen, new_provider = _checked(user.email, new_role, new_provider)
        user.role, user.provider_id = chosen.value, new_provider
        changes.update(role=chosen.value, provider_id=new_provider)
    if active is not None:
        if not active and user.id == actor.user_id:
            raise InvalidAccount("you cannot deactivate your own account")
        user.active = active
        changes["active"] = active
    if password is not None:
        user.password_hash = hash_password(_checked_password(password))
        changes["password"] = "changed"
        # A new password is often a response to a leak: sign the user out everywhere.
        ended = now()
        for live in session.scalars(select(BrowserSession).where(BrowserSession.user_id == user.id,
                                                                 BrowserSession.ended_at.is_(None))):
            live.ended_at = ended
        for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                            ApiToken.revoked_at.is_(None))):
            token.revoked_at = ended
    audit.record(session, actor, "user changed", f"user {user.id}", email=user.email, **changes)
    session.commit()
    return user


def users(session: Session, principal: Principal | None) -> list[User]:
    require(principal, Action.read_users)
    return list(session.scalars(select(User).order_by(User.id)))


def sign_in(session: Session, limiter: LoginLimiter, email: str, password: str, address: str) -> Principal:
    """The principal for a right email and password; refused alike for a wrong email or
    password, and with `TooManyAttempts` after too many failures."""
    email = email.strip().lower()
    limiter.check(email, address)
    user = session.scalar(select(User).where(User.email == email))
    if not password_matches(user.password_hash if user else None, password) or not user.active:
        limiter.failed(email, address)
        audit.record(session, None, "sign-in refused", f"email {email}", address=address)
        session.commit()
        raise Unauthenticated("the email or password is not right")
    limiter.succeeded(email, address)
    principal = principal_of(user)
    audit.record(session, principal, "signed in", f"user {user.id}", address=address)
    session.commit()
    return principal


def principal_for_user(session: Session, user_id: object) -> Principal | None:
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    return principal_of(user) if user is not None and user.active else None


def start_browser_session(session: Session, principal: Principal) -> str:
    """A new server-side session for a signed-in browser; the key goes in its cookie."""
    key = new_token()
    session.add(BrowserSession(user_id=principal.user_id, key_hash=token_digest(key)))
    session.commit()
    return key


def end_browser_session(session: Session, cookie: Mapping[str, object]) -> None:
    """End the cookie's session (the caller commits)."""
    key = cookie.get(SESSION_KEY)
    if isinstance(key, str):
        found = session.scalar(select(BrowserSession).where(BrowserSession.key_hash == token_digest(key)))
        if found is not None and found.ended_at is None:
            found.ended_at = now()


def principal_for_browser(session: Session, cookie: Mapping[str, object]) -> Principal | None:
    """The principal of a session cookie whose server-side session has not ended."""
    key, user_id = cookie.get(SESSION_KEY), cookie.get(USER_ID)
    if not isinstance(key, str) or not isinstance(user_id, int):
        return None
    live = session.scalar(select(BrowserSession.id).where(
        BrowserSession.key_hash == token_digest(key), BrowserSession.user_id == user_id,
        BrowserSession.ended_at.is_(None)))
    return principal_for_user(session, user_id) if live is not None else None


def principal_for_token(session: Session, token: str) -> Principal | None:
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token),
                                                   ApiToken.revoked_at.is_(None)))
    if found is None or not found.user.active:
        return None
    return principal_of(found.user)


def issue_token(session: Session, principal: Principal | None, name: str) -> tuple[ApiToken, str]:
    """A new API token for the signed-in user: the row, and the token itself (shown once)."""
    if principal is None:
        raise Unauthenticated("sign in first")
    token = new_token()
    row = ApiToken(user_id=principal.user_id, name=name.strip() or "API token", token_hash=token_digest(token))
    session.add(row)
    session.flush()
    audit.record(session, principal, "token issued", f"token {row.id}", name=row.name)
    session.commit()
    return row, token


def revoke_token(session: Session, principal: Principal | None, token_id: int) -> None:
    """Revoke one of one's own tokens (a commissioner may revoke anyone's)."""
    if principal is None:
        raise Unauthenticated("sign in first")
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != principal.user_id and principal.role is not Role.commissioner):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record(session, principal, "token revoked", f"token {row.id}")
        session.commit()
