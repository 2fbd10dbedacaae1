"""Matching rules, estimates and balance, on small hand-made inputs and against brute force."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pbrkit.evaluate.balance import balance_table
from pbrkit.evaluate.estimates import among_reoffenders, neighbour_variance, paired_effect
from pbrkit.evaluate.matching import Matches, nearest_neighbours


def brute_force(t_logit, t_ids, p_logit, p_ids, k, caliper, replace):
    """The documented rules, applied the slow, obvious way."""
    order = sorted(range(len(t_logit)), key=lambda i: (-t_logit[i], t_ids[i]))
    ranked = sorted(range(len(p_logit)), key=lambda j: (p_logit[j], p_ids[j]))
    rank = {j: r for r, j in enumerate(ranked)}
    used: set[int] = set()
    pairs = []
    for i in order:
        x = t_logit[i]
        place = int(np.searchsorted(np.array([p_logit[j] for j in ranked]), x, side="left"))

        def key(j):
            r = rank[j]
            below = r < place
            distance = x - p_logit[j] if below else p_logit[j] - x
            return (distance, 0 if below else 1, place - 1 - r if below else r - place)

        candidates = sorted((j for j in ranked if replace or j not in used), key=key)
        chosen = [j for j in candidates[:k] if key(j)[0] <= caliper]
        for j in chosen:
            pairs.append((i, j, 1.0 / len(chosen)))
            if not replace:
                used.add(j)
    return sorted(pairs)


def as_pairs(m: Matches):
    return sorted(zip(m.treated.tolist(), m.control.tolist(), m.weight.tolist(), strict=True))


logits = st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0]) | st.floats(-3, 3, width=32),
                  min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(t=logits, p=logits, k=st.integers(1, 3), caliper=st.sampled_from([0.1, 0.5, np.inf]), replace=st.booleans())
def test_matching_follows_the_documented_rules(t, p, k, caliper, replace):
    t_ids = np.array([f"T{i:03d}" for i in range(len(t))])
    p_ids = np.array([f"C{(7 * j) % 101:03d}" for j in range(len(p))])  # ids not in logit order
    got = nearest_neighbours(np.array(t), t_ids, np.array(p), p_ids, k=k, caliper=caliper, replace=replace)
    assert as_pairs(got) == brute_force(t, t_ids, p, p_ids, k, caliper, replace)
    if not replace:
        assert len(set(got.control.tolist())) == len(got.control)
    assert np.all(np.abs(np.array(t)[got.treated] - np.array(p)[got.control]) <= caliper)


def test_highest_score_is_matched_first_and_takes_the_nearest():
    # Two treated want the same comparison episode (logit 1.0); the higher-scored one gets it.
    m = nearest_neighbours(np.array([0.9, 1.05]), np.array(["T1", "T2"]), np.array([1.0, 0.0]),
                           np.array(["C1", "C2"]), k=1, caliper=2.0, replace=False)
    assert as_pairs(m) == [(0, 1, 1.0), (1, 0, 1.0)]


def test_caliper_leaves_a_treated_episode_unmatched():
    m = nearest_neighbours(np.array([0.0, 5.0]), np.array(["T1", "T2"]), np.array([0.1]), np.array(["C1"]),
                           k=1, caliper=0.5, replace=True)
    assert m.matched_treated.tolist() == [0]


def test_equal_logits_go_to_the_smaller_episode_id_above_the_score():
    m = nearest_neighbours(np.array([1.0]), np.array(["T"]), np.array([1.0, 1.0, 1.0]),
                           np.array(["C9", "C2", "C5"]), k=2, caliper=1.0, replace=False)
    assert m.control.tolist() == [1, 2]  # C2 then C5
    assert m.weight.tolist() == [0.5, 0.5]


def test_with_replacement_reuses_a_comparison_episode():
    m = nearest_neighbours(np.array([1.0, 1.01]), np.array(["T1", "T2"]), np.array([1.0, -3.0]),
                           np.array(["C1", "C2"]), k=1, caliper=0.5, replace=True)
    assert m.control.tolist() == [0, 0]


def test_paired_effect_without_reuse_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    y_t = (rng.random(200) < 0.4).astype(float)
    y_p = (rng.random(300) < 0.5).astype(float)
    matches = Matches(np.arange(200), rng.permutation(300)[:200], np.ones(200))
    est = paired_effect(matches, y_t, y_p, neighbour_variance(rng.random(300), y_p))
    test = stats.ttest_rel(y_t, y_p[matches.control])
    assert est.difference == pytest.approx(y_t.mean() - y_p[matches.control].mean())
    assert est.p_value == pytest.approx(test.pvalue)
    ci = test.confidence_interval(0.95)
    assert (est.ci_low, est.ci_high) == pytest.approx((ci.low, ci.high))


def test_reusing_comparison_episodes_widens_the_interval():
    rng = np.random.default_rng(4)
    y_t = rng.poisson(1.0, 100).astype(float)
    y_p = rng.poisson(1.2, 100).astype(float)
    logit = rng.normal(size=100)
    s2 = neighbour_variance(logit, y_p)
    reused_controls = np.repeat(np.arange(50), 2)
    # Each comparison episode now serves two treated episodes: the pairs share errors.
    matches = Matches(np.arange(100), reused_controls, np.ones(100))
    reused = paired_effect(matches, y_t, y_p, s2)
    paired_only = paired_effect(matches, y_t, y_p, np.zeros(100))
    assert reused.difference == paired_only.difference
    assert reused.ci_high - reused.ci_low > 1.1 * (paired_only.ci_high - paired_only.ci_low)


def test_neighbour_variance_is_half_the_squared_gap_to_the_nearest_score():
    s2 = neighbour_variance(np.array([0.0, 0.1, 5.0]), np.array([1.0, 0.0, 3.0]))
    assert s2.tolist() == [0.5, 0.5, 4.5]


def test_among_reoffenders_compares_only_those_who_reoffended():
    y_t = np.array([10.0, 20.0, np.nan, 30.0])
    y_p = np.array([40.0, np.nan, 50.0, 60.0])
    matches = Matches(np.arange(4), np.arange(4), np.ones(4))
    est = among_reoffenders(matches, y_t, y_p, ~np.isnan(y_t), ~np.isnan(y_p))
    assert est.treated == pytest.approx(20.0)
    assert est.comparison == pytest.approx(50.0)
    assert est.n_treated == 3 and est.n_comparison == 3


def test_balance_weights_each_treated_episodes_neighbours_equally():
    treated = np.array([[0.0], [10.0]])
    pool = np.array([[0.0], [8.0], [12.0], [100.0]])
    # The second treated episode has two neighbours at weight 1/2 each.
    matches = Matches(np.array([0, 1, 1]), np.array([0, 1, 2]), np.array([1.0, 0.5, 0.5]))
    row = balance_table(["x"], treated, pool, matches).row(0, named=True)
    assert row["comparison_mean"] == pytest.approx((0.0 + 0.5 * 8.0 + 0.5 * 12.0) / 2)
    assert row["smd_after"] == pytest.approx(0.0)


def test_balance_uses_the_matching_weights():
    treated = np.array([[1.0], [3.0]])
    pool = np.array([[0.0], [1.0], [3.0], [10.0]])
    matches = Matches(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))
    table = balance_table(["x"], treated, pool, matches)
    row = table.row(0, named=True)
    assert row["smd_after"] == pytest.approx(0.0)
    scale = np.sqrt((np.var([1, 3], ddof=1) + np.var([0, 1, 3, 10], ddof=1)) / 2)
    assert row["smd_before"] == pytest.approx((2.0 - 3.5) / scale)
    assert table.schema["balanced"] == pl.Boolean
