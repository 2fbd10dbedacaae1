"""The simulator's kernel: determinism, common random numbers, and the
in-memory payment path against `pbrkit.pay.prepare` on the world as tables."""

from __future__ import annotations

import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

import numpy as np
import pytest

from pbrkit.contracts import design
from pbrkit.pay import prepare, statement
from pbrkit.pay.quarters import quarter_label
from pbrkit.simulate import draws
from pbrkit.simulate.arrivals import draw_entrants
from pbrkit.simulate.market import Market
from pbrkit.simulate.params import ModelParams, apply_overrides
from pbrkit.simulate.payments import inputs_from_record, statement_date
from pbrkit.simulate.record import METRICS
from pbrkit.simulate.replicate import Run, _horizon, _record, simulate_replicate
from pbrkit.simulate.scenarios import apply_scenario
from pbrkit.simulate.tables import world_tables
from pbrkit.simulate.world import PROVIDERS, starting_world
from pbrkit.standard.validate import validate
from pbrkit.synth import write

SCALE, YEARS, SEED = 0.02, 3, 3


@lru_cache(maxsize=1)
def world():
    return starting_world(ModelParams(), scale=SCALE, years=YEARS, seed=SEED)


def short(name: str, **sets):
    """A library design cut to the test world's years, with overrides."""
    return apply_overrides(design(name), ModelParams(), {"design.years": YEARS, **sets})


def same(a: dict, b: dict) -> bool:
    """Equal dicts, NaN equal to NaN."""
    def eq(x, y):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x):
            return math.isnan(y)
        return x == y

    return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)


def test_every_metric_is_reported():
    d, p = short("tr2014")
    r = simulate_replicate(d, p, world=world(), replicate=0, seed=SEED)
    assert set(r.metrics) == set(METRICS)
    for name in ("commissioner_cost", "counterfactual_cost", "binary_rate", "frequency_per_reoffender",
                 "sl_reported_compliance", "sl_true_quality", "episodes", "mean_intensity"):
        assert np.isfinite(r.metrics[name]) and r.metrics[name] > 0, name
    assert 0 < r.metrics["binary_rate"] < 1
    assert r.row()["design"] == "tr2014" and r.row()["replicate"] == 0
    kinds = {v["kind"] for v in r.providers.values()}
    assert kinds == {"prime", "subcontractor"} and len(r.providers) == 21 * 3
    assert r.world is None


def test_same_seed_same_numbers_different_replicate_different():
    d, p = short("binary-frequency")
    a = simulate_replicate(d, p, world=world(), replicate=1, seed=SEED)
    b = simulate_replicate(d, p, world=world(), replicate=1, seed=SEED)
    c = simulate_replicate(d, p, world=world(), replicate=2, seed=SEED)
    assert same(a.metrics, b.metrics)
    assert a.providers.keys() == b.providers.keys()
    assert all(same(a.providers[k], b.providers[k]) for k in a.providers)
    assert not same(a.metrics, c.metrics)


def _in_another_process(args):
    blob, name, replicate = args
    d, p = short(name)
    return simulate_replicate(d, p, world=pickle.loads(blob), replicate=replicate, seed=SEED).metrics


def test_same_numbers_in_another_process():
    """The world ships to a fresh process (as to a worker or Ray) and the
    replicate's numbers come only from (seed, replicate)."""
    d, p = short("accelerator")
    here = simulate_replicate(d, p, world=world(), replicate=4, seed=SEED).metrics
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = pool.submit(_in_another_process, (pickle.dumps(world()), "accelerator", 4)).result()
    assert same(here, there)


def test_status_quo_against_itself_is_exactly_zero():
    """Common random numbers: a design world whose providers act as public
    provision is the counterfactual itself, offence for offence."""
    d, p = apply_scenario(*short("fee-only"), "status-quo")
    m = simulate_replicate(d, p, world=world(), replicate=0, seed=SEED).metrics
    assert m["reoffences_avoided"] == 0 and m["reoffenders_avoided"] == 0
    assert m["binary_rate"] == m["counterfactual_binary_rate"]
    assert m["episodes"] == m["counterfactual_episodes"]


