"""Queries: a thread per statement line, where a provider disputes and the commissioner answers.

A message is kept exactly as written (it is escaped when shown, never
interpreted). A provider's message (re)opens the thread; the commissioner's
answers it; either may close it, after which it takes no more messages.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from pbrkit.pay.ledger import Ledger
from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, Role, require, require_provider
from pbrkit.web.models import QueryMessage, QueryThread
from pbrkit.web.statements import statement

LONGEST_MESSAGE = 10_000


class InvalidQuery(ValueError):
    """A query or message that cannot be accepted (422)."""


def _body(body: str) -> str:
    if not body.strip():
        raise InvalidQuery("write a message")
    if len(body) > LONGEST_MESSAGE:
        raise InvalidQuery(f"a message may be at most {LONGEST_MESSAGE:,} characters")
    return body


def raise_query(session: Session, ledger: Ledger, principal: Principal | None, *, contract_id: str, period: str,
                line_key: str, body: str) -> QueryThread:
    require(principal, Action.raise_queries)
    found = statement(ledger, principal, contract_id, period)
    if line_key not in {line.key for line in found.lines}:
        raise NotFound(f"the statement for contract {contract_id} in {period} has no line {line_key!r}")
    thread = QueryThread(contract_id=contract_id, provider_id=found.provider_id, period=period, line_key=line_key,
                         status="open", raised_by=principal.user_id)
    thread.messages.append(QueryMessage(author_id=principal.user_id, body=_body(body)))
    session.add(thread)
    session.flush()
    audit.record(session, principal, "query raised", f"query {thread.id}", contract_id=contract_id, period=period,
                 line_key=line_key)
    session.commit()
    return thread


def query(session: Session, principal: Principal | None, query_id: int) -> QueryThread:
    require(principal, Action.read_queries)
    thread = session.get(QueryThread, query_id, options=[selectinload(QueryThread.messages)
                                                         .selectinload(QueryMessage.author)])
    if thread is None:
        raise NotFound(f"no query {query_id}")
    require_provider(principal, thread.provider_id, f"query {query_id}")
    return thread


def queries(session: Session, principal: Principal | None, *, status: str | None = None,
            contract_id: str | None = None, period: str | None = None) -> list[QueryThread]:
    require(principal, Action.read_queries)
    q = select(QueryThread).options(selectinload(QueryThread.messages).selectinload(QueryMessage.author))
    scope = principal.provider_scope
    for column, value in ((QueryThread.provider_id, scope), (QueryThread.status, status),
                          (QueryThread.contract_id, contract_id), (QueryThread.period, period)):
        if value is not None:
            q = q.where(column == value)
    return list(session.scalars(q.order_by(QueryThread.id.desc())))


def reply(session: Session, principal: Principal | None, query_id: int, *, body: str,
          close: bool = False) -> QueryThread:
    require(principal, Action.answer_queries)
    thread = query(session, principal, query_id)
    if thread.status == "closed":
        raise InvalidQuery(f"query {query_id} is closed")
    thread.messages.append(QueryMessage(author_id=principal.user_id, body=_body(body)))
    thread.status = "closed" if close else ("answered" if principal.role is Role.commissioner else "open")
    audit.record(session, principal, "query closed" if close else "query answered", f"query {thread.id}",
                 status=thread.status)
    session.commit()
    session.refresh(thread)
    return thread
