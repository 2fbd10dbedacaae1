"""Hand-made payment inputs and contracts, so each rule can be a worked example.

`inputs(...)` builds the facts a statement reads (episodes, case-months,
service-event counts, measure rows) directly, with no dataset behind them, so
an expected amount is arithmetic on the numbers in the test itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pbrkit.contracts.schema import Contract
from pbrkit.pay.inputs import PaymentInputs
from pbrkit.pay.quarters import quarter_index

PROVIDER = "crc-north"
AS_OF = dt.date(2020, 12, 31)


def contract(start: str = "2015Q1", years: int = 7, **terms: Any) -> Contract:
    return Contract.model_validate(
        {"name": "worked", "id": "c-north", "provider_id": PROVIDER, "start": start, "years": years, **terms}
    )


def result(offenders: int, reoffenders: int, expected_rate: float, significant: bool = True,
           p_value: float = 0.01, reoffences: int = 0, expected_reoffences: float = 0.0,
           segment: str | None = None) -> dict[str, Any]:
    """A mature measure row, as `pbrkit.measure` would give it."""
    row = {
        "mature": True, "offenders": offenders, "reoffenders": reoffenders, "reoffences": reoffences,
        "binary_rate": reoffenders / offenders, "expected_rate": expected_rate,
        "rate_diff_pp": 100 * (reoffenders / offenders - expected_rate), "z": 0.0, "p_value": p_value,
        "significant": significant, "expected_reoffences": expected_reoffences,
        "frequency": reoffences / reoffenders if reoffenders else 0.0,
        "expected_frequency": 0.0, "z_frequency": 0.0,
    }
    if segment is not None:
        row["segment"] = segment
    return row


def inputs(
    episodes: dict[str, dict[str, int]] | None = None,
    case_months: dict[str, int] | None = None,
    service: dict[tuple[str, int, bool], dict[str, dict[str, int]]] | None = None,
    results: dict[str, dict[str, Any]] | None = None,
    segments: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
    baseline_volumes: dict[str, int] | None = None,
    supervision_months: int = 12,
    as_of: dt.date = AS_OF,
) -> PaymentInputs:
    """Inputs for provider PROVIDER, keyed by quarter label.

    episodes: {"2016Q1": {"community_order": 10}}; case_months: {"2016Q1": 300};
    service: {(kind, days, incomplete_is_failure): {"2016Q1": counts}};
    results: {"2015Q1": result(...)}; segments: {("risk_tier", "2015Q1"): [rows]}.
    """
    measures: dict[tuple[str, str | None], dict] = {("2011", None): {}}
    for cohort, row in (results or {}).items():
        measures[("2011", None)][(PROVIDER, cohort)] = [dict(row, group=PROVIDER, period=cohort)]
    for (segment, cohort), rows in (segments or {}).items():
        measures.setdefault(("2011", segment), {})[(PROVIDER, cohort)] = rows
    return PaymentInputs(
        as_of=as_of,
        episodes={(PROVIDER, quarter_index(q)): v for q, v in (episodes or {}).items()},
        case_months={supervision_months: {(PROVIDER, quarter_index(q)): v for q, v in (case_months or {}).items()}},
        service={
            rule: {(PROVIDER, quarter_index(q)): counts for q, counts in by_quarter.items()}
            for rule, by_quarter in (service or {}).items()
        },
        measures=measures,
        baseline_volumes={"2011": {PROVIDER: baseline_volumes["2011"]}} if baseline_volumes else {},
    )


def amounts(statement) -> dict[str, int]:
    """Line key -> amount in pence."""
    return {line.key: line.amount for line in statement.lines}
