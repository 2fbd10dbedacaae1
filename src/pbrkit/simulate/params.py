"""Every parameter of the simulation model, with its default and where it comes from.

The contract design says what the commissioner pays; `ModelParams` says how
the world and the providers behave. Each default carries its source:
**[C]**/**[R]** a figure in `shared/domain.md` (stated or reported), **[S]** a
value of the synthetic population (`pbrkit.synth`, itself calibrated to
domain.md), or **[U]** our assumption, with the reason for its value.
`docs/model.md` explains each one in the model's equations.

`apply_overrides` is the one way a run changes a design or a parameter by
path (`model.audit_rate`, `design.outcomes.binary.price`): scenarios and
`--set key=value` both go through it, and pydantic validates the result, so
a bad value is an error naming its path, never a silently odd run.
"""

from __future__ import annotations

import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pbrkit.contracts.load import problems_of
from pbrkit.contracts.schema import Design

#: Service-event kinds the simulated world writes (as the synthetic population does).
EVENT_KINDS: tuple[str, ...] = ("release_recorded", "resettlement_plan", "induction")


class ModelParams(BaseModel):
    """The simulation model's parameters (money in pounds, shares as fractions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- world ------------------------------------------------------------------
    #: Days a new episode is supervised in the community: 12 months, as the
    #: Offender Rehabilitation Act's licence-plus-supervision and the fee's
    #: default `supervision_months` [C/U].
    supervision_days: int = Field(365, ge=30, le=1095)
    #: Share of probation cases the CRCs were forecast to take: about 70% [C]
    #: (NAO 2017). Providers price and size their fixed costs on it.
    crc_share_forecast: float = Field(0.70, gt=0, le=1)
    #: Share the CRCs actually get. Base: as forecast. The volume shock sets 0.40,
    #: the real shift the issue describes (volumes 15-48% below plan, NAO 2019 [C]).
    crc_share_actual: float = Field(0.70, ge=0, le=1)
    #: Days after a quarter's end at which its statement is run [U]: a month,
    #: so deadlines falling on the quarter's last days are decided.
    statement_lag_days: int = Field(30, ge=0, le=365)

    # --- the intervention effect m(e) = 1 - E (1 - exp(-e / kappa)) -------------
    #: True efficacy E by risk quintile (lowest to highest predicted rate): the
    #: largest share of offending that unlimited effort could prevent. Rising
    #: with risk, after the risk principle of the risk-need-responsivity model
    #: (Andrews & Bonta) [U]; the mean (0.25) is set so that cutting effort from
    #: the status quo to the floor raises a supervised person's offending by
    #: about 15%, near the ~3 points the SMF simulation found cost-cutting could
    #: bring [R] (domain.md s.2).
    efficacy: tuple[float, float, float, float, float] = (0.15, 0.20, 0.25, 0.30, 0.35)
    #: Effort scale kappa, pounds per person-quarter: spending kappa buys 63% of
    #: the attainable effect [U]; set so that the library's outcome prices (a
    #: 2-point fall worth ~10% of fees, docs/designs.md) buy effort above the
    #: status quo for the cases they pay most for.
    effort_scale: float = Field(40.0, gt=0)
    #: Discretionary intensity of public provision (the status quo), pounds per
    #: supervised person-quarter, flat across cases [U]: about 10% of the fee.
    status_quo_effort: float = Field(50.0, ge=0)
    #: Contractual minimum intensity (statutory supervision, reporting) [U].
    minimum_effort: float = Field(10.0, ge=0)
    #: Most a provider spends on one person in a quarter [U]: a cap on the closed form.
    maximum_effort: float = Field(400.0, gt=0)
    #: Noise in a provider's perception of efficacy: E_hat = E x lognormal(sd) [U].
    #: The commissioner's design does not use E at all.
    efficacy_noise_sd: float = Field(0.30, ge=0)

    # --- provider behaviour -----------------------------------------------------
    #: "optimise": providers maximise expected margin (the model); "status-quo":
    #: every provider acts as public provision (a check: the design world then
    #: equals the counterfactual on the same random numbers).
    behaviour: Literal["optimise", "status-quo"] = "optimise"
    #: Share of the future margin of an episode that a provider counts when
    #: effort prevents the reoffence that would have brought it [U]: 1 = fully
    #: rational, so a per-case fee makes cutting reoffending cost income.
    fee_foresight: float = Field(1.0, ge=0, le=1)
    #: Pounds of value staff put on doing a service event properly whatever it
    #: pays (professional ethos) [U]: a small floor under service quality.
    professional_value: float = Field(20.0, ge=0)
    #: Cash a provider keeps untouched, as a share of a quarter's costs, before
    #: it funds discretionary effort [U].
    cash_buffer: float = Field(0.10, ge=0)

    # --- costs ----------------------------------------------------------------
    #: Margin public provision at the status quo would earn at the reference
    #: fee (fee-only, £1,900 x sentence weights) [U]: the supervision cost per
    #: person-quarter is derived from it on the starting world, so the
    #: reference price is fair for the status quo.
    status_quo_margin: float = Field(0.05, ge=-0.5, le=0.5)
    #: Fixed overhead per quarter, per forecast new episode a quarter (estates,
    #: IT, management) [U]: about a fifth of the fee. It does not fall when
    #: volumes do, which is what made the TR volume shortfall costly [C].
    fixed_cost_per_forecast_episode: float = Field(400.0, ge=0)
    #: A subcontractor's unit costs relative to the prime's [U]: small voluntary
    #: organisations run leaner; with the management fee below, a subcontract
    #: earns about the prime's margin.
    subcontractor_cost_factor: float = Field(0.90, gt=0)

    # --- reserves, supply chains, failure --------------------------------------
    #: A prime's reserves at the start, in quarters of its forecast fee income [U]
    #: (large parent groups stood behind most CRCs, NAO 2019).
    prime_reserves_quarters: float = Field(1.0, ge=0)
    #: A subcontractor's reserves, in quarters of its forecast income [U]: small
    #: voluntary organisations (domain.md s.2: tier 3 small specialists).
    subcontractor_reserves_quarters: float = Field(0.25, ge=0)
    #: Subcontractors per prime [U] (Work Programme primes subcontracted to over
    #: 1,000 organisations [C]; TR tier 2 and 3 providers [C]).
    subcontractors_per_prime: int = Field(2, ge=0, le=10)
    #: Share of a prime's cases its subcontractors take between them [U].
    subcontract_share: float = Field(0.20, ge=0, le=1)
    #: Share of the subcontracted cases' income the prime keeps as its fee [U].
    management_fee: float = Field(0.10, ge=0, le=1)
    #: The commissioner's cost of re-procuring an area after a failure, in
    #: quarters of that area's reference fee income [U] (TR's early termination
    #: cost about 1.8 quarters of fees, NAO 2019 [C/R]; re-procurement is less).
    reprocurement_quarters: float = Field(1.0, ge=0)

    # --- procurement --------------------------------------------------------------
    #: Bidders per area [U].
    bidders: int = Field(3, ge=1, le=20)
    #: Spread of bidders' cost estimates, log scale [U].
    bid_noise_sd: float = Field(0.05, ge=0)
    #: Optimism bias: bidders' cost estimates are low by this much, log scale [U]
    #: ("stretched financial viability to the limit", Work Programme, issue 5).
    bid_optimism: float = Field(0.0, ge=-1, le=1)

    # --- service levels -----------------------------------------------------------
    #: Share of completed service events a quality audit inspects [S] (synth
    #: audited_share); an audit finds empty work.
    audit_rate: float = Field(0.20, ge=0, le=1)
    #: Share of properly done events done on time [U] (synth's 82% on time
    #: mixes proper and empty work; empty filing is always on time).
    proper_on_time_share: float = Field(0.85, ge=0, le=1)
    #: Mean days late when late [S] (synth late_mean_days).
    late_mean_days: float = Field(9.0, ge=1)
    #: Share of proper work never done [S] (synth not_done_share).
    not_done_share: float = Field(0.03, ge=0, le=1)
    #: Median cost of doing each kind of event properly, pounds (release
    #: recorded, resettlement plan, induction) [U]: a plan is an afternoon's
    #: work, an induction an hour or two, recording a release minutes.
    proper_cost: tuple[float, float, float] = (10.0, 120.0, 60.0)
    #: Spread of that cost across cases (sd of its log) [U]: some cases are easy.
    proper_cost_sd: float = Field(0.8, gt=0)
    #: Cost of filing an event empty, on time [U].
    empty_cost: float = Field(5.0, ge=0)
    #: Proportional cut in a person's offending while supervised when the event
    #: is done properly [U] (release record: none; plan and induction help).
    service_effect: tuple[float, float, float] = (0.0, 0.04, 0.02)
    #: Share of events public provision does properly [S] (synth: 8% of audited
    #: work found empty).
    status_quo_quality: float = Field(0.92, ge=0, le=1)

    @model_validator(mode="after")
    def _checks(self) -> ModelParams:
        if not all(0 <= e < 1 for e in self.efficacy):
            raise ValueError("efficacy: each must be from 0 to below 1")
        if self.minimum_effort > self.maximum_effort:
            raise ValueError("minimum_effort: must not exceed maximum_effort")
        if any(c <= 0 for c in self.proper_cost):
            raise ValueError("proper_cost: each must be > 0")
        if not all(0 <= s < 1 for s in self.service_effect):
            raise ValueError("service_effect: each must be from 0 to below 1")
        return self


def _parse(value: object) -> object:
    """A `--set` value: TOML syntax when it parses (`0.4`, `true`, `[1, 2]`,
    `{ "0" = 1.0 }`), else the text itself (`2016Q1`)."""
    if not isinstance(value, str):
        return value
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _set(tree: dict[str, Any], parts: list[str], value: object, path: str) -> None:
    node: Any = tree
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
        if isinstance(node, list):
            if not isinstance(key, int) or not 0 <= key < len(node):
                raise ValueError(f"{path}: {'.'.join(parts[:i + 1])} has no item {part}")
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{path}: {'.'.join(parts[:i])} is not a table")
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or not 0 <= int(last) < len(node):
            raise ValueError(f"{path}: no item {last}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ValueError(f"{path}: {'.'.join(parts[:-1])} is not a table")


def apply_overrides(
    design: Design, params: ModelParams, overrides: dict[str, object]
) -> tuple[Design, ModelParams]:
    """The design and parameters with `overrides` applied, validated.

    Keys are paths: `model.<parameter>` or `design.<key>.<key>...` (list items
    by number: `design.service_levels.0.deduction_per_failure`). A missing
    table on the way is created (`design.outcomes.frequency.price` adds a
    frequency outcome). Values may be typed or text in TOML syntax. Raises
    ValueError naming the path of any bad key or value.
    """
    model_changes: dict[str, object] = {}
    design_tree: dict[str, Any] | None = None
    for path, raw in overrides.items():
        head, _, rest = str(path).partition(".")
        value = _parse(raw)
        if head == "model":
            if not rest or "." in rest:
                raise ValueError(f"{path}: model parameters are one level deep (model.<name>)")
            if rest not in ModelParams.model_fields:
                raise ValueError(f"{path}: is not a model parameter")
            model_changes[rest] = value
        elif head == "design":
            if not rest:
                raise ValueError(f"{path}: name a key of the design (design.<key>...)")
            if design_tree is None:
                design_tree = design.model_dump(mode="python")
            _set(design_tree, rest.split("."), value, str(path))
        else:
            raise ValueError(f"{path}: must start with model. or design.")
    if model_changes:
        try:
            params = ModelParams.model_validate({**params.model_dump(), **model_changes})
        except ValidationError as exc:
            raise ValueError("; ".join(f"model.{p}" for p in problems_of(exc))) from None
    if design_tree is not None:
        try:
            design = type(design).model_validate(design_tree)
        except ValidationError as exc:
            raise ValueError("; ".join(f"design.{p}" for p in problems_of(exc))) from None
    return design, params


__all__ = ["EVENT_KINDS", "ModelParams", "apply_overrides"]
