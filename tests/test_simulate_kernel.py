"""The simulator's kernel: determinism, common random numbers, the in-memory
payment path against `pbrkit.pay.prepare` on the world as tables, and the
compiled loops (`kernel_jit`) against the model they compile."""

from __future__ import annotations

import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from scipy.special import ndtri

from pbrkit.contracts import design
from pbrkit.pay import prepare, statement
from pbrkit.pay.quarters import quarter_label
from pbrkit.simulate import draws, kernel, kernel_jit, population
from pbrkit.simulate.arrivals import draw_entrants
from pbrkit.simulate.market import Market
from pbrkit.simulate.params import ModelParams, apply_overrides
from pbrkit.simulate.payments import inputs_from_record, statement_date
from pbrkit.simulate.record import METRICS
from pbrkit.simulate.replicate import Run, _horizon, _record, simulate_replicate
from pbrkit.simulate.scenarios import apply_scenario
from pbrkit.simulate.spells import SYNTH, TIER_HIGH, TIER_LOW, TIER_MEDIUM
from pbrkit.simulate.tables import world_tables
from pbrkit.simulate.world import PROVIDERS, day_number, starting_world
from pbrkit.standard.validate import validate
from pbrkit.synth import write
from pbrkit.synth.params import OGRS3_INTERCEPT_2YR
from pbrkit.synth.people import CUSTODY_LONG, CUSTODY_SHORT, VIOLENT_OFFENCES, ogrs3_linear

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


# --- the compiled kernel against the model it compiles ----------------------------------
# `kernel_jit` restates `draws`' hash, synth's spell model and the courts' delay
# as scalar compiled functions; these tests hold each to its definition, bit for bit.

@njit
def _compiled_draws(key, person, counter, purpose):
    n = person.size
    u, e, hi, lo = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        u[i] = kernel_jit._uniform(key, person[i], counter[i], purpose)
        e[i] = kernel_jit._exponential(key, person[i], counter[i], purpose)
        hi[i], lo[i] = kernel_jit._uniform_pair(key, person[i], counter[i], purpose)
    return u, e, hi, lo


def _assert_compiled_draws_are_draws(key, person, counter):
    for purpose in kernel._PURPOSES:
        u, e, hi, lo = _compiled_draws(np.uint64(key), person, counter, purpose)
        assert np.array_equal(u, draws.uniform(key, person, counter, purpose))
        assert np.array_equal(e, draws.exponential(key, person, counter, purpose))
        pair = draws.uniform_pair(key, person, counter, purpose)
        assert np.array_equal(hi, pair[0]) and np.array_equal(lo, pair[1])


def test_compiled_draws_are_the_draws():
    rng = np.random.default_rng(11)
    person = np.concatenate([[0, 1, 2**31 - 1], rng.integers(0, 2**31, 20_000)])
    counter = np.concatenate([[0, 2**27 - 1, 1], rng.integers(0, 2**27, 20_000)])
    _assert_compiled_draws_are_draws(draws.replicate_key(rng), person, counter)


@settings(max_examples=40, deadline=None)
@given(key=st.integers(0, 2**63 - 1), address=st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**27 - 1)),
                                                       min_size=1, max_size=20))
def test_compiled_draws_are_the_draws_at_any_address(key, address):
    person, counter = (np.array(x, dtype=np.int64) for x in zip(*address, strict=True))
    _assert_compiled_draws_are_draws(np.uint64(key), person, counter)


@njit
def _compiled_court_delay(u, m):
    return np.array([kernel_jit.court_delay(x, m) for x in u])


def test_court_delay_is_scipys_lognormal():
    """The compiled delay calls scipy's own ndtri: equal to NumPy's arithmetic on
    a spread of the 2**32 uniforms the court draw can take, ends included."""
    hi = np.concatenate([[0, 1, 2**32 - 2, 2**32 - 1], np.arange(0, 2**32, 4099)])
    u = (hi + 0.5) / 2**32
    expected = np.exp(np.log(SYNTH.disposal_median_days) + SYNTH.disposal_sigma * ndtri(u))
    assert np.array_equal(_compiled_court_delay(u, kernel._SPELLS), expected)


@njit
def _compiled_spells(age, female, prior, first_age, harm, frailty, sentence, start, u, m):
    n = age.size
    x, rate, risk, sentencing, served, resentence = (np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n),
                                                     np.empty(n))
    supervised, tier, offence_types = np.empty(n, np.bool_), np.empty(n, np.int64), np.empty(n, np.int64)
    for i in range(n):
        offence_types[i] = min(kernel_jit._right_of(m.offence_cum, u[i, 0]), len(m.offence_cum) - 1)
        x[i] = kernel_jit.ogrs3_linear(age[i], female[i], prior[i], first_age[i], offence_types[i], m)
        rate[i], risk[i], supervised[i], tier[i] = kernel_jit.spell_traits(
            age[i], female[i], prior[i], first_age[i], harm[i], frailty[i], sentence[i], start[i], u[i, 0], u[i, 1],
            u[i, 2], m)
        sentencing[i] = kernel_jit.sentence_probability(prior[i], m)
        resentence[i] = kernel_jit.new_sentence(prior[i], u[i, 3], m)
        served[i] = kernel_jit.served_days(sentence[i], u[i, 4], m)
    return offence_types, x, rate, risk, supervised, tier, sentencing, resentence, served