def test_world_is_small_and_round_trips():
    blob = pickle.dumps(world())
    assert len(blob) < 4e6  # about 100 MB at scale 1
    back = pickle.loads(blob)
    assert back.model.coef_.tolist() == world().model.coef_.tolist()
    assert back.forecast_episodes.tolist() == world().forecast_episodes.tolist()


def _rows_equal(ours: list[dict], real: list[dict]) -> None:
    assert len(ours) == len(real)
    for a, b in zip(ours, real, strict=True):
        assert a.keys() >= set(b) - {"group", "period"}
        for col, v in b.items():
            u = a[col]
            if isinstance(v, float) and u is not None:
                assert abs(u - v) <= 1e-9 * max(1.0, abs(v)), (col, u, v)
            else:
                assert u == v, (col, u, v)


@pytest.mark.parametrize("case", ["tr2014-with-failures"])
def test_in_memory_payments_equal_prepare_on_the_tables(case, tmp_path):
    """The kernel's PaymentInputs (and the payments actually made in the run)
    equal `pbrkit.pay.prepare` on the same world written as data-standard
    tables: episodes, case-months, service-event counts, every measure figure
    (ints equal, floats within 1e-9), and statement totals. The design adds
    case-month fees and an accelerator segment to tr2014's forecast fee,
    service levels and gates, and a fee too low to live on, so primes fail
    and their cases are transferred."""
    params = ModelParams()
    d, params = apply_overrides(design("tr2014"), params, {
        "design.years": YEARS, "design.fee.per_case_month": 20, "design.outcomes.binary.segment": "prior_band",
        "design.outcomes.binary.weights": '{ "0" = 1.0, "30+" = 3.0 }',
        "design.fee.forecast.price_per_episode": 300, "model.prime_reserves_quarters": 0.0,
    })
    w = world()
    rng = np.random.default_rng(np.random.SeedSequence([SEED, 0]))
    key = draws.replicate_key(rng)
    term, n_quarters = _horizon(d, w)
    entrants = draw_entrants(rng, w, n_quarters)
    market = Market(w, d, params, rng, n_quarters, term)
    run = Run(w, d, params, key, entrants, n_quarters, term, market, keep=True)
    run.run()
    record = _record(run, w)
    assert record.transfer_episode.size > 0, "no provider failed: the transfer rules went untested"
    data = world_tables(record)
    write(data, tmp_path / "world")
    assert validate(tmp_path / "world") == [], "the simulated world does not meet the data standard"
    contracts = [*market.contracts, market.polr_contract]
    for q in (3, 8, n_quarters - 1):
        qa = w.start_quarter + q
        as_of = statement_date(qa, params.statement_lag_days)
        real = prepare(data, as_of, contracts)
        ours = inputs_from_record(w, record, contracts, as_of, PROVIDERS)
        assert ours.episodes == real.episodes
        assert ours.case_months == real.case_months
        assert ours.service == real.service
        assert ours.baseline_volumes == real.baseline_volumes
        for key_, table in real.measures.items():
            mature = {k: rows for k, rows in table.items()
                      if rows and rows[0]["mature"] and int(k[1][:4]) * 4 + int(k[1][-1]) - 1 >= w.start_quarter}
            assert set(ours.measures[key_]) == set(mature)
            for k, rows in mature.items():
                _rows_equal(ours.measures[key_][k], rows)
        label = quarter_label(qa)
        paid = [c for c in contracts if (c.id, label) in run.statements]
        assert paid, f"nothing paid in {label}"
        for c in paid:
            total = statement(c, None, label, as_of, inputs=real).total
            assert total == statement(c, None, label, as_of, inputs=ours).total == run.statements[(c.id, label)]
