"""A contract design as data: every payment term a commissioner can set.

The terms are the ones real programmes used or were urged to use (see
`docs/designs.md`): fees with a learning-curve discount and a volume band,
money at risk earned back by results, prices per reoffender and per reoffence
avoided, flat zones, graduated earn-back, foundation payments, caps, collars,
clawback, service-level deductions, renewal, reserves and termination. Every
component is optional, so a design says only what it pays for, and the models
forbid unknown keys, so a typo is an error rather than a term silently dropped.

Money is written in pounds in the TOML (`price = 1250.00`) and held as
`Decimal`; the payment engine turns it into integer pence. Shares are
fractions (`0.04`), changes in reoffending are percentage points.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from pbrkit.measure.features import SEGMENTS
from pbrkit.measure.periods import parse_baseline
from pbrkit.standard.schema import SENTENCES

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def _whole_pence(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("must be a whole number of pence (at most 2 decimal places)")
    return value


def _quarter(value: str) -> str:
    if not _QUARTER.match(value):
        raise ValueError("must be a quarter like 2015Q1")
    return value


def _baseline(value: str) -> str:
    parse_baseline(value)  # its ValueError says what a baseline must look like
    return value


def _error_at(model: str, loc: tuple[str, ...], message: str, value: object) -> ValidationError:
    """A rule across several keys, reported at the key it is about (`at_risk: ...`)
    rather than at the table holding them, so the message names the line to fix."""
    error = PydanticCustomError("value_error", message)  # type: ignore[arg-type]
    return ValidationError.from_exception_data(model, [InitErrorDetails(type=error, loc=loc, input=value)])


#: Pounds, 0 or more, in whole pence.
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_whole_pence)]
#: A fraction from 0 to 1.
Share = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
#: A weight or factor, 0 or more.
Weight = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
#: Percentage points (or percent), 0 or more.
Points = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
#: A calendar quarter label, `2015Q1`.
Quarter = Annotated[str, AfterValidator(_quarter)]

Sentence = Literal[SENTENCES]  # type: ignore[valid-type]
SegmentName = Literal[tuple(SEGMENTS)]  # type: ignore[valid-type]


class Terms(BaseModel):
    """Base of every component: unknown keys are errors, and values are fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Forecast(Terms):
    """A volume forecast the fee is paid against, reconciled at each contract
    year's end: a top-up or clawback only for the episodes outside the band, as
    the CRC contracts did."""

    episodes_per_year: int | None = Field(None, ge=1)
    #: Forecast = the provider's episodes in `baseline` x this factor.
    baseline_factor: Weight | None = None
    baseline: Annotated[str, AfterValidator(_baseline)] = "2011"
    band: Share = Decimal("0.10")
    price_per_episode: Money

    @model_validator(mode="after")
    def _one_source(self) -> Forecast:
        if (self.episodes_per_year is None) == (self.baseline_factor is None):
            raise ValueError("give exactly one of episodes_per_year and baseline_factor")
        return self


class Fee(Terms):
    """Fee for service, paid quarterly in arrears."""

    per_episode: Money | None = None
    #: Multiplies `per_episode` by sentence type; a sentence not listed weighs 1.
    sentence_weights: dict[Sentence, Weight] = Field(default_factory=dict)
    per_case_month: Money | None = None
    #: How long an episode is supervised, for case-months (ends early on a transfer out).
    supervision_months: int = Field(12, ge=1, le=60)
    fixed_per_quarter: Money | None = None
    #: Yearly discount: contract year k pays (1 - learning_curve)^(k - 1) of the fees.
    learning_curve: Share = Decimal(0)
    forecast: Forecast | None = None


class AtRisk(Terms):
    """A share of fees withheld each quarter and earned back when that
    quarter's cohort matures.

    With `target_pp`, a fall of that many points below the adjusted baseline
    earns it all back; `graduated` pays the share of the target reached (80% of
    the target earns 80%), otherwise it is all or nothing (a cliff edge).
    Without a target, any fall earns it back (a significant one when the
    binary outcome requires significance)."""

    by_year: list[Share] = Field(min_length=1)
    target_pp: Annotated[Decimal, Field(gt=0, le=100)] | None = None
    graduated: bool = True

    def share(self, year: int) -> Decimal:
        """The share withheld in contract year `year` (the last one listed after that)."""
        if year < 1:
            raise ValueError(f"contract years count from 1, not {year}")
        return self.by_year[min(year, len(self.by_year)) - 1]


class BinaryOutcome(Terms):
    """A price per reoffender avoided: expected minus actual reoffenders of a
    mature cohort, against the case-mix adjusted baseline."""

    price: Money
    significance_required: bool = False
    #: No payment and no penalty while |rate_diff_pp| is below this.
    flat_zone_pp: Points = Decimal(0)
    #: The "accelerator": a weight per level of a segment, paying more for harder cases.
    segment: SegmentName | None = None
    weights: dict[str, Weight] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights_name_levels(self) -> BinaryOutcome:
        if self.weights and self.segment is None:
            raise ValueError("weights need a segment (risk_tier, sentence or prior_band)")
        if self.segment is not None:
            levels = SEGMENTS[self.segment].levels
            unknown = sorted(set(self.weights) - set(levels))
            if unknown:
                raise ValueError(
                    f"weights name {', '.join(unknown)}, which are not levels of {self.segment} "
                    f"({', '.join(levels)})"
                )
        return self

    def weight(self, level: str) -> Decimal:
        return self.weights.get(level, Decimal(1))


