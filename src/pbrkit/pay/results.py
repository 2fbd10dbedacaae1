"""Payment for results: outcome prices, money at risk, foundation payments.

A cohort's result is paid in the quarter the cohort matures (its last day
plus 12 months' follow-up and 6 months for the courts), from the figures
`pbrkit.measure` publishes. Each maturing cohort gets an `outcome.result` line
of zero pence whose basis is its measure row, and every payment for that
cohort says which rule turned the result into money: the significance gate,
the flat zone, the hurdle, the cap or collar, the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pbrkit.contracts.schema import Contract
from pbrkit.pay.fees import quarter_fees
from pbrkit.pay.inputs import PaymentInputs
from pbrkit.pay.quarters import quarter_label
from pbrkit.pay.statement import Line, decimal, format_pence, pence, to_pence
from pbrkit.pay.term import contract_year, in_term, line, ratio

_FIGURES = (
    "offenders", "reoffenders", "reoffences", "binary_rate", "expected_rate", "rate_diff_pp", "z",
    "p_value", "significant", "expected_reoffences", "frequency", "expected_frequency", "z_frequency",
)


def measured(row: dict[str, Any]) -> dict[str, Any]:
    """A measure row as basis: counts as integers, figures as 6-place Decimals,
    so the basis (and the ledger's digest of it) is the same on every machine."""
    out: dict[str, Any] = {}
    for name in _FIGURES:
        value = row.get(name)
        out[name] = decimal(value, 6) if isinstance(value, float) else value
    return out


@dataclass(frozen=True)
class BinaryResult:
    """The binary result of one cohort and what the contract makes of it."""

    offenders: int
    reoffenders: int
    expected: Decimal  # expected reoffenders, sum of p_i
    rate_diff_pp: Decimal
    significant: bool
    avoided: Decimal  # expected - actual reoffenders
    #: +1 paid, -1 deducted, 0 neither
    direction: int
    reason: str
    #: The bar the CRC hurdle and target-less earn-back read: a fall, outside
    #: the flat zone, significant when significance is required.
    cleared: bool


def binary_result(contract: Contract, row: dict[str, Any]) -> BinaryResult:
    outcomes = contract.outcomes
    rule = outcomes.binary if outcomes else None
    offenders, reoffenders = row["offenders"], row["reoffenders"]
    expected = decimal(row["expected_rate"] * offenders)
    avoided = expected - reoffenders
    diff = decimal(row["rate_diff_pp"])
    significant = bool(row["significant"])
    needs_significance = rule.significance_required if rule else True
    flat_zone = rule.flat_zone_pp if rule else Decimal(0)
    if avoided == 0:
        direction, reason = 0, "no change against the baseline"
    elif abs(diff) < flat_zone:
        direction, reason = 0, f"change of {diff} points is inside the flat zone of +/-{flat_zone}"
    elif needs_significance and not significant:
        direction, reason = 0, f"change is not statistically significant (p = {decimal(row['p_value'], 4)})"
    elif avoided > 0:
        direction, reason = 1, "fewer reoffenders than expected"
    elif outcomes is not None and outcomes.clawback:
        direction, reason = -1, "more reoffenders than expected; the contract claws back"
    else:
        direction, reason = 0, "more reoffenders than expected; the contract does not claw back"
    cleared = avoided > 0 and abs(diff) >= flat_zone and (significant or not needs_significance)
    return BinaryResult(offenders, reoffenders, expected, diff, significant, avoided, direction, reason, cleared)


def _binary_lines(contract: Contract, inputs: PaymentInputs, cohort: str, result: BinaryResult) -> list[Line]:
    rule = contract.outcomes.binary
    price = Decimal(to_pence(rule.price))
    paid = result.direction != 0
    if rule.segment is None:
        return [line(
            "outcome.binary", f"outcome.binary:{cohort}",
            f"Reoffenders avoided in cohort {cohort} at {format_pence(int(price))} ({result.reason})",
            result.avoided, "reoffenders avoided", price if paid else Decimal(0),
            {"cohort": cohort, "expected_reoffenders": result.expected, "reoffenders": result.reoffenders,
             "rate_diff_pp": result.rate_diff_pp, "significant": result.significant, "rule": result.reason},
        )]
    lines = []
    rows = inputs.cohort(contract.outcomes.baseline, contract.provider_id, cohort, rule.segment)
    for row in sorted(rows, key=lambda r: str(r["segment"])):
        level = str(row["segment"])
        weight = rule.weight(level)
        expected = decimal(row["expected_rate"] * row["offenders"])
        avoided = expected - row["reoffenders"]
        rate = price * weight if paid else Decimal(0)
        lines.append(line(
            "outcome.binary", f"outcome.binary:{cohort}:{level}",
            f"Reoffenders avoided in cohort {cohort}, {rule.segment} {level}, at "
            f"{format_pence(int(price))} x {weight} ({result.reason})",
            avoided, "reoffenders avoided", rate,
            {"cohort": cohort, "segment": rule.segment, "level": level, "weight": weight,
             "offenders": row["offenders"], "expected_reoffenders": expected,
             "reoffenders": row["reoffenders"], "rule": result.reason},
        ))
    return lines


def _frequency_line(contract: Contract, cohort: str, row: dict[str, Any], result: BinaryResult) -> Line:
    rule, outcomes = contract.outcomes.frequency, contract.outcomes
    price = Decimal(to_pence(rule.price))
    expected = decimal(row["expected_reoffences"])
    avoided = expected - row["reoffences"]
    change_pct = ratio(avoided * 100, expected, 2) if expected else Decimal(0)
    if avoided == 0:
        paid, reason = False, "no change against the baseline"
    elif abs(change_pct) < rule.flat_zone_pct:
        paid, reason = False, f"change of {change_pct}% is inside the flat zone of +/-{rule.flat_zone_pct}%"
    elif avoided > 0 and rule.hurdle and not result.cleared:
        paid, reason = False, "the binary result did not clear its bar (hurdle)"
    elif avoided > 0:
        paid, reason = True, "fewer reoffences than expected"
    elif outcomes.clawback:
        paid, reason = True, "more reoffences than expected; the contract claws back"
    else:
        paid, reason = False, "more reoffences than expected; the contract does not claw back"
    return line(
        "outcome.frequency", f"outcome.frequency:{cohort}",
        f"Reoffences avoided in cohort {cohort} at {format_pence(int(price))} ({reason})",
        avoided, "reoffences avoided", price if paid else Decimal(0),
        {"cohort": cohort, "expected_reoffences": expected, "reoffences": row["reoffences"],
         "change_pct": change_pct, "hurdle": rule.hurdle, "binary_cleared": result.cleared, "rule": reason},
    )


def _limit_lines(contract: Contract, inputs: PaymentInputs, cohort: str, q: int, total: int) -> list[Line]:
    """The cap and collar on a cohort's outcome payment, as explicit lines."""
    outcomes = contract.outcomes
    caps: list[tuple[int, str]] = []
    if outcomes.cap is not None:
        caps.append((to_pence(outcomes.cap), f"cap of {format_pence(to_pence(outcomes.cap))} a cohort"))
    if outcomes.cap_share_of_fees is not None and in_term(contract, q):
        fees = quarter_fees(contract, inputs, q)
        amount = pence(Decimal(fees) * outcomes.cap_share_of_fees)
        caps.append((amount, f"cap of {outcomes.cap_share_of_fees} x the cohort quarter's fees {format_pence(fees)}"))
    lines = []
    if caps:
        cap, why = min(caps)
        if total > cap:
            lines.append(line(
                "outcome.cap", f"outcome.cap:{cohort}", f"Outcome payment for cohort {cohort} capped ({why})",
                Decimal(1), "adjustment", Decimal(cap - total),
                {"cohort": cohort, "before_cap_pence": total, "cap_pence": cap, "rule": why},
            ))
    if outcomes.collar is not None and outcomes.clawback:
        floor = -to_pence(outcomes.collar)
        if total < floor:
            lines.append(line(
                "outcome.collar", f"outcome.collar:{cohort}",
                f"Outcome deduction for cohort {cohort} limited by the collar of {format_pence(-floor)}",
                Decimal(1), "adjustment", Decimal(floor - total),
                {"cohort": cohort, "before_collar_pence": total, "collar_pence": floor},
            ))
    return lines


def _earn_back_line(contract: Contract, inputs: PaymentInputs, cohort: str, q: int, result: BinaryResult) -> Line | None:
    at_risk = contract.at_risk
    share = at_risk.share(contract_year(contract, q))
    fees = quarter_fees(contract, inputs, q)
    withheld = -withheld_pence(fees, share)
    if withheld == 0:
        return None
    improvement = -result.rate_diff_pp
    if at_risk.target_pp is not None:
        reached = max(Decimal(0), min(Decimal(1), ratio(improvement, at_risk.target_pp)))
        if at_risk.graduated:
            attainment, rule = reached, f"graduated: {improvement} of a {at_risk.target_pp}-point target"
        else:
            attainment = Decimal(1) if improvement >= at_risk.target_pp else Decimal(0)
            rule = f"all or nothing: {improvement} points against a {at_risk.target_pp}-point target"
    else:
        attainment = Decimal(1) if result.cleared else Decimal(0)
        rule = "earned back when the binary result clears its bar" + ("" if result.cleared else f": {result.reason}")
    return line(
        "at_risk.earned_back", f"at_risk.earned_back:{cohort}",
        f"Money at risk from {cohort} earned back ({rule})",
        Decimal(withheld), "pence withheld", attainment,
        {"cohort": cohort, "withheld_pence": withheld, "share": share, "fees_pence": fees,
         "improvement_pp": improvement, "target_pp": at_risk.target_pp, "attainment": attainment},
    )


def withheld_pence(fees: int, share: Decimal) -> int:
    """The money withheld from a quarter's fees, negative (as on the statement)."""
    return pence(Decimal(fees) * -share)


def at_risk_line(contract: Contract, inputs: PaymentInputs, q: int) -> Line | None:
    """Withhold the year's share of this quarter's fees, to be earned back by the
    quarter's cohort."""
    if contract.at_risk is None or not in_term(contract, q):
        return None
    year = contract_year(contract, q)
    share = contract.at_risk.share(year)
    if share == 0:
        return None
    fees = quarter_fees(contract, inputs, q)
    label = quarter_label(q)
    return line(
        "at_risk.withheld", f"at_risk.withheld:{label}",
        f"{share:%} of the quarter's fees held at risk (contract year {year})",
        Decimal(fees), "pence of fees", -share,
        {"quarter": label, "contract_year": year, "share": share, "fees_pence": fees},
    )


def foundation_line(contract: Contract, q: int) -> Line | None:
    foundation = contract.outcomes.foundation if contract.outcomes else None
    if foundation is None or not in_term(contract, q):
        return None
    label = quarter_label(q)
    advance = Decimal(to_pence(foundation.expected_per_quarter)) * foundation.share
    return line(
        "outcome.foundation_advance", f"outcome.foundation_advance:{label}",
        f"Foundation payment: {foundation.share} of the expected outcome payment for cohort {label}, in advance",
        Decimal(1), "advance", Decimal(pence(advance)),
        {"cohort": label, "expected_pence": to_pence(foundation.expected_per_quarter), "share": foundation.share},
    )


def cohort_lines(contract: Contract, inputs: PaymentInputs, q: int) -> list[Line]:
    """Every line a maturing cohort (quarter q) brings: its result, its outcome
    payments with cap and collar, its at-risk earn-back, and the recovery of
    its foundation advance."""
    cohort = quarter_label(q)
    baseline = contract.outcomes.baseline if contract.outcomes else "2011"
    rows = inputs.cohort(baseline, contract.provider_id, cohort)
    advance = foundation_line(contract, q)
    lines: list[Line] = []
    if advance is not None:
        lines.append(line(
            "outcome.foundation_recovery", f"outcome.foundation_recovery:{cohort}",
            f"Foundation advance for cohort {cohort} recovered against its actual result",
            Decimal(1), "advance", Decimal(-advance.amount), {"cohort": cohort, "advance_pence": advance.amount},
        ))
    if not rows or not rows[0]["offenders"]:
        return lines
    row = rows[0]
    if not row["mature"]:
        raise ValueError(f"cohort {cohort} of {contract.provider_id} is not mature at {inputs.as_of}")
    model = inputs.models.get(baseline)
    lines.insert(0, line(
        "outcome.result", f"outcome.result:{cohort}",
        f"Proven reoffending of cohort {cohort} against the {baseline} case-mix adjusted baseline",
        Decimal(row["offenders"]), "offenders", Decimal(0),
        {"cohort": cohort, "baseline": baseline, "measure": measured(row),
         "model": None if model is None else model.kind},
    ))
    result = binary_result(contract, row)
    payments: list[Line] = []
    if contract.outcomes and contract.outcomes.binary:
        payments += _binary_lines(contract, inputs, cohort, result)
    if contract.outcomes and contract.outcomes.frequency:
        payments.append(_frequency_line(contract, cohort, row, result))
    lines += payments
    if payments:
        lines += _limit_lines(contract, inputs, cohort, q, sum(x.amount for x in payments))
    if contract.at_risk is not None:
        earned = _earn_back_line(contract, inputs, cohort, q, result)
        if earned is not None:
            lines.append(earned)
    return lines
