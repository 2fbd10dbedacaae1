"""Renewal: which contracts earn another term under their design's rule.

The staged plan renewed "the top 21, or all that cut reoffending by a full
point, whichever is more". Both halves are prefixes of one ranking (best
improvement first), so the rule is: renew as many as the larger of the two
counts, from the top. Contracts are ranked only against others under the same
design, since a rule is a property of the design.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import polars as pl

from pbrkit.contracts.schema import Contract
from pbrkit.pay.quarters import quarter_index
from pbrkit.pay.term import contract_year, ratio

RESULT_COLUMNS = {
    "contract_id": pl.String, "cohort": pl.String, "offenders": pl.Int64,
    "reoffenders": pl.Int64, "expected_reoffenders": pl.String,
}

DECISION_COLUMNS = (
    "design", "contract_id", "provider_id", "cohorts", "offenders", "improvement_pp", "rank", "of",
    "renewed", "reason",
)


def _result_row(contract_id: str, basis: dict) -> dict:
    m = basis["measure"]
    expected = (Decimal(str(m["expected_rate"])) * m["offenders"]).quantize(Decimal("0.0001"))
    return {
        "contract_id": contract_id, "cohort": basis["cohort"], "offenders": m["offenders"],
        "reoffenders": m["reoffenders"], "expected_reoffenders": str(expected),
    }


def results_from_entries(entries: pl.DataFrame) -> pl.DataFrame:
    """Each cohort's latest result from ledger entries (columns contract_id, kind,
    line_key, basis as JSON text, id): the latest entry per key wins, so a result
    restated after a late conviction is the one judged."""
    latest = entries.filter(pl.col("kind") == "outcome.result").sort("id").group_by(
        "contract_id", "line_key", maintain_order=True).last()
    rows = [_result_row(c, json.loads(b)) for c, b in latest.select("contract_id", "basis").iter_rows()]
    return pl.DataFrame(rows, schema=RESULT_COLUMNS)


def _assessed(contract: Contract, cohort: str) -> bool:
    rule = contract.renewal
    return rule.assess_years is None or contract_year(contract, quarter_index(cohort)) <= rule.assess_years


def renewal_decisions(contracts: Iterable[Contract], results: pl.DataFrame) -> pl.DataFrame:
    """The renewal decision for every contract whose design has a renewal rule.

    improvement_pp = 100 x (expected - actual reoffenders) / offenders, pooled
    over the assessed cohorts; positive means fewer reoffenders than expected.
    """
    by_id = {c.id: c for c in contracts if c.renewal is not None}
    rows = []
    pooled: dict[str, list[Decimal]] = {cid: [Decimal(0), Decimal(0), Decimal(0), Decimal(0)] for cid in by_id}
    for cid, cohort, offenders, reoffenders, expected in results.iter_rows():
        contract = by_id.get(cid)
        if contract is None or not _assessed(contract, cohort):
            continue
        acc = pooled[cid]
        acc[0] += 1
        acc[1] += offenders
        acc[2] += reoffenders
        acc[3] += Decimal(expected)
    groups: dict[str, list[Contract]] = {}
    for c in by_id.values():
        groups.setdefault(c.name, []).append(c)
    for design, members in sorted(groups.items()):
        scored = []
        for c in members:
            n, offenders, reoffenders, expected = pooled[c.id]
            improvement = ratio((expected - reoffenders) * 100, offenders, 2) if offenders else None
            scored.append((c, int(n), int(offenders), improvement))
        ranked = sorted(scored, key=lambda s: (s[3] is None, -(s[3] or 0), s[0].id))
        rule = members[0].renewal
        n = len(ranked)
        top = rule.top_k if rule.top_k is not None else (int(rule.top_share * n) if rule.top_share is not None else 0)
        improved = 0
        if rule.improved_by_pp is not None:
            improved = sum(1 for s in ranked if s[3] is not None and s[3] >= rule.improved_by_pp)
        renew = max(min(top, n), improved)
        for rank, (c, cohorts, offenders, improvement) in enumerate(ranked, start=1):
            renewed = rank <= renew and improvement is not None
            reasons = []
            if rank <= min(top, n):
                reasons.append(f"in the top {top}")
            if rule.improved_by_pp is not None and improvement is not None and improvement >= rule.improved_by_pp:
                reasons.append(f"improved by at least {rule.improved_by_pp} points")
            if improvement is None:
                reason = "no mature cohorts to judge"
            elif renewed:
                reason = " and ".join(reasons)
            else:
                reason = f"not in the top {top}" + (
                    f" and improved by less than {rule.improved_by_pp} points" if rule.improved_by_pp is not None else "")
            rows.append({
                "design": design, "contract_id": c.id, "provider_id": c.provider_id, "cohorts": cohorts,
                "offenders": offenders, "improvement_pp": None if improvement is None else str(improvement),
                "rank": rank, "of": n, "renewed": renewed, "reason": reason,
            })
    schema = {
        "design": pl.String, "contract_id": pl.String, "provider_id": pl.String, "cohorts": pl.Int64,
        "offenders": pl.Int64, "improvement_pp": pl.String, "rank": pl.Int64, "of": pl.Int64,
        "renewed": pl.Boolean, "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).select(DECISION_COLUMNS)


def renewal_sentence(decisions: pl.DataFrame) -> str:
    """The decisions in plain English."""
    if decisions.height == 0:
        return "No contract has a renewal rule."
    parts = []
    for design, frame in decisions.group_by("design", maintain_order=True):
        renewed = frame.filter("renewed")
        parts.append(
            f"Under {design[0]}, {renewed.height} of {frame.height} contracts are renewed"
            + (f" ({', '.join(renewed['provider_id'].to_list())})." if 0 < renewed.height <= 5 else ".")
        )
    return " ".join(parts)
