"""The baseline model: the same fit as a direct statsmodels fit on one row per
offender, saved and loaded without change, honest about absent levels, and the
OGRS option."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from measure_builders import AS_OF, BASELINE, dataset, episode, offence, row

from pbrkit.measure import (
    BaselineModel,
    BaselineModelWarning,
    baseline_cohort,
    fit_baseline,
    measure,
)

SEXES = ["M", "F"]
SENTENCES = ["custody_short", "custody_long", "community_order", "suspended_sentence"]
TIERS = ["low", "medium", "high"]


def age_band(age: int) -> str:
    if age < 21:
        return "<21"
    if age <= 24:
        return "21-24"
    if age <= 29:
        return "25-29"
    if age <= 39:
        return "30-39"
    if age <= 49:
        return "40-49"
    return "50+"


def prior_band(n: int) -> str:
    if n == 0:
        return "0"
    if n <= 2:
        return "1-2"
    if n <= 6:
        return "3-6"
    if n <= 14:
        return "7-14"
    if n <= 29:
        return "15-29"
    return "30+"


AGE_BANDS = ["<21", "21-24", "25-29", "30-39", "40-49", "50+"]
PRIOR_BANDS = ["0", "1-2", "3-6", "7-14", "15-29", "30+"]


def reference_frame(n: int = 4000, seed: int = 7, ogrs: bool = False) -> pl.DataFrame:
    """A made-up reference cohort whose outcomes depend on the case mix."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(SEXES, n, p=[0.85, 0.15])
    age = rng.integers(16, 75, n)
    sentence = rng.choice(SENTENCES, n)
    tier = rng.choice(TIERS, n, p=[0.5, 0.35, 0.15])
    prior = rng.choice([0, 1, 2, 4, 9, 20, 45], n)
    eta = -0.6 + 0.4 * (sex == "F") - 0.02 * (age - 30) + 0.3 * (sentence == "custody_short") + 0.05 * prior
    p = 1 / (1 + np.exp(-eta))
    reoffended = rng.random(n) < p
    reoffences = np.where(reoffended, 1 + rng.poisson(2.0 * np.exp(0.02 * prior)), 0)
    frame = pl.DataFrame({
        "sex": sex, "age": age, "sentence": sentence, "risk_tier": tier, "prior_offences": prior,
        "reoffended": reoffended, "reoffences": reoffences,
    }).with_columns(
        pl.col("sex").cast(pl.Enum(SEXES)), pl.col("sentence").cast(pl.Enum(SENTENCES)),
        pl.col("risk_tier").cast(pl.Enum(TIERS)), pl.col("age").cast(pl.Int32),
        pl.col("prior_offences").cast(pl.Int32),
    )
    if ogrs:
        score = np.clip(100 * (1 / (1 + np.exp(-(eta + 0.8 + rng.normal(0, 0.3, n))))), 0, 100).round(0)
        frame = frame.with_columns(ogrs=pl.Series(score))
    return frame


