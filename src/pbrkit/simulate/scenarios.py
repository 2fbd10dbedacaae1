"""Named scenarios: the worlds a design is tried in, as overrides by path.

A scenario is nothing but a dict of `apply_overrides` paths, so anything a
scenario does can also be done, or undone, with `--set`. Each says which
documented episode of the real programmes it stands for.
"""

from __future__ import annotations

from pbrkit.contracts.schema import Design
from pbrkit.simulate.params import ModelParams, apply_overrides

SCENARIOS: dict[str, dict[str, object]] = {
    # The model's defaults: volumes as forecast, audits at the stated rate.
    "base": {},
    # Providers priced on a 70% CRC share of the caseload; the real allocation
    # was 40% (issue 5; TR volumes 15-48% below plan, NAO 2019 [C]).
    "volume-shock": {"model.crc_share_actual": 0.40},
    # No quality audits: empty work is never found (seed article 2017: blank
    # resettlement plans filed on time and paid in full [R]).
    "no-audit": {"model.audit_rate": 0.0},
    # Voluntary-sector primes: reserves of a tenth of a quarter's income
    # instead of a parent group's quarter, and leaner subcontractors still
    # (Work Programme: voluntary subcontractors left [C]).
    "small-providers": {
        "model.prime_reserves_quarters": 0.10,
        "model.subcontractor_reserves_quarters": 0.05,
    },
    # Bidders underestimate their costs by 10% (log scale) [U]: with the lowest
    # bid winning, the winner's curse shows as losses later (Work Programme
    # pricing "stretched financial viability to the limit").
    "optimistic-bids": {"model.bid_optimism": 0.10},
    # A check, not a world: every provider acts as public provision, so the
    # design world and the counterfactual are the same world.
    "status-quo": {"model.behaviour": "status-quo"},
}


def scenario(name: str) -> dict[str, object]:
    """The overrides of a named scenario; a ValueError listing the names otherwise."""
    try:
        return dict(SCENARIOS[name])
    except KeyError:
        raise ValueError(f"no scenario named {name!r}; choose from {', '.join(SCENARIOS)}") from None


def apply_scenario(design: Design, params: ModelParams, name: str) -> tuple[Design, ModelParams]:
    """The design and parameters of a named scenario."""
    return apply_overrides(design, params, scenario(name))


__all__ = ["SCENARIOS", "apply_scenario", "scenario"]
