"""Evaluation of a large service (issue 6 target): 50,000 treated against a pool of 1,000,000, at most 20 s.

Data: `tests/evaluate_builders.planted_service` with 1,050,000 one-episode
people, exactly 50,000 of them recruited with selection on risk, and a planted
effect. Timed: `pbrkit.evaluate.evaluate` with its defaults (1 neighbour,
caliper 0.2, without replacement), from the in-memory dataset to the finished
`Evaluation` (propensity fit, matching, outcomes, balance, intervals).

Baseline, timed in the same run: the way an analyst might do it with pandas:
merge episodes with offences on person_id and filter for the outcomes,
statsmodels' Logit on the same risk factors, then `pandas.merge_asof` on the
sorted logit with the caliper as tolerance (nearest neighbour *with*
replacement: the straightforward tool has no "without"), and a paired t-test.
Both must find the planted effect to within 0.01 before either time counts.

Run alone: `python bench/run.py evaluate`, or `python bench/bench_evaluate.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from evaluate_builders import AS_OF, planted_service  # noqa: E402

TARGET_SECONDS = 20.0
TREATED, POOL = 50_000, 1_000_000


def ours(world):
    from pbrkit.evaluate import evaluate

    return evaluate(world.data, world.treated_ids, as_of=AS_OF).outcomes["binary_rate"].difference


def baseline(world) -> float:
    import pandas as pd
    import statsmodels.api as sm
    from scipy import stats

    ep = world.data.episodes.to_pandas()
    off = world.data.offences.to_pandas()
    both = ep.merge(off, on="person_id", how="left")
    d_off = (both["offence_date"] - both["start_date"]).dt.days
    d_disp = (both["disposal_date"] - both["start_date"]).dt.days
    both["proven"] = (d_off >= 0) & (d_off <= 364) & (d_disp <= 547)
    ep = ep.merge(both.groupby("episode_id")["proven"].any().rename("reoffended").reset_index(), on="episode_id")
    ep["treated"] = ep["episode_id"].isin(set(world.treated_ids))
    x = pd.DataFrame({"age": ep["age"], "age2": ep["age"] ** 2, "prior": ep["prior_offences"],
                      "logprior": np.log1p(ep["prior_offences"]), "prior2": ep["prior_offences"] ** 2})
    x = pd.concat([x, pd.get_dummies(ep[["sex", "sentence", "risk_tier"]].astype(str), drop_first=True,
                                     dtype=float),
                   pd.get_dummies(ep["start_date"].dt.year.astype(str), drop_first=True, dtype=float)], axis=1)
    x = (x - x.mean()) / x.std()
    fit = sm.Logit(ep["treated"].astype(float), sm.add_constant(x)).fit(disp=0)
    ep["logit"] = fit.fittedvalues
    caliper = 0.2 * ep["logit"].std()
    treated = ep[ep["treated"]].sort_values("logit")[["logit", "reoffended"]]
    pool = ep[~ep["treated"]].sort_values("logit")[["logit", "reoffended"]].rename(
        columns={"reoffended": "control_reoffended"})
    pool["control_logit"] = pool["logit"]
    pairs = pd.merge_asof(treated, pool, on="logit", direction="nearest", tolerance=caliper).dropna()
    test = stats.ttest_rel(pairs["reoffended"].astype(float), pairs["control_reoffended"].astype(float))
    assert np.isfinite(test.pvalue)
    return float(pairs["reoffended"].mean() - pairs["control_reoffended"].astype(float).mean())


def run(ctx) -> list[dict]:
    import pandas  # noqa: F401 - imports are not what is timed, for either side
    import statsmodels.api  # noqa: F401

    import pbrkit.evaluate  # noqa: F401

    t0 = time.perf_counter()
    world = planted_service(seed=1, n=TREATED + POOL, n_treated=TREATED, reduction=0.25)
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_effect = ours(world)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base_effect = baseline(world)
    base_s = time.perf_counter() - t0
    for name, effect in (("ours", ours_effect), ("baseline", base_effect)):
        if abs(effect - world.true_rate_effect) > 0.01:
            raise AssertionError(f"{name} estimated {effect:.4f}, planted {world.true_rate_effect:.4f}")
    return [{
        "name": f"evaluate {TREATED:,} treated vs {POOL:,} pool",
        "seconds": ours_s, "target_seconds": TARGET_SECONDS,
        "baseline_name": "pandas merge + merge_asof", "baseline_seconds": base_s,
        "note": (f"planted {100 * world.true_rate_effect:+.2f} pp; ours {100 * ours_effect:+.2f}, "
                 f"baseline {100 * base_effect:+.2f}; data made in {made:.1f} s"),
    }]


if __name__ == "__main__":
    for row in run(None):
        print(row)
