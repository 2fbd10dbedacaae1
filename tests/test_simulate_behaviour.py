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
from types import SimpleNamespace

import numpy as np

from pbrkit.contracts import design
from pbrkit.simulate.behaviour import _caseload
from pbrkit.simulate.cohorts import counted, person_order, pooled
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


# --- the arithmetic under the decisions ------------------------------------------
# The decision and the cohort counts run once a quarter over hundreds of
# thousands of people, in compiled loops; these check the loops against the
# plain array formulas they stand for, on small random populations.


def _population(n: int, rng: np.random.Generator) -> SimpleNamespace:
    return SimpleNamespace(
        ep_operator=rng.integers(0, 5, n).astype(np.int16), ep_known=rng.uniform(0, 400, n),
        ep_term=rng.random(n) < 0.8, sp_rate=rng.gamma(1.0, 2.0, n), ep_start=rng.integers(-200, 100, n),
        ep_segment=rng.integers(0, 6, n).astype(np.int16), sp_sentencing=rng.uniform(0, 1, n),
    )


def test_the_caseload_is_each_persons_rates_summed_by_operator_and_segment():
    rng = np.random.default_rng(4)
    pop = _population(2000, rng)
    world = SimpleNamespace(pop=pop, n_ops=5, n_seg=12, qdays=np.array([100.0, 191.0]))
    rows = np.sort(rng.choice(2000, 1500, replace=False))
    deciding = np.array([True, False, True, True, False])
    got = _caseload(world, 0, rows, deciding)

    rows = rows[deciding[pop.ep_operator[rows]]]
    fresh = pop.ep_known[rows] > 100.0
    paid = pop.ep_term[rows]
    rate = pop.sp_rate[rows] / 365.25
    remaining = np.clip(pop.ep_start[rows] + 365 - 100.0, 0.0, 365)
    in_quarter = np.minimum(remaining, 91.0)
    slot = pop.ep_operator[rows].astype(np.int64) * 12 + pop.ep_segment[rows].astype(np.int64) * 2 + ~fresh

    def per_segment(w=None):
        return np.bincount(slot, weights=w, minlength=60).reshape(5, 12)

    n = per_segment().astype(float)
    safe = np.maximum(n, 1.0)
    want = (n, per_segment(rate * in_quarter * np.exp(-rate * remaining) * fresh * paid) / safe,
            per_segment(rate * in_quarter * paid) / safe, per_segment(rate * 91.0 * pop.sp_sentencing[rows]) / safe)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_counted_episodes_are_each_persons_earliest_in_their_group():
    rng = np.random.default_rng(5)
    n = 3000
    pid, start = rng.integers(0, 400, n), rng.integers(0, 5, n)
    ids = rng.permutation(n)
    for group in (rng.integers(0, 4, n).astype(np.int16), rng.integers(0, 4, n) * 10**12):  # small and wide codes
        order = np.lexsort((ids, start, pid, group))
        g, p = group[order], pid[order]
        first = np.r_[True, (g[1:] != g[:-1]) | (p[1:] != p[:-1])]
        np.testing.assert_array_equal(counted(group, pid, start, ids), order[first])
    reoffences = rng.poisson(1.0, n)
    keep = rng.random(n) < 0.7
    rows = np.flatnonzero(keep)[counted(np.zeros(keep.sum(), dtype=np.int64), pid[keep], start[keep], ids[keep])]
    want = (rows.size, int((reoffences[rows] > 0).sum()), int(reoffences[rows].sum()))
    assert pooled(person_order(pid, start, ids), keep, pid, reoffences) == want