def direct_design(frame: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One-hot design, first level dropped, built here independently of the code."""
    cols, names = [np.ones(frame.height)], ["intercept"]
    values = {
        "sex": frame["sex"].cast(pl.String).to_list(),
        "age_band": [age_band(a) for a in frame["age"].to_list()],
        "sentence": frame["sentence"].cast(pl.String).to_list(),
        "risk_tier": frame["risk_tier"].cast(pl.String).to_list(),
        "prior_band": [prior_band(n) for n in frame["prior_offences"].to_list()],
    }
    levels = {"sex": SEXES, "age_band": AGE_BANDS, "sentence": SENTENCES, "risk_tier": TIERS,
              "prior_band": PRIOR_BANDS}
    for feature, lv in levels.items():
        for level in lv[1:]:
            cols.append(np.array([v == level for v in values[feature]], dtype=float))
            names.append(f"{feature}[{level}]")
    return np.column_stack(cols), names


def test_coefficients_equal_a_direct_statsmodels_fit():
    ref = reference_frame()
    model = BaselineModel().fit(ref)
    x, names = direct_design(ref)
    binary = sm.GLM(ref["reoffended"].cast(pl.Float64).to_numpy(), x, family=sm.families.Binomial()).fit(
        tol=1e-12, tol_criterion="params")
    count = sm.GLM(ref["reoffences"].cast(pl.Float64).to_numpy(), x, family=sm.families.Poisson()).fit(
        tol=1e-12, tol_criterion="params")
    assert model.terms_ == names
    np.testing.assert_allclose(model.coef_, binary.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.count_coef_, count.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.bse_, binary.bse, rtol=1e-6)
    assert model.n_ == ref.height
    assert model.deviance_ == pytest.approx(binary.deviance, rel=1e-9)
    assert model.loglik_ == pytest.approx(binary.llf, rel=1e-9)
    assert model.aic_ == pytest.approx(binary.aic, rel=1e-9)
    assert model.count_loglik_ == pytest.approx(count.llf, rel=1e-9)
    assert model.pearson_chi2_ == pytest.approx(count.pearson_chi2, rel=1e-9)
    assert model.df_resid_ == count.df_resid == ref.height - len(names)
    assert model.phi_ == pytest.approx(max(1.0, count.pearson_chi2 / count.df_resid), rel=1e-9)
    assert model.phi_ > 1  # the made-up counts are over-dispersed

    expected = model.predict(ref)
    np.testing.assert_allclose(expected["p"].to_numpy(), binary.predict(x), rtol=1e-9)
    np.testing.assert_allclose(expected["mu"].to_numpy(), count.predict(x), rtol=1e-9)


def test_save_and_load_give_identical_predictions(tmp_path):
    ref = reference_frame(seed=3)
    model = BaselineModel().fit(ref, baseline=("2011-01-01", "2011-12-31"))
    path = model.save(tmp_path / "model.json")
    loaded = BaselineModel.load(path)
    assert loaded.predict(ref).equals(model.predict(ref))  # bit for bit
    assert loaded.summary().equals(model.summary())
    assert loaded.fit_statistics().equals(model.fit_statistics(), null_equal=True)
    assert loaded.to_dict() == model.to_dict()
    assert loaded.baseline_ == ["2011-01-01", "2011-12-31"]
    assert "4,000 offenders" in loaded.describe()


def test_summary_and_statistics_tables():
    model = BaselineModel().fit(reference_frame())
    summary = model.summary()
    assert summary.columns == ["term", "coef", "std_err", "odds_ratio", "count_coef", "count_std_err",
                               "rate_ratio"]
    assert summary.height == 1 + 1 + 5 + 3 + 2 + 5  # intercept + levels less one per feature
    assert summary["odds_ratio"].to_list() == pytest.approx(np.exp(model.coef_).tolist())
    stats = model.fit_statistics()
    assert stats["statistic"].to_list()[-1] == "phi"
    assert stats["count_model"].to_list()[-1] == model.phi_


def test_a_level_absent_from_the_reference_cohort_is_dropped_loudly():
    ref = reference_frame().filter(pl.col("sentence") != "custody_long")
    with pytest.warns(BaselineModelWarning, match="custody_long"):
        model = BaselineModel().fit(ref)
    assert "sentence[custody_long]" not in model.terms_
    assert model.absent_levels_["sentence"] == ["custody_long"]
    assert any("custody_long" in w for w in model.warnings_)
    # predicted exactly as the reference level, custody_short
    probe = reference_frame(n=50, seed=11)
    as_long = model.predict(probe.with_columns(sentence=pl.lit("custody_long").cast(pl.Enum(SENTENCES))))
    as_short = model.predict(probe.with_columns(sentence=pl.lit("custody_short").cast(pl.Enum(SENTENCES))))
    assert as_long.equals(as_short)
    # the warning travels with the saved model
    assert BaselineModel.from_dict(model.to_dict()).warnings_ == model.warnings_


def test_an_absent_first_level_hands_the_reference_to_the_next_level():
    ref = reference_frame().filter(pl.col("sex") == "F")
    with pytest.warns(BaselineModelWarning, match="sex"):
        model = BaselineModel().fit(ref)
    assert model.reference_levels_["sex"] == "F"
    assert not any(t.startswith("sex[") for t in model.terms_)
    probe = reference_frame(n=30, seed=5)
    m = model.predict(probe.with_columns(sex=pl.lit("M").cast(pl.Enum(SEXES))))
    f = model.predict(probe.with_columns(sex=pl.lit("F").cast(pl.Enum(SEXES))))
    assert m.equals(f)


def test_unfitted_model_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        BaselineModel().predict(reference_frame(n=5))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a pbrkit baseline model"):
        BaselineModel.load(bad)
    with pytest.raises(ValueError, match="model kind"):
        BaselineModel(kind="xgboost").fit(reference_frame(n=20))


# ------------------------------------------------------------------- with data
def _mixed_dataset(ogrs_for_cohort: float | None = 40.0):
    """A reference cohort in 2011 with a mixed case mix, and one later cohort."""
    ref = reference_frame(n=600, seed=21, ogrs=True)
    eps, offs = [], []
    for i, r in enumerate(ref.iter_rows(named=True)):
        eps.append(episode(f"r{i:04d}", f"R{i:04d}", "2011-05-01", provider="base", sentence=r["sentence"],
                           risk_tier=r["risk_tier"], age=r["age"], sex=r["sex"],
                           prior_offences=r["prior_offences"], ogrs=r["ogrs"]))
        for k in range(r["reoffences"]):
            offs.append(offence(f"R{i:04d}", f"2011-{6 + k % 6:02d}-{1 + k // 6:02d}", "2012-01-15"))
    eps += [episode("c1", "C1", "2013-04-10", ogrs=ogrs_for_cohort, age=19, sentence="custody_short"),
            episode("c2", "C2", "2013-05-10", ogrs=70.0, age=45, sex="F", prior_offences=12)]
    offs += [offence("C1", "2013-05-01", "2013-06-01")]
    return dataset(eps, offs, with_baseline=False)


def test_measure_uses_the_model_fitted_on_the_reference_cohort():
    data = _mixed_dataset()
    model = fit_baseline(data, BASELINE, AS_OF)
    reference = baseline_cohort(data, BASELINE, AS_OF)
    assert reference.height == 600
    # refit by hand on the reference cohort returned: the same model
    again = BaselineModel().fit(reference)
    np.testing.assert_array_equal(again.coef_, model.coef_)
    out = measure(data, baseline=BASELINE, as_of=AS_OF)
    r = row(out, "north", "2013Q2")
    cohort = pl.DataFrame([
        {"sex": "M", "age": 19, "sentence": "custody_short", "risk_tier": "low", "prior_offences": 0},
        {"sex": "F", "age": 45, "sentence": "community_order", "risk_tier": "low", "prior_offences": 12},
    ])
    p = model.predict(cohort)["p"].to_list()
    mu = model.predict(cohort)["mu"].to_list()
    assert r["expected_rate"] == pytest.approx(sum(p) / 2, rel=1e-12)
    assert r["z"] == pytest.approx((1 - sum(p)) / math.sqrt(sum(q * (1 - q) for q in p)), rel=1e-12)
    assert r["expected_reoffences"] == pytest.approx(sum(mu), rel=1e-12)
    assert r["z_frequency"] == pytest.approx((1 - sum(mu)) / math.sqrt(model.phi_ * sum(mu)), rel=1e-12)
    # a fitted model passed in gives the same table, whatever baseline is named
    assert measure(data, baseline="2013", as_of=AS_OF, model=model).equals(out)


def test_ogrs_model_is_a_recalibration_of_logit_ogrs():
    data = _mixed_dataset()
    model = fit_baseline(data, BASELINE, AS_OF, kind="ogrs")
    reference = baseline_cohort(data, BASELINE, AS_OF)
    q = np.clip(reference["ogrs"].to_numpy(), 0.5, 99.5) / 100
    x = np.column_stack([np.ones(len(q)), np.log(q / (1 - q))])
    binary = sm.GLM(reference["reoffended"].cast(pl.Float64).to_numpy(), x, family=sm.families.Binomial()).fit(
        tol=1e-12, tol_criterion="params")
    count = sm.GLM(reference["reoffences"].cast(pl.Float64).to_numpy(), x, family=sm.families.Poisson()).fit(
        tol=1e-12, tol_criterion="params")
    assert model.terms_ == ["intercept", "logit_ogrs"]
    np.testing.assert_allclose(model.coef_, binary.params, atol=1e-8)
    np.testing.assert_allclose(model.count_coef_, count.params, atol=1e-8)
    out = measure(data, baseline=BASELINE, as_of=AS_OF, model="ogrs")
    r = row(out, "north", "2013Q2")
    b = model.coef_
    p = [1 / (1 + math.exp(-(b[0] + b[1] * math.log(s / (100 - s))))) for s in (40.0, 70.0)]
    assert r["expected_rate"] == pytest.approx(sum(p) / 2, rel=1e-10)


def test_ogrs_model_refuses_missing_scores():
    # a mature cohort member without a score
    with pytest.raises(ValueError, match="OGRS score"):
        measure(_mixed_dataset(ogrs_for_cohort=None), baseline=BASELINE, as_of=AS_OF, model="ogrs")
    # ...but the default model does not need one
    measure(_mixed_dataset(ogrs_for_cohort=None), baseline=BASELINE, as_of=AS_OF)
    # an immature cohort member without a score is not measured, so no error
    measure(_mixed_dataset(ogrs_for_cohort=None), baseline=BASELINE, as_of="2014-06-30", model="ogrs")
    # no ogrs column at all
    data = _mixed_dataset()
    data.episodes = data.episodes.drop("ogrs")
    with pytest.raises(ValueError, match="ogrs"):
        measure(data, baseline=BASELINE, as_of=AS_OF, model="ogrs")


def test_model_fit_does_not_warn_on_a_full_case_mix():
    with warnings.catch_warnings():
        warnings.simplefilter("error", BaselineModelWarning)
        BaselineModel().fit(reference_frame())
