"""The audit log: who changed what, and when.

Each change writes its record in the same transaction as the change itself,
so there is never a change without its record nor a record of a change that
was rolled back. Records are only ever added (the table's triggers refuse
anything else).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbrkit.web.access import Action, Principal, require
from pbrkit.web.models import AuditRecord

#: The actor named for changes made from the command line.
COMMAND_LINE = "cli"


def record(session: Session, actor: Principal | str | None, action: str, target: str,
           **details: Any) -> AuditRecord:
    """Add one record to `session` (committed with the change it describes).

    `actor` is the user, a name such as `cli`, or None for an anonymous request.
    """
    if isinstance(actor, Principal):
        actor_id, actor_name = actor.user_id, actor.email
    else:
        actor_id, actor_name = None, actor or "anonymous"
    entry = AuditRecord(actor_id=actor_id, actor=actor_name, action=action, target=target,
                        details=json.dumps(details, sort_keys=True, default=str))
    session.add(entry)
    return entry


def records(session: Session, principal: Principal | None, *, limit: int = 200,
            before_id: int | None = None) -> list[AuditRecord]:
    """The latest records first, `limit` at a time; `before_id` pages back."""
    require(principal, Action.read_audit)
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditRecord.id < before_id)
    return list(session.scalars(query))
