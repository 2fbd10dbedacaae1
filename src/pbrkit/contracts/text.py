"""A design's terms in a few plain rows: what `pbrkit contract check` prints."""

from __future__ import annotations

from decimal import Decimal

from pbrkit.contracts.schema import Contract, Design


def money(value: Decimal) -> str:
    """`Decimal("1900.00")` as `£1,900`, `Decimal("12.5")` as `£12.50`."""
    return f"£{value:,.0f}" if value == value.to_integral_value() else f"£{value:,.2f}"


def share(value: Decimal) -> str:
    """`Decimal("0.04")` as `4%`."""
    return f"{_num(100 * value)}%"


def _num(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 1.0 -> 1, 0.040 -> 0.04."""
    return f"{value.normalize():f}"


def _weights(weights: dict[str, Decimal]) -> str:
    return ", ".join(f"{k} x{_num(v)}" for k, v in weights.items())


def terms_summary(item: Design) -> list[tuple[str, str]]:
    """(component, its key numbers), one row per component present."""
    rows: list[tuple[str, str]] = []
    if isinstance(item, Contract):
        ended = f", terminated {item.terminated}" if item.terminated else ""
        rows.append(("contract", f"{item.id} for {item.provider_id}{ended}"))
    rows.append(("term", f"{item.years} years from {item.start}"))
    if (fee := item.fee) is not None:
        parts = []
        if fee.per_episode is not None:
            parts.append(f"{money(fee.per_episode)} an episode")
            if fee.sentence_weights:
                parts.append(f"weights {_weights(fee.sentence_weights)}")
        if fee.per_case_month is not None:
            parts.append(f"{money(fee.per_case_month)} a case-month ({fee.supervision_months} months)")
        if fee.fixed_per_quarter is not None:
            parts.append(f"{money(fee.fixed_per_quarter)} fixed a quarter")
        if (f := fee.forecast) is not None:
            volume = (f"{f.episodes_per_year:,} episodes a year" if f.episodes_per_year is not None
                      else f"{f.baseline} episodes x {_num(f.baseline_factor)}")
            parts.append(f"forecast {volume} at {money(f.price_per_episode)}, band +/-{share(f.band)}")
        if fee.learning_curve:
            parts.append(f"learning curve -{share(fee.learning_curve)} a year")
        rows.append(("fee", "; ".join(parts) or "nothing priced"))
    if (risk := item.at_risk) is not None:
        by_year = ", ".join(share(s) for s in risk.by_year)
        rule = ("any fall (the binary bar)" if risk.target_pp is None else
                f"{'graduated' if risk.graduated else 'all or nothing'} on a {_num(risk.target_pp)}-point target")
        rows.append(("at risk", f"{by_year} of fees by year; earned back: {rule}"))
    if (out := item.outcomes) is not None:
        parts = [f"baseline {out.baseline}"]
        if (b := out.binary) is not None:
            text = f"{money(b.price)} a reoffender avoided"
            if b.significance_required:
                text += ", significant only"
            if b.flat_zone_pp:
                text += f", flat zone +/-{_num(b.flat_zone_pp)} points"
            if b.segment is not None:
                text += f", by {b.segment}" + (f": {_weights(b.weights)}" if b.weights else "")
            parts.append(text)
        if (fq := out.frequency) is not None:
            text = f"{money(fq.price)} a reoffence avoided"
            if fq.hurdle:
                text += ", binary hurdle"
            if fq.flat_zone_pct:
                text += f", flat zone +/-{_num(fq.flat_zone_pct)}%"
            parts.append(text)
        if (fd := out.foundation) is not None:
            parts.append(f"foundation {share(fd.share)} of {money(fd.expected_per_quarter)} a quarter")
        if out.cap is not None:
            parts.append(f"cap {money(out.cap)} a cohort")
        if out.cap_share_of_fees is not None:
            parts.append(f"cap {share(out.cap_share_of_fees)} of fees")
        parts.append("clawback" + (f", collar {money(out.collar)}" if out.collar is not None else "")
                     if out.clawback else "no clawback")
        rows.append(("outcomes", "; ".join(parts)))
    for level in item.service_levels:
        days = level.days_allowed
        when = "on the due date" if days == 0 else f"within {days} day{'s' * (days != 1)} of the due date"
        text = f"{when}; {money(level.deduction_per_failure)} a failure"
        if level.target_share is not None:
            text += f" below {share(level.target_share)} met"
        if level.deduction_below_target:
            text += f", {money(level.deduction_below_target)} below target"
        if level.cap_share_of_fees is not None:
            text += f"; capped at {share(level.cap_share_of_fees)} of fees"
        if not level.incomplete_is_failure:
            text += "; empty work counts as done"
        rows.append((f"service level {level.kind}", text))
    if (r := item.renewal) is not None:
        rules = []
        if r.top_k is not None:
            rules.append(f"top {r.top_k}")
        if r.top_share is not None:
            rules.append(f"top {share(r.top_share)}")
        if r.improved_by_pp is not None:
            n = r.improved_by_pp
            rules.append(f"all improving by {_num(n)} point{'s' * (n != 1)}")
        text = " or ".join(rules) + (", whichever is more" if len(rules) > 1 else "")
        if r.assess_years:
            text += f"; judged on years 1-{r.assess_years}"
        rows.append(("renewal", text))
    if item.reserves is not None:
        rows.append(("reserves", f"carry forward up to {share(item.reserves.carry_forward_share)} of a year's income"))
    if item.termination is not None:
        rows.append(("termination", f"{_num(item.termination.compensation_quarters)} quarters of fees"))
    return rows
