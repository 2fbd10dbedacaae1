"""The behaviours issue 5 asks for, emerging from the providers' margin
arithmetic, tested by their direction over a few replicates.

Nothing in the model names these behaviours; each test compares designs or
scenarios that differ in one term and checks which way the providers moved.
Small worlds make payments noisy, and an option-like payment (no clawback)
in a world running above its 2011 baseline buys little effort, so some tests
add clawback to make payment linear in the result: then the only difference
between the arms is the term under test.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pbrkit.contracts import design
from pbrkit.simulate.params import ModelParams, apply_overrides
from pbrkit.simulate.replicate import simulate_replicate
from pbrkit.simulate.scenarios import scenario
from pbrkit.simulate.world import starting_world

SCALE, YEARS, SEED, REPLICATES = 0.04, 4, 12, 2
LINEAR = (("design.outcomes.clawback", True),)  # payment linear in the result (see module docstring)
EASY_FIRST = (("design.outcomes.binary.segment", "prior_band"),
              ("design.outcomes.binary.weights", '{ "0" = 5.0, "1-2" = 3.9, "3-6" = 2.8, "7-14" = 2.0, '
                                                 '"15-29" = 1.4, "30+" = 1.0 }'))


@lru_cache(maxsize=1)
def world():
    return starting_world(ModelParams(), scale=SCALE, years=YEARS, seed=SEED)


@lru_cache(maxsize=None)
def runs(name: str, scen: str = "base", sets: tuple = ()) -> list[dict[str, float]]:
    d, p = apply_overrides(design(name), ModelParams(), {"design.years": YEARS, **scenario(scen), **dict(sets)})
    return [simulate_replicate(d, p, world=world(), scenario=scen, replicate=r, seed=SEED).metrics
            for r in range(REPLICATES)]


def mean(name: str, metric: str, scen: str = "base", sets: tuple = ()) -> float:
    return float(np.mean([m[metric] for m in runs(name, scen, sets)]))


def test_binary_cliff_edge():
    """After a first reoffence a binary-only measure pays nothing more for the
    person, so effort on them drops; a frequency measure keeps paying for them."""
    binary = mean("binary-only", "post_reoffence_effort_ratio")
    frequency = mean("binary-frequency", "post_reoffence_effort_ratio")
    assert binary < 0.8
    assert frequency > binary + 0.3


def test_parking_follows_the_price_of_moving_a_case():
    """Effort flows to the cases whose outcome is cheapest to move per pound of
    payment: weights favouring the easy (low prior record) cases pull effort to
    the low-risk end; the accelerator's weights for the hardest pull it to the top."""
    easy = mean("binary-only", "parking_index", sets=LINEAR + EASY_FIRST)
    flat = mean("binary-only", "parking_index", sets=LINEAR)
    accelerator = mean("accelerator", "parking_index", sets=LINEAR)
    assert easy < flat < accelerator
    assert accelerator > 2 * flat


def test_service_levels_gamed_without_audits():
    """Without audits an empty plan filed on time is never found: true quality
    falls while reported compliance stays high."""
    audited_quality = mean("tr2014", "sl_true_quality")
    unaudited_quality = mean("tr2014", "sl_true_quality", "no-audit")
    assert unaudited_quality < audited_quality - 0.1
    assert mean("tr2014", "sl_reported_compliance", "no-audit") > 0.85
    assert mean("tr2014", "sl_reported_compliance", "no-audit") >= mean("tr2014", "sl_reported_compliance") - 0.01


def test_volume_shock_and_small_reserves_bring_failures():
    base = mean("fee-only", "provider_failures")
    shocked = mean("fee-only", "provider_failures", "volume-shock")
    assert shocked > base + 3
    small = (("model.prime_reserves_quarters", 0.1), ("model.subcontractor_reserves_quarters", 0.05))
    stressed = mean("binary-only", "provider_failures", "volume-shock")
    stressed_small = mean("binary-only", "provider_failures", "volume-shock", small)
    assert stressed_small >= stressed
    assert mean("fee-only", "episodes", "volume-shock") < 0.7 * mean("fee-only", "forecast_episodes", "volume-shock")


def test_optimistic_bids_show_as_losses_later():
    """The lowest bid wins; when every bidder underestimates its costs, the
    winner's curse is a thinner margin."""
    assert mean("fee-only", "provider_margin_mean", "optimistic-bids") < mean("fee-only", "provider_margin_mean") - 0.03


def test_status_quo_against_itself_and_fee_only_against_it():
    """The paired difference is exactly zero for the status quo against itself;
    fee-only providers cut effort below the status quo, so more reoffending."""
    for m in runs("fee-only", "status-quo"):
        assert m["reoffences_avoided"] == 0
    fee_only = runs("fee-only")
    assert all(m["reoffences_avoided"] < 0 for m in fee_only)
    assert mean("fee-only", "mean_intensity") < ModelParams().status_quo_effort


def test_per_case_fees_make_cutting_reoffending_cut_volumes():
    """A provider paid enough to cut reoffending brings back fewer people:
    fewer new episodes than the counterfactual, so less fee income per case."""
    strong = LINEAR + (("design.outcomes.binary.price", 20000), ("design.outcomes.frequency.price", 5000))
    for m in runs("binary-frequency", sets=strong):
        assert m["reoffences_avoided"] > 0
        assert m["episodes"] < m["counterfactual_episodes"]
