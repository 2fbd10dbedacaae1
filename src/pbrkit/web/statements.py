"""Statements, provider dashboards, renewals and approvals, read from the ledger.

The ledger is the one record of money; nothing here copies it. A statement is
named by its contract and quarter. A provider user asking for another
provider's statement gets the same 404 as for one that does not exist.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pbrkit.pay.ledger import Ledger, LedgerError
from pbrkit.pay.statement import Statement
from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, require, require_provider
from pbrkit.web.models import Approval, Job, MeasureResult


def statement_list(ledger: Ledger, principal: Principal | None, *, provider_id: str | None = None,
                   period: str | None = None, contract_id: str | None = None) -> list[dict[str, Any]]:
    """One row per statement (contract and quarter) the user may see, with its net total."""
    require(principal, Action.read_statements)
    scope = principal.provider_scope
    if scope is not None and provider_id not in (None, scope):
        return []
    lines = ledger.statement_lines(provider_id=scope or provider_id, period=period, contract_id=contract_id)
    totals = (lines.group_by("contract_id", "provider_id", "design", "period", maintain_order=True)
              .agg(pl.col("amount_pence").sum().alias("total_pence"), pl.len().alias("lines"))
              .sort("provider_id", "contract_id", "period"))
    return totals.to_dicts()


def _statement_or_404(ledger: Ledger, principal: Principal, contract_id: str, period: str) -> Statement:
    try:
        found = ledger.statement(contract_id, period)
    except LedgerError:
        raise NotFound(f"no statement for contract {contract_id} in {period}") from None
    require_provider(principal, found.provider_id, f"statement for contract {contract_id} in {period}")
    return found


def statement(ledger: Ledger, principal: Principal | None, contract_id: str, period: str) -> Statement:
    require(principal, Action.read_statements)
    return _statement_or_404(ledger, principal, contract_id, period)


def statement_csv(ledger: Ledger, principal: Principal | None, contract_id: str, period: str) -> str:
    """The statement's lines as CSV, as `pbrkit statement --format csv` writes them."""
    return statement(ledger, principal, contract_id, period).frame().write_csv()


class StatementChanged(ValueError):
    """The statement was changed by a later run after the approver last saw it (422)."""


def latest_run(ledger: Ledger, contract_id: str, period: str) -> int:
    """The ledger run that last recorded this statement: what an approval signs off."""
    return int(ledger.runs(contract_id=contract_id, period=period)["id"].max())


def approve(session: Session, ledger: Ledger, principal: Principal | None, contract_id: str, period: str, *,
            note: str = "", seen_run: int | None = None) -> Approval:
    """Approve a statement as the ledger now records it (its latest run).

    `seen_run` is the run the approver was shown; when a later run has changed
    the statement since, the approval is refused rather than signing off
    figures nobody looked at.
    """
    require(principal, Action.approve_statements)
    found = _statement_or_404(ledger, principal, contract_id, period)
    run_id = latest_run(ledger, contract_id, period)
    if seen_run is not None and seen_run != run_id:
        raise StatementChanged(f"the statement has changed since you viewed it (run {seen_run}; it is now as "
                               f"recorded by run {run_id}): look at it again before approving")
    approval = Approval(contract_id=contract_id, provider_id=found.provider_id, period=period, run_id=run_id,
                        note=note, approved_by=principal.user_id)
    session.add(approval)
    session.flush()
    audit.record(session, principal, "statement approved", f"statement {contract_id} {period}", run_id=run_id,
                 total_pence=found.total, note=note)
    session.commit()
    return approval


def approvals(session: Session, principal: Principal | None, contract_id: str, period: str,
              ledger: Ledger) -> list[Approval]:
    require(principal, Action.read_statements)
    _statement_or_404(ledger, principal, contract_id, period)
    return list(session.scalars(select(Approval).where(Approval.contract_id == contract_id,
                                                       Approval.period == period).order_by(Approval.id)))


def providers(ledger: Ledger, principal: Principal | None) -> list[str]:
    """The providers paid through the ledger that the user may see."""
    require(principal, Action.read_dashboard)
    known = sorted(set(ledger.contracts()["provider_id"].to_list()))
    scope = principal.provider_scope
    return known if scope is None else [p for p in known if p == scope]


def latest_succeeded_job(session: Session) -> int | None:
    """The latest payment run that finished: the dashboards show its measures."""
    return session.scalar(select(func.max(Job.id)).where(Job.status == "succeeded"))


def _latest_measures(session: Session, provider_id: str | None) -> tuple[int | None, list[dict[str, Any]]]:
    job_id = latest_succeeded_job(session)
    if job_id is None:
        return None, []
    query = select(MeasureResult.figures).where(MeasureResult.job_id == job_id).order_by(MeasureResult.id)
    if provider_id is not None:
        query = query.where(MeasureResult.provider_id == provider_id)
    return job_id, [json.loads(figures) for figures in session.scalars(query)]


def dashboard(session: Session, ledger: Ledger, principal: Principal | None, provider_id: str) -> dict[str, Any]:
    """A provider's dashboard: actual against expected per quarter (from the latest
    payment run's measures), the funnel of the latest mature quarter (other
    providers unnamed), and payments by kind per quarter from the ledger."""
    require(principal, Action.read_dashboard)
    require_provider(principal, provider_id, f"provider {provider_id}")
    lines = ledger.statement_lines(provider_id=provider_id)
    job_id, everyone = _latest_measures(session, None)
    if lines.height == 0 and not any(row["group"] == provider_id for row in everyone):
        raise NotFound(f"no provider {provider_id}")
    own = [row for row in everyone if row["group"] == provider_id]
    mature = [row["period"] for row in everyone if row.get("mature")]
    latest = max(mature) if mature else None
    funnel = [
        {"own": row["group"] == provider_id, "offenders": row["offenders"], "binary_rate": row["binary_rate"],
         "expected_rate": row["expected_rate"], "rate_diff_pp": row["rate_diff_pp"]}
        for row in everyone if row["period"] == latest and row.get("mature")
    ]
    kinds = (lines.with_columns(pl.col("kind").str.split(".").list.first().alias("kind"))
             .group_by("period", "kind").agg(pl.col("amount_pence").sum()).sort("period", "kind"))
    return {
        "provider_id": provider_id, "job_id": job_id,
        "measures": [
            {key: row.get(key) for key in ("period", "mature", "offenders", "reoffenders", "binary_rate",
                                           "expected_rate", "rate_diff_pp", "p_value", "significant",
                                           "frequency", "expected_frequency")}
            for row in own
        ],
        "funnel_period": latest, "funnel": funnel, "payments_by_kind": kinds.to_dicts(),
    }


def renewals(ledger: Ledger, principal: Principal | None) -> list[dict[str, Any]]:
    """Each contract's renewal decision under its design's rule; a provider sees its own."""
    from pbrkit.contracts import Contract
    from pbrkit.pay.renewal import renewal_decisions, results_from_entries

    require(principal, Action.read_statements)
    contracts = [Contract.model_validate_json(t) for t in ledger.contracts()["contract_terms"].to_list()]
    decisions = renewal_decisions(contracts, results_from_entries(ledger.entries()))
    scope = principal.provider_scope
    if scope is not None:
        decisions = decisions.filter(pl.col("provider_id") == scope)
    return decisions.to_dicts()