class FrequencyOutcome(Terms):
    """A price per reoffence avoided: expected minus actual reoffences."""

    price: Money
    #: Payable only when the binary result clears its bar (the CRC "hurdle").
    hurdle: bool = False
    #: No payment and no penalty while the change is within this percent of
    #: the expected reoffences.
    flat_zone_pct: Points = Decimal(0)


class Foundation(Terms):
    """Part of the expected outcome payment advanced each quarter and
    recovered in full when the cohort's actual result is paid."""

    expected_per_quarter: Money
    share: Share


class Outcomes(Terms):
    """Outcome payments, each paid in the quarter its cohort matures."""

    #: The baseline year (or START:END range) the expected rates come from.
    baseline: Annotated[str, AfterValidator(_baseline)] = "2011"
    binary: BinaryOutcome | None = None
    frequency: FrequencyOutcome | None = None
    foundation: Foundation | None = None
    #: Most a cohort's outcome payment can be.
    cap: Money | None = None
    #: ... or as a share of the fees paid for the cohort's quarter.
    cap_share_of_fees: Weight | None = None
    #: Most a cohort's outcome can take back (when clawback is on).
    collar: Money | None = None
    #: Whether a worse-than-expected result is a deduction (otherwise it pays 0).
    clawback: bool = False

    @model_validator(mode="after")
    def _hurdle_needs_binary(self) -> Outcomes:
        if self.frequency is not None and self.frequency.hurdle and self.binary is None:
            raise _error_at("Outcomes", ("frequency", "hurdle"),
                            "needs outcomes.binary (the hurdle is the binary result's bar)", True)
        return self


class ServiceLevel(Terms):
    """A service requirement with a deadline; missed ones cost deductions."""

    kind: str = Field(min_length=1)
    days_allowed: int = Field(0, ge=0, le=3650)
    #: When set, deductions apply only in a quarter whose met share is below it.
    target_share: Share | None = None
    deduction_per_failure: Money = Decimal(0)
    deduction_below_target: Money = Decimal(0)
    #: The quarter's deductions for this level are at most this share of its fees.
    cap_share_of_fees: Share | None = None
    #: Whether work found empty or unusable (`complete = false`) is a failure.
    incomplete_is_failure: bool = True


class Renewal(Terms):
    """Who is renewed: the top K (or top share) by the measure, or all that
    improved by at least N points, whichever is more."""

    measure: Literal["rate_diff_pp"] = "rate_diff_pp"
    top_k: int | None = Field(None, ge=0)
    top_share: Share | None = None
    improved_by_pp: Points | None = None
    #: Judge on the cohorts of the first N contract years (default: all).
    assess_years: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_rank_rule(self) -> Renewal:
        if self.top_k is not None and self.top_share is not None:
            raise ValueError("give at most one of top_k and top_share")
        if self.top_k is None and self.top_share is None and self.improved_by_pp is None:
            raise ValueError("give top_k, top_share or improved_by_pp")
        return self


class Reserves(Terms):
    """How much of a year's income a provider may carry forward."""

    carry_forward_share: Share


class Termination(Terms):
    """Compensation when the commissioner ends the contract early: this many
    quarters of the last quarter's fees."""

    compensation_quarters: Weight


class Design(Terms):
    """A contract design: the terms, not yet given to a provider."""

    name: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    start: Quarter = "2015Q1"
    years: int = Field(7, ge=1, le=30)
    fee: Fee | None = None
    at_risk: AtRisk | None = None
    outcomes: Outcomes | None = None
    service_levels: list[ServiceLevel] = Field(default_factory=list)
    renewal: Renewal | None = None
    reserves: Reserves | None = None
    termination: Termination | None = None

    @model_validator(mode="after")
    def _at_risk_needs_outcomes(self) -> Design:
        if self.at_risk is not None and self.fee is None:
            raise _error_at("Design", ("at_risk",), "withholds a share of fees, so the design needs a fee",
                            self.at_risk.model_dump())
        no_binary = self.outcomes is None or self.outcomes.binary is None
        if self.at_risk is not None and self.at_risk.target_pp is None and no_binary:
            # Without a target the earn-back rule reads the binary outcome's bar.
            raise _error_at("Design", ("at_risk",),
                            "without target_pp needs outcomes.binary (its bar decides the earn-back)",
                            self.at_risk.model_dump())
        return self

    def for_provider(self, provider_id: str, contract_id: str | None = None) -> Contract:
        """This design as one provider's contract (a contract's own id, provider
        and termination are not carried over)."""
        fields = self.model_dump(exclude=set(Contract.model_fields) - set(Design.model_fields))
        return Contract(**fields, id=contract_id or f"{self.name}-{provider_id}", provider_id=provider_id)


class Contract(Design):
    """One provider's contract: a design with a provider and an id."""

    id: str = Field(min_length=1)
    provider_id: str = Field(min_length=1)
    #: The quarter the commissioner ended the contract early, if it did.
    terminated: Quarter | None = None