def test_compiled_spells_are_synths_model():
    """Spell traits, sentencing, new sentences and time served, compiled, equal
    `pbrkit.synth`'s arithmetic (as NumPy arrays, the uniforms given) exactly."""
    sp, rng, n = SYNTH, np.random.default_rng(12), 50_000
    age, first_age = rng.uniform(10, 90, n), rng.uniform(10, 40, n)
    female, prior = rng.random(n) < 0.2, rng.integers(0, 120, n).astype(np.int32)
    harm, frailty = rng.normal(size=n), rng.gamma(2.0, 0.5, n)
    sentence = rng.integers(0, 4, n).astype(np.int8)
    ora = day_number(sp.ora_date)
    start = ora + rng.uniform(-800, 800, n)
    u = rng.random((n, 5))
    offence, x, rate, risk, supervised, tier, sentencing, resentence, served = _compiled_spells(
        age, female, prior, first_age, harm, frailty, sentence, start, u, kernel._SPELLS)

    def logistic(z):
        return 1.0 / (1.0 + np.exp(-z))

    probs = np.asarray(sp.offence_type_probs)
    assert np.array_equal(offence, np.minimum(np.searchsorted(np.cumsum(probs), u[:, 0], side="right"), probs.size - 1))
    assert np.array_equal(x, ogrs3_linear(age, female, prior, first_age, offence))
    ogrs = 100.0 * logistic(OGRS3_INTERCEPT_2YR + x)
    high = u[:, 1] < logistic(sp.high_intercept + sp.high_person_sd * harm
                              + sp.high_violent_offence * np.isin(offence, VIOLENT_OFFENCES)
                              + sp.high_custody_long * (sentence == CUSTODY_LONG) + sp.high_female * female)
    expected_risk = np.exp(sp.rate_intercept + sp.rate_ogrs_slope * x + sp.rate_high_tier * high
                           + sp.rate_custody_short * (sentence == CUSTODY_SHORT))
    assert np.array_equal(risk, expected_risk)
    one_off = high & (u[:, 2] < sp.high_one_off_share)
    assert np.array_equal(rate, expected_risk * frailty * np.where(one_off, sp.one_off_rate_factor, 1.0))
    assert np.array_equal(supervised, (sentence != CUSTODY_SHORT) | (start >= ora) | (age < sp.young_adult_age))
    assert np.array_equal(tier, np.where(high, TIER_HIGH, np.where(ogrs >= sp.medium_ogrs_cut, TIER_MEDIUM, TIER_LOW)))
    assert np.array_equal(sentencing, logistic(sp.sentence_intercept + sp.sentence_prior_slope * np.log1p(prior)))
    logits = np.broadcast_to(np.asarray(sp.resentence_logits, dtype=float), (n, 4)).copy()
    logits[:, CUSTODY_SHORT] += sp.resentence_short_custody_prior_slope * np.log1p(prior)
    cum = np.cumsum(np.exp(logits), axis=1)
    assert np.array_equal(resentence, np.minimum((u[:, 3:4] > cum / cum[:, -1:]).sum(axis=1), 3))
    lo, hi = sp.short_custody_served_days
    assert np.array_equal(served, np.select(
        [sentence == CUSTODY_SHORT, sentence == CUSTODY_LONG],
        [lo + (hi - lo) * u[:, 4], 182.0 - (sp.long_custody_served_days_mean - 182.0) * np.log(u[:, 4])], 0.0))


def test_compiled_phases_are_the_populations():
    assert (kernel_jit.AT_LIBERTY, kernel_jit.WAITING) == (population.AT_LIBERTY, population.WAITING)


@pytest.mark.parametrize("name", ["tr2014", "accelerator"])
def test_status_quo_person_by_person_is_the_quarter_by_quarter_kernel(name):
    """The counterfactual run person by person (`status_quo.StatusQuoWorld`)
    opens the same episodes, each with the same proven reoffences, and pays
    the same, as the status quo stepped quarter by quarter (`kernel.World`,
    which a kept world uses)."""
    from pbrkit.simulate.status_quo import StatusQuoWorld

    d, p = short(name)
    w = world()
    for replicate in range(2):
        rng = np.random.default_rng(np.random.SeedSequence([SEED, replicate]))
        key = draws.replicate_key(rng)
        term, n_quarters = _horizon(d, w)
        entrants = draw_entrants(rng, w, n_quarters)
        stepped = Run(w, d, p, key, entrants, n_quarters, term, None, True)
        person = Run(w, d, p, key, entrants, n_quarters, term, None, False)
        assert isinstance(stepped.sim, kernel.World) and isinstance(person.sim, StatusQuoWorld)
        ids_a, ids_b = [], []
        for q in range(n_quarters):
            stepped.quarter(q)
            person.quarter(q)
            a, b = stepped.sim.log.episodes[q], person.sim.log.episodes[q]
            oa, ob = (np.lexsort((e["id"], e["start"], e["pid"])) for e in (a, b))
            for f in a:
                if f != "id":
                    assert np.array_equal(a[f][oa], b[f][ob]), (q, f)
            ids_a.append(a["id"][oa])
            ids_b.append(b["id"][ob])
        # Reoffences counted by the end of the run (the stepped run counts them as they come).
        ids_a, ids_b = np.concatenate(ids_a), np.concatenate(ids_b)
        assert np.array_equal(stepped.sim.log.reoffences(ids_a), person.sim.log.reoffences(ids_b))
        assert stepped.statements == person.statements
        assert vars(stepped.outcomes) == vars(person.outcomes)
        assert stepped.outcomes.reoffences > 0 and stepped.episodes == person.episodes > 0
