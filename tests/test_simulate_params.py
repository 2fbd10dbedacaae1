"""Model parameters, override paths and scenarios (no simulation: fast)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pbrkit.contracts import design
from pbrkit.simulate.market import scaled_fees, scaled_to_world
from pbrkit.simulate.params import ModelParams, apply_overrides
from pbrkit.simulate.scenarios import SCENARIOS, apply_scenario, scenario


def test_defaults_are_valid_and_frozen():
    p = ModelParams()
    assert p.audit_rate == 0.2 and p.crc_share_forecast == 0.7
    with pytest.raises(Exception):
        p.audit_rate = 0.5  # type: ignore[misc]


def test_every_parameter_has_a_stated_source_or_reason():
    """Each field's comment in params.py carries a source tag or a reason."""
    import inspect

    from pbrkit.simulate import params as module

    source = inspect.getsource(module.ModelParams)
    for name in ModelParams.model_fields:
        before = source[: source.index(f"    {name}:")].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), f"{name} has no comment above it"


def test_model_and_design_overrides_by_path():
    d, p = apply_overrides(design("tr2014"), ModelParams(), {
        "model.audit_rate": "0.05",
        "model.efficacy": "[0.1, 0.1, 0.2, 0.2, 0.3]",
        "design.outcomes.binary.price": "7500",
        "design.service_levels.0.deduction_per_failure": 1000,
        "design.outcomes.frequency.hurdle": "false",
    })
    assert p.audit_rate == 0.05 and p.efficacy == (0.1, 0.1, 0.2, 0.2, 0.3)
    assert d.outcomes.binary.price == Decimal("7500")
    assert d.service_levels[0].deduction_per_failure == Decimal("1000")
    assert d.outcomes.frequency.hurdle is False


def test_override_creates_missing_tables():
    d, _ = apply_overrides(design("binary-only"), ModelParams(), {"design.outcomes.frequency.price": 900})
    assert d.outcomes.frequency.price == Decimal("900")


@pytest.mark.parametrize("path, value, named", [
    ("model.no_such_thing", 1, "model.no_such_thing"),
    ("model.audit_rate", 2.0, "model.audit_rate"),
    ("model.efficacy", "[0.1, 0.2]", "model.efficacy"),
    ("design.outcomes.binary.price", -5, "design.outcomes.binary.price"),
    ("design.outcomes.binary.colour", "red", "design.outcomes.binary.colour"),
    ("design.service_levels.9.kind", "x", "design.service_levels"),
    ("elsewhere.audit_rate", 0.1, "elsewhere.audit_rate"),
])
def test_bad_overrides_name_their_path(path, value, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        apply_overrides(design("tr2014"), ModelParams(), {path: value})


def test_scenarios_apply_and_say_what_they_change():
    for name in ("base", "volume-shock", "no-audit", "small-providers", "optimistic-bids", "status-quo"):
        assert name in SCENARIOS
        apply_scenario(design("tr2014"), ModelParams(), name)
    _, p = apply_scenario(design("tr2014"), ModelParams(), "volume-shock")
    assert p.crc_share_actual == 0.40 and p.crc_share_forecast == 0.70
    assert apply_scenario(design("tr2014"), ModelParams(), "no-audit")[1].audit_rate == 0
    assert apply_scenario(design("tr2014"), ModelParams(), "optimistic-bids")[1].bid_optimism > 0
    small = apply_scenario(design("tr2014"), ModelParams(), "small-providers")[1]
    assert small.prime_reserves_quarters < ModelParams().prime_reserves_quarters
    with pytest.raises(ValueError, match="volume-shock"):
        scenario("no-such-scenario")


def test_bids_scale_fee_prices_only():
    d = scaled_fees(design("tr2014"), 0.9)
    assert d.fee.forecast.price_per_episode == Decimal("1845.00")
    assert d.outcomes.binary.price == design("tr2014").outcomes.binary.price


def test_per_provider_amounts_scale_with_the_world():
    d = scaled_to_world(design("tr2017"), 0.1)
    assert d.fee.fixed_per_quarter == Decimal("95000.00")
    assert d.outcomes.foundation.expected_per_quarter == Decimal("22500.00")
    assert d.outcomes.collar == Decimal("10000.00")
    assert d.outcomes.binary.price == design("tr2017").outcomes.binary.price
    assert scaled_to_world(design("tr2017"), 1.0) == design("tr2017")
