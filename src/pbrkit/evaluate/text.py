"""The evaluation in plain English, one sentence per outcome, in the Justice Data Lab's manner.

A reduction is the good direction for the rate and the frequency; for the time
to the first reoffence a longer time is. When the 95% interval includes zero
the sentence says the evidence does not show an effect either way, whatever the
best estimate is: a point estimate inside a wide interval is not a finding.
"""

from __future__ import annotations

from collections.abc import Mapping

from pbrkit.evaluate.estimates import Estimate

#: What each outcome is, the unit its differences are spoken in, and how a
#: difference converts to that unit.
OUTCOMES: dict[str, tuple[str, str, float, int]] = {
    "binary_rate": ("the one-year proven reoffending rate", "percentage points", 100.0, 1),
    "frequency": ("the number of proven reoffences per person in the year", "", 1.0, 2),
    "days_to_first": ("the time to the first proven reoffence, among those who reoffended", "days", 1.0, 1),
}


def _num(x: float, digits: int) -> str:
    return f"{abs(x):,.{digits}f}"


def _change(value: float, outcome: str, digits: int, unit: str) -> str:
    """'a reduction of 2.1 percentage points' (or an increase / a longer time)."""
    if outcome == "days_to_first":
        word = "a longer time of" if value > 0 else "a shorter time of"
    else:
        word = "a reduction of" if value < 0 else "an increase of"
    return f"{word} {_num(value, digits)}" + (f" {unit}" if unit else "")


def outcome_sentence(outcome: str, est: Estimate) -> str:
    """The headline sentence for one outcome."""
    what, unit, scale, digits = OUTCOMES[outcome]
    if est.difference is None:
        return f"There are too few matched episodes with this outcome to estimate the effect on {what}."
    diff, low, high = est.difference * scale, est.ci_low * scale, est.ci_high * scale
    if outcome == "days_to_first":
        verb = "lengthened" if diff > 0 else "shortened"
    else:
        verb = "reduced" if diff < 0 else "increased"
    if low <= 0.0 <= high:
        return (
            f"The evidence does not show an effect either way on {what}: the best estimate is "
            f"{_change(diff, outcome, digits, unit)}, but it could be anything between "
            f"{_change(low, outcome, digits, unit)} and {_change(high, outcome, digits, unit)}."
        )
    near, far = sorted((abs(low), abs(high)))
    return (
        f"The best estimate is that the service {verb} {what} by {_num(diff, digits)}"
        + (f" {unit}" if unit else "") + "; "
        f"it could be between {_num(near, digits)} and {_num(far, digits)}."
    )


def matching_sentence(treated: int, matched: int, caliper: float, k: int, replace: bool) -> str:
    share = matched / treated if treated else 0.0
    how = "with" if replace else "without"
    return (
        f"{matched:,} of the {treated:,} treated episodes ({share:.0%}) were matched to "
        f"{'a comparison episode' if k == 1 else f'up to {k} comparison episodes'} with a similar "
        f"propensity score (within {caliper:g} standard deviations of its logit, {how} replacement)."
    )


def balance_sentence(unbalanced: list[str], threshold: float) -> str:
    if not unbalanced:
        return (f"After matching every risk factor is balanced: no standardised mean difference is above "
                f"{threshold:g}.")
    return (f"Warning: after matching {len(unbalanced)} risk factor(s) are still out of balance "
            f"(standardised mean difference above {threshold:g}): {', '.join(unbalanced)}. "
            f"The estimates may still be confounded by them.")


def sentences(outcomes: Mapping[str, Estimate]) -> list[str]:
    return [outcome_sentence(name, est) for name, est in outcomes.items()]
