"""Service-level deductions: deadlines missed, and work filed but empty.

Front-line reports from the CRCs told of blank resettlement plans filed on time
and paid in full. A service level here can count work that a quality audit
found empty (`complete = false`) as a failure, and each line shows the
counts behind it (met, late, missing, incomplete, still pending), so a provider
can check the deduction against its own case records.
"""

from __future__ import annotations

from decimal import Decimal

from pbrkit.contracts.schema import Contract
from pbrkit.pay.fees import quarter_fees
from pbrkit.pay.inputs import PaymentInputs
from pbrkit.pay.quarters import quarter_label
from pbrkit.pay.statement import Line, format_pence, pence, to_pence
from pbrkit.pay.term import in_term, line, ratio


def service_level_lines(contract: Contract, inputs: PaymentInputs, q: int) -> list[Line]:
    """Deductions for the service events that fell due in quarter q."""
    if not contract.service_levels or not in_term(contract, q):
        return []
    label = quarter_label(q)
    lines: list[Line] = []
    fees: int | None = None
    for i, level in enumerate(contract.service_levels):
        rule = (level.kind, level.days_allowed, level.incomplete_is_failure)
        counts = inputs.service[rule].get((contract.provider_id, q))
        if not counts or not counts["due"]:
            continue
        failures = counts["late"] + counts["missing"] + counts["incomplete"]
        decided = counts["due"] - counts["pending"]
        met_share = ratio(counts["met"], decided)
        below = level.target_share is not None and decided > 0 and met_share < level.target_share
        deducts = level.target_share is None or below
        basis = {
            "quarter": label, "kind": level.kind, "days_allowed": level.days_allowed,
            "incomplete_is_failure": level.incomplete_is_failure, **counts, "failures": failures,
            "met_share": met_share, "target_share": level.target_share,
        }
        target_text = "" if level.target_share is None else (
            f"; met {met_share:.1%} against a target of {level.target_share:.0%}"
        )
        when = "due on the day" if level.days_allowed == 0 else f"{level.days_allowed} days allowed"
        own: list[Line] = [line(
            "service_level.failures", f"service_level:{i}:{level.kind}",
            f"{level.kind.replace('_', ' ')}: {failures:,} of {decided:,} late, missing"
            f"{' or found empty' if level.incomplete_is_failure else ''} ({when}){target_text}",
            Decimal(failures), "failures",
            -Decimal(to_pence(level.deduction_per_failure)) if deducts else Decimal(0), basis,
        )]
        if below and level.deduction_below_target:
            own.append(line(
                "service_level.below_target", f"service_level.below_target:{i}:{level.kind}",
                f"{level.kind.replace('_', ' ')}: below the target share", Decimal(1), "quarters",
                -Decimal(to_pence(level.deduction_below_target)), basis,
            ))
        if level.cap_share_of_fees is not None:
            if fees is None:
                fees = quarter_fees(contract, inputs, q)
            cap = pence(Decimal(fees) * level.cap_share_of_fees)
            total = sum(x.amount for x in own)
            if -total > cap:
                own.append(line(
                    "service_level.cap", f"service_level.cap:{i}:{level.kind}",
                    f"{level.kind.replace('_', ' ')}: deductions capped at {level.cap_share_of_fees:%} of "
                    f"the quarter's fees ({format_pence(cap)})",
                    Decimal(1), "adjustment", Decimal(-cap - total),
                    {"quarter": label, "before_cap_pence": total, "cap_pence": cap, "fees_pence": fees},
                ))
        lines += own
    return lines
