"""Who may do what: the role rules of the portal, in one place.

- a **commissioner** may do everything;
- a **provider** user sees only its own provider's statements, dashboard and
  queries, and may raise and answer queries on them;
- an **auditor** reads everything and changes nothing.

Every service function asks here before it reads or changes anything. Asking
for something outside one's provider is answered as if it did not exist
(`NotFound`, so 404), so a provider cannot even learn which other statements
exist; an action the role may never take is `Forbidden` (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    commissioner = "commissioner"
    provider = "provider"
    auditor = "auditor"


class Action(StrEnum):
    read_statements = "read statements"
    read_dashboard = "read a provider dashboard"
    read_programmes = "read programmes"
    read_datasets = "read datasets"
    read_jobs = "read payment runs"
    read_reports = "read simulation reports"
    read_queries = "read queries"
    read_users = "read users"
    read_audit = "read the audit log"
    manage_programmes = "create programmes"
    upload_datasets = "upload datasets"
    start_runs = "start payment runs"
    approve_statements = "approve statements"
    attach_reports = "attach simulation reports"
    raise_queries = "raise queries"
    answer_queries = "answer queries"
    manage_users = "manage users"


#: What each role may do. A provider's read and query rights are further
#: limited to its own provider by `require_provider`.
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.commissioner: frozenset(Action),
    Role.auditor: frozenset(a for a in Action if a.name.startswith("read_")),
    Role.provider: frozenset({
        Action.read_statements, Action.read_dashboard, Action.read_programmes, Action.read_queries,
        Action.raise_queries, Action.answer_queries,
    }),
}


class Unauthenticated(Exception):
    """Nobody is signed in (401)."""


class Forbidden(Exception):
    """The role may never do this (403)."""


class NotFound(Exception):
    """No such thing, or not one this user may know of (404)."""


@dataclass(frozen=True)
class Principal:
    """The signed-in user, as the rules see them."""

    user_id: int
    email: str
    role: Role
    provider_id: str | None = None

    @property
    def provider_scope(self) -> str | None:
        """The one provider this user is limited to, or None for every provider."""
        return self.provider_id if self.role is Role.provider else None


def allowed(principal: Principal | None, action: Action) -> bool:
    """Whether to offer an action at all (the pages show only the buttons a user may press)."""
    return principal is not None and action in PERMISSIONS[principal.role]


def require(principal: Principal | None, action: Action) -> Principal:
    """The principal, if it may take `action`; otherwise 401 or 403."""
    if principal is None:
        raise Unauthenticated("sign in first")
    if action not in PERMISSIONS[principal.role]:
        raise Forbidden(f"a {principal.role.value} may not {action.value}")
    return principal


def sees_provider(principal: Principal, provider_id: str) -> bool:
    scope = principal.provider_scope
    return scope is None or scope == provider_id


def require_provider(principal: Principal, provider_id: str, what: str) -> None:
    """Raise NotFound unless `provider_id` is within the principal's scope; the
    message is the same as for something that does not exist."""
    if not sees_provider(principal, provider_id):
        raise NotFound(f"no {what}")
