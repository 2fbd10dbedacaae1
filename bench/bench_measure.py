"""Measurement of the national dataset (issue 3 target).

`measure(by="provider", period="quarter", baseline 2011, as_of = the end of the
data)` on the 7-year scale-1 synthetic dataset, loading and the baseline fit
included: at most 10 s. Baseline, timed in the same run: a straightforward
pandas implementation of the same measures, written the way an analyst would
(merge episodes with offences on person_id, filter, groupby; statsmodels fits
on one row per offender). Its output must equal ours to 1e-9 before either
time is reported, so the ratio compares two implementations of one answer.

Run alone: `python bench/run.py measure` (after `bench_synth`), or
`python bench/bench_measure.py [DIR]` on any data-standard parquet directory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm
from scipy import stats

BASELINE = ("2011-01-01", "2011-12-31")
TARGET_SECONDS = 10.0

AGE_BINS = [-np.inf, 20, 24, 29, 39, 49, np.inf]
AGE_LABELS = ["<21", "21-24", "25-29", "30-39", "40-49", "50+"]
PRIOR_BINS = [-np.inf, 0, 2, 6, 14, 29, np.inf]
PRIOR_LABELS = ["0", "1-2", "3-6", "7-14", "15-29", "30+"]
LEVELS = {
    "sex": ["M", "F"],
    "age_band": AGE_LABELS,
    "sentence": ["custody_short", "custody_long", "community_order", "suspended_sentence"],
    "risk_tier": ["low", "medium", "high"],
    "prior_band": PRIOR_LABELS,
}


# ----------------------------------------------------------------------- ours
def ours(directory: Path) -> pl.DataFrame:
    """Load (types checked, cross-table rules trusted, as for pbrkit's own
    parquet; the CLI also validates, which `validate national` times), then
    measure with the baseline fit."""
    import pbrkit
    from pbrkit.measure import measure

    data = pbrkit.load(directory, check=False)
    return measure(data, by="provider", period="quarter", baseline=BASELINE, as_of=None)


def ours_two_tables(directory: Path) -> pl.DataFrame:
    """Reading just the two tables the measures need, as the pandas baseline
    does, so the ratio compares the measuring itself."""
    from pbrkit.measure import measure
    from pbrkit.standard.schema import Dataset, conform

    data = Dataset(
        episodes=conform("episodes", pl.read_parquet(directory / "episodes.parquet")),
        offences=conform("offences", pl.read_parquet(directory / "offences.parquet")),
    )
    return measure(data, by="provider", period="quarter", baseline=BASELINE, as_of=None)


# --------------------------------------------------------------------- pandas
def reoffences_pandas(cohort: pd.DataFrame, offences: pd.DataFrame) -> pd.Series:
    """Proven reoffences per counted episode: merge on person, filter, count."""
    pairs = cohort[["episode_id", "person_id", "start_date"]].merge(offences, on="person_id")
    d_off = (pairs["offence_date"] - pairs["start_date"]).dt.days
    d_disp = (pairs["disposal_date"] - pairs["start_date"]).dt.days
    proven = pairs[(d_off >= 0) & (d_off <= 364) & (d_disp <= 547)]
    counts = proven.groupby("episode_id").size()
    return cohort["episode_id"].map(counts).fillna(0).astype("int64")


def design_pandas(frame: pd.DataFrame) -> pd.DataFrame:
    x = pd.DataFrame(index=frame.index)
    x["sex"] = frame["sex"].astype(str)
    x["age_band"] = pd.cut(frame["age"], AGE_BINS, labels=AGE_LABELS).astype(str)
    x["sentence"] = frame["sentence"].astype(str)
    x["risk_tier"] = frame["risk_tier"].astype(str)
    x["prior_band"] = pd.cut(frame["prior_offences"], PRIOR_BINS, labels=PRIOR_LABELS).astype(str)
    parts = [pd.Series(1.0, index=frame.index, name="const")]
    for name, levels in LEVELS.items():
        dummies = pd.get_dummies(pd.Categorical(x[name], categories=levels), prefix=name, drop_first=True)
        dummies.index = frame.index
        parts.append(dummies.astype(float))
    return pd.concat(parts, axis=1)


def measure_pandas(directory: Path) -> pd.DataFrame:
    episodes = pd.read_parquet(directory / "episodes.parquet")
    offences = pd.read_parquet(directory / "offences.parquet", columns=["person_id", "offence_date", "disposal_date"])
    for col in ("start_date",):
        episodes[col] = pd.to_datetime(episodes[col])
    for col in ("offence_date", "disposal_date"):
        offences[col] = pd.to_datetime(offences[col])
    as_of = max(episodes["start_date"].max(), offences["offence_date"].max(), offences["disposal_date"].max())

    # Reference cohort: everyone once, at their earliest 2011 episode.
    ref = episodes[(episodes["start_date"] >= BASELINE[0]) & (episodes["start_date"] <= BASELINE[1])]
    ref = ref.sort_values(["person_id", "start_date", "episode_id"]).drop_duplicates("person_id")
    ref = ref.assign(reoffences=reoffences_pandas(ref, offences).values)
    x_ref = design_pandas(ref)
    fit_args = dict(tol=1e-10, tol_criterion="params")  # the same convergence settings as ours
    binary = sm.GLM((ref["reoffences"] > 0).astype(float), x_ref, family=sm.families.Binomial()).fit(**fit_args)
    count = sm.GLM(ref["reoffences"].astype(float), x_ref, family=sm.families.Poisson()).fit(**fit_args)
    phi = max(1.0, count.pearson_chi2 / count.df_resid)

    # Cohorts: provider x quarter, each person once at their earliest episode.
    ep = episodes.copy()
    ep["group"] = ep["provider_id"]
    ep["period"] = ep["start_date"].dt.year.astype(str) + "Q" + ep["start_date"].dt.quarter.astype(str)
    counted = ep.sort_values(["group", "period", "person_id", "start_date", "episode_id"])
    counted = counted.drop_duplicates(["group", "period", "person_id"]).reset_index(drop=True)
    period_end = pd.PeriodIndex(counted["period"], freq="Q").end_time.normalize()
    counted["mature"] = (period_end + pd.Timedelta(days=547)) <= as_of

    mature = counted[counted["mature"]].copy()
    mature["reoffences"] = reoffences_pandas(mature, offences).values
    mature["reoffended"] = mature["reoffences"] > 0
    x = design_pandas(mature)
    mature["p"] = binary.predict(x[x_ref.columns])
    mature["mu"] = count.predict(x[x_ref.columns])
    mature["pq"] = mature["p"] * (1 - mature["p"])

    out = mature.groupby(["group", "period"]).agg(
        offenders=("person_id", "size"), reoffenders=("reoffended", "sum"), reoffences=("reoffences", "sum"),
        sum_p=("p", "sum"), sum_pq=("pq", "sum"), sum_mu=("mu", "sum"),
    ).reset_index()
    out["mature"] = True
    out["binary_rate"] = out["reoffenders"] / out["offenders"]
    out["frequency"] = np.where(out["reoffenders"] > 0, out["reoffences"] / out["reoffenders"].clip(lower=1), 0.0)
    out["reoffences_per_offender"] = out["reoffences"] / out["offenders"]
    out["expected_rate"] = out["sum_p"] / out["offenders"]
    out["rate_diff_pp"] = 100 * (out["binary_rate"] - out["expected_rate"])
    out["z"] = (out["reoffenders"] - out["sum_p"]) / np.sqrt(out["sum_pq"])
    out["p_value"] = 2 * stats.norm.sf(np.abs(out["z"]))
    out["significant"] = out["p_value"] < 0.05
    out["expected_reoffences"] = out["sum_mu"]
    out["expected_frequency"] = out["sum_mu"] / out["sum_p"]
    out["z_frequency"] = (out["reoffences"] - out["sum_mu"]) / np.sqrt(phi * out["sum_mu"])

    young = counted[~counted["mature"]].groupby(["group", "period"]).size().rename("offenders").reset_index()
    young["mature"] = False
    out = pd.concat([out, young], ignore_index=True).sort_values(["group", "period"]).reset_index(drop=True)
    columns = ["group", "period", "mature", "offenders", "reoffenders", "reoffences", "binary_rate", "frequency",
               "reoffences_per_offender", "expected_rate", "rate_diff_pp", "z", "p_value", "significant",
               "expected_reoffences", "expected_frequency", "z_frequency"]
    return out[columns]


# -------------------------------------------------------------------- compare
def assert_same(ours_frame: pl.DataFrame, theirs: pd.DataFrame, tol: float = 1e-9) -> None:
    """Every key, count and flag equal; every float equal to 1e-9 (relative, or
    absolute near zero)."""
    assert list(theirs.columns) == ours_frame.columns, (list(theirs.columns), ours_frame.columns)
    assert len(theirs) == ours_frame.height, (len(theirs), ours_frame.height)
    for col in ours_frame.columns:
        a = ours_frame[col]
        b = theirs[col]
        if a.dtype == pl.Float64:
            x = a.to_numpy().astype(float)
            y = b.to_numpy(dtype=float, na_value=np.nan)
            ok = np.isclose(x, y, rtol=tol, atol=tol, equal_nan=True)
            assert ok.all(), f"{col}: {int((~ok).sum())} values differ, e.g. {x[~ok][:3]} vs {y[~ok][:3]}"
        else:
            x = a.to_list()
            y = [None if pd.isna(v) else v for v in b.tolist()]
            if a.dtype == pl.Boolean:
                y = [None if v is None else bool(v) for v in y]
            elif a.dtype == pl.Int64:
                y = [None if v is None else int(v) for v in y]
            else:
                y = [None if v is None else str(v) for v in y]
            assert x == y, f"{col} differs"


def _timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def _national(ctx) -> Path:
    if getattr(ctx, "national", None) is not None:
        return Path(ctx.national)
    directory = ctx.out / "national"
    if not (directory / "episodes.parquet").exists():
        from pbrkit.synth import generate, write

        write(generate(start="2011-01-01", years=7, scale=1.0, seed=1), directory)
    return directory


def run(ctx) -> list[dict]:
    directory = _national(ctx)
    theirs, base_seconds = _timed(measure_pandas, directory)
    mine, seconds = _timed(ours, directory)
    assert_same(mine, theirs)
    two, two_seconds = _timed(ours_two_tables, directory)
    assert_same(two, theirs)
    note = f"{mine.height} cohorts, {int(mine['mature'].sum())} mature; output equal to the pandas one to 1e-9"
    baseline = "plain pandas + statsmodels, 2 parquet tables"
    return [
        {"name": "measure national, provider x quarter (pbrkit.load + baseline fit)", "seconds": seconds,
         "target_seconds": TARGET_SECONDS, "baseline_name": baseline, "baseline_seconds": base_seconds,
         "note": note},
        {"name": "measure national, provider x quarter (2 parquet tables + baseline fit)",
         "seconds": two_seconds, "target_seconds": TARGET_SECONDS, "baseline_name": baseline,
         "baseline_seconds": base_seconds, "note": "reads what the pandas baseline reads"},
    ]


if __name__ == "__main__":
    from types import SimpleNamespace

    here = Path(__file__).parent
    ns = SimpleNamespace(out=here.parent / "bench-out", national=Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    ns.out.mkdir(exist_ok=True)
    for row in run(ns):
        ratio = row["baseline_seconds"] / row["seconds"]
        print(f"{row['name']}: {row['seconds']:.2f} s (target {row['target_seconds']:g} s); "
              f"{row['baseline_name']}: {row['baseline_seconds']:.2f} s; ratio {ratio:.1f}x; {row['note']}")
