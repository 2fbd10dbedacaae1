"""The case-mix adjusted baseline: what each offender would have been expected
to do, had they been in the reference (baseline) cohort.

`BaselineModel` is an estimator in the scikit-learn manner: parameters in
`__init__`, learning in `fit(reference)`, fitted state with a trailing
underscore (`coef_`, `phi_`), no work at construction. It holds two models
fitted by unpenalised maximum likelihood on the reference cohort:

- a logistic regression of `reoffended`, giving each offender's `p_i`;
- a Poisson regression of `reoffences`, giving each offender's `mu_i`, and the
  over-dispersion `phi_` the frequency test needs.

`kind="default"` uses the data standard's case-mix features (sex, age band,
sentence, risk tier, prior offences band), one-hot with the first level
dropped. `kind="ogrs"` uses one predictor, `logit(ogrs / 100)`, so a supplied
OGRS score (a 2-year prediction) is recalibrated to the 1-year measure on the
reference cohort rather than trusted as is.

The fitted model saves to JSON (`save`/`load`) so a payment run can name the
exact model it used, and reuse it on other data.

Why fit on frequency-weighted rows? All features are categorical, so the
reference cohort has at most a few thousand distinct (features, outcome) rows.
A GLM with frequency weights on those rows has exactly the likelihood,
coefficients, deviance, Pearson chi-square and residual degrees of freedom of
the fit to one row per offender, at a fraction of the cost.
"""

from __future__ import annotations

import json
import warnings
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pbrkit.measure.features import CASE_MIX

KINDS: tuple[str, ...] = ("default", "ogrs")
FORMAT = "pbrkit-baseline-model"
FORMAT_VERSION = 1

#: OGRS is given in whole percent; 0 and 100 are read as 0.5% and 99.5% so the
#: logit stays finite. Documented in docs/measure.md.
OGRS_FLOOR, OGRS_CEILING = 0.5, 99.5

INTERCEPT = "intercept"
OGRS_TERM = "logit_ogrs"


class BaselineModelWarning(UserWarning):
    """A warning about how the baseline model was fitted (kept on the model too)."""


def ogrs_logit() -> pl.Expr:
    """`logit(ogrs / 100)`, with OGRS held inside [0.5, 99.5] percent."""
    q = pl.col("ogrs").cast(pl.Float64).clip(OGRS_FLOOR, OGRS_CEILING) / 100.0
    return (q / (1.0 - q)).log().alias(OGRS_TERM)


def _term_name(feature: str, level: str) -> str:
    return f"{feature}[{level}]"


def _check_columns(frame: pl.DataFrame, needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}, which are missing")
    nulls = [c for c in needed if frame[c].null_count()]
    if nulls:
        counts = ", ".join(f"{c} ({frame[c].null_count():,} missing)" for c in nulls)
        raise ValueError(f"{what} needs every value of {counts}")


class BaselineModel:
    """Expected reoffending for each offender's case mix, learnt on a reference cohort.

    Parameters
    ----------
    kind : "default" or "ogrs"
        Which predictors: the standard's case-mix features, or the supplied
        OGRS score recalibrated on the reference cohort.
    tol, maxiter : convergence settings of the IRLS fits (on the largest
        change of any coefficient), tight so that refits agree to ~1e-10.
    """

    def __init__(self, kind: str = "default", tol: float = 1e-10, maxiter: int = 100) -> None:
        self.kind = kind
        self.tol = tol
        self.maxiter = maxiter

    # ------------------------------------------------------------------ inputs
    def _source_columns(self) -> list[str]:
        if self.kind == "ogrs":
            return ["ogrs"]
        return [f.source for f in CASE_MIX]

    def _check_kind(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    def predictors(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The model's predictor columns for each row of an episode frame: the
        five case-mix levels (default), or `logit_ogrs` (ogrs).

        Every offender with the same predictors has the same expectation, so
        callers may aggregate on these columns before calling `expect`.
        """
        self._check_kind()
        _check_columns(frame, self._source_columns(), f"the {self.kind} baseline model")
        if self.kind == "ogrs":
            return frame.select(ogrs_logit())
        return frame.select([f.expr() for f in CASE_MIX])

    # --------------------------------------------------------------------- fit
    def fit(self, reference: pl.DataFrame, baseline: tuple[Any, Any] | None = None) -> BaselineModel:
        """Fit both models to the reference cohort.

        `reference` has one row per counted offender with the episode's case-mix
        columns (or `ogrs`), `reoffended` (bool) and `reoffences` (count).
        `baseline` (first, last day) is only recorded, for the audit trail.
        """
        self._check_kind()
        if reference.height == 0:
            raise ValueError("the reference cohort is empty: no episodes start in the baseline period")
        _check_columns(reference, ["reoffended", "reoffences"], "the baseline model")
        x = self.predictors(reference)
        frame = x.with_columns(
            reoffended=reference["reoffended"].cast(pl.Float64),
            reoffences=reference["reoffences"].cast(pl.Float64),
        )
        self.warnings_: list[str] = []
        self._choose_terms(x)

        # Imported here, not at module import: the CLI and reuse of a saved model
        # never need it. The GLM module alone, not statsmodels.api, which also
        # loads every other model family (about a second more).
        from statsmodels.genmod import families

        binary = self._fit_glm(frame, "reoffended", families.Binomial(), "binary (logistic)")
        count = self._fit_glm(frame, "reoffences", families.Poisson(), "count (Poisson)")

        self.coef_ = np.asarray(binary.params, dtype=float)
        self.bse_ = np.asarray(binary.bse, dtype=float)
        self.count_coef_ = np.asarray(count.params, dtype=float)
        self.count_bse_ = np.asarray(count.bse, dtype=float)
        self.n_ = int(reference.height)
        self.deviance_ = float(binary.deviance)
        self.loglik_ = float(binary.llf)
        self.aic_ = float(binary.aic)
        self.count_deviance_ = float(count.deviance)
        self.count_loglik_ = float(count.llf)
        self.count_aic_ = float(count.aic)
        self.pearson_chi2_ = float(count.pearson_chi2)
        self.df_resid_ = float(count.df_resid)
        if self.df_resid_ > 0:
            self.phi_ = max(1.0, self.pearson_chi2_ / self.df_resid_)
        else:
            self.phi_ = 1.0
            self._warn("the count model has no residual degrees of freedom; phi is taken as 1")
        self.reference_reoffenders_ = int(reference["reoffended"].sum())
        self.reference_reoffences_ = int(reference["reoffences"].sum())
        self.baseline_ = None if baseline is None else [str(baseline[0]), str(baseline[1])]
        return self

    def _warn(self, message: str) -> None:
        self.warnings_.append(message)
        warnings.warn(f"baseline model: {message}", BaselineModelWarning, stacklevel=3)

    def _choose_terms(self, x: pl.DataFrame) -> None:
        """One column per level present in the reference cohort, less one per feature.

        A level nobody in the reference cohort has would give an all-zero column
        and no estimate; it is dropped, and offenders at that level are predicted
        as the feature's reference level, with a warning. If the first level
        itself is absent, the first level present becomes the reference.
        """
        self.terms_: list[str] = [INTERCEPT]
        self.reference_levels_: dict[str, str] = {}
        self.absent_levels_: dict[str, list[str]] = {}
        if self.kind == "ogrs":
            self.terms_.append(OGRS_TERM)
            return
        for feature in CASE_MIX:
            present = set(x[feature.name].drop_nulls().cast(pl.String).unique().to_list())
            levels = [lv for lv in feature.levels if lv in present]
            absent = [lv for lv in feature.levels if lv not in present]
            self.reference_levels_[feature.name] = levels[0]
            self.absent_levels_[feature.name] = absent
            self.terms_ += [_term_name(feature.name, lv) for lv in levels[1:]]
            if absent:
                self._warn(
                    f"{feature.name} level(s) {', '.join(repr(a) for a in absent)} absent from the "
                    f"reference cohort: column(s) dropped, predicted as the reference level {levels[0]!r}"
                )

    def _design(self, x: pl.DataFrame) -> pl.DataFrame:
        """The design matrix columns (after the intercept) for predictor frame `x`."""
        if self.kind == "ogrs":
            return x.select(pl.col(OGRS_TERM))
        cols = []
        for term in self.terms_[1:]:
            feature, level = term[:-1].split("[", 1)
            cols.append((pl.col(feature) == pl.lit(level)).cast(pl.Float64).alias(term))
        return x.select(cols) if cols else pl.DataFrame(height=x.height)

    def _fit_glm(self, frame: pl.DataFrame, outcome: str, family, label: str):
        from statsmodels.genmod.generalized_linear_model import GLM

        keys = [c for c in frame.columns if c not in ("reoffended", "reoffences")]
        rows = frame.group_by([*keys, outcome]).agg(pl.len().alias("n")).sort([*keys, outcome])
        design = self._design(rows).to_numpy().reshape(rows.height, len(self.terms_) - 1)
        exog = np.column_stack([np.ones(rows.height), design])
        endog = rows[outcome].to_numpy()
        weights = rows["n"].cast(pl.Float64).to_numpy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = GLM(endog, exog, family=family, freq_weights=weights).fit(
                    tol=self.tol, maxiter=self.maxiter, tol_criterion="params"
                )
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise ValueError(
                    f"the baseline {label} model cannot be fitted to the reference cohort of "
                    f"{int(weights.sum()):,} offenders ({exc}). A case-mix level that predicts the "
                    "outcome perfectly, or too few offenders, leaves no finite maximum-likelihood "
                    "estimate: choose a longer baseline period."
                ) from None
        for w in caught:
            self._warn(f"{label} fit: {w.message}")
        if not result.converged:
            self._warn(f"{label} fit did not converge in {self.maxiter} iterations")
        return result

    # ----------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ValueError("this BaselineModel is not fitted yet: call fit(reference) or load(path)")

    def _linear(self, coef: np.ndarray) -> pl.Expr:
        terms = [pl.lit(float(coef[0]))]
        if self.kind == "ogrs":
            terms.append(pl.lit(float(coef[1])) * pl.col(OGRS_TERM))
        else:
            for name, b in zip(self.terms_[1:], coef[1:], strict=True):
                feature, level = name[:-1].split("[", 1)
                terms.append(pl.lit(float(b)) * (pl.col(feature) == pl.lit(level)).cast(pl.Float64))
        return reduce(lambda a, b: a + b, terms)

    def expect(self, predictors: pl.DataFrame) -> pl.DataFrame:
        """Expected probability of reoffending `p` and expected count `mu` for
        each row of a predictor frame (as made by `predictors`)."""
        self._check_fitted()
        eta = self._linear(self.coef_)
        # with_columns, not select: an intercept-only model is a literal, and
        # with_columns broadcasts it to every row.
        return predictors.with_columns(
            p=1.0 / (1.0 + (-eta).exp()),
            mu=self._linear(self.count_coef_).exp(),
        ).select("p", "mu")

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Each row's expected probability of reoffending `p` and expected count `mu`.

        Same height and order as `frame`, which needs the model's source
        columns (case-mix columns, or `ogrs`) filled in on every row.
        """
        return self.expect(self.predictors(frame))

    # ----------------------------------------------------------------- inspect
    def summary(self) -> pl.DataFrame:
        """The coefficients of both models, one row per term."""
        self._check_fitted()
        return pl.DataFrame(
            {
                "term": self.terms_,
                "coef": self.coef_,
                "std_err": self.bse_,
                "odds_ratio": np.exp(self.coef_),
                "count_coef": self.count_coef_,
                "count_std_err": self.count_bse_,
                "rate_ratio": np.exp(self.count_coef_),
            }
        )

    def fit_statistics(self) -> pl.DataFrame:
        """How well each model fits the reference cohort."""
        self._check_fitted()
        nan = float("nan")
        return pl.DataFrame(
            {
                "statistic": ["n", "deviance", "log_likelihood", "aic", "pearson_chi2", "df_resid", "phi"],
                "binary_model": [float(self.n_), self.deviance_, self.loglik_, self.aic_, nan, nan, nan],
                "count_model": [
                    float(self.n_), self.count_deviance_, self.count_loglik_, self.count_aic_,
                    self.pearson_chi2_, self.df_resid_, self.phi_,
                ],
            }
        )

    def describe(self) -> str:
        """One plain-English paragraph: what was fitted, on what, and how well."""
        self._check_fitted()
        what = (
            "the case-mix model (sex, age band, sentence, risk tier and prior offences band)"
            if self.kind == "default"
            else "the OGRS model (the supplied OGRS score, recalibrated)"
        )
        where = f" {self.baseline_[0]} to {self.baseline_[1]}" if self.baseline_ else ""
        rate = self.reference_reoffenders_ / self.n_
        freq = self.reference_reoffences_ / self.reference_reoffenders_ if self.reference_reoffenders_ else 0.0
        text = (
            f"Baseline: {what}, fitted on the {self.n_:,} offenders of the reference cohort{where}, "
            f"of whom {100 * rate:.1f}% reoffended ({freq:.2f} reoffences per reoffender); "
            f"count model over-dispersion phi = {self.phi_:.2f}."
        )
        if self.warnings_:
            text += f" {len(self.warnings_)} warning(s): " + "; ".join(self.warnings_)
        return text

    # ------------------------------------------------------------- save / load
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to predict and to audit, as JSON-ready values."""
        self._check_fitted()
        import pbrkit

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "pbrkit_version": pbrkit.__version__,
            "params": {"kind": self.kind, "tol": self.tol, "maxiter": self.maxiter},
            "baseline": self.baseline_,
            "terms": self.terms_,
            "reference_levels": self.reference_levels_,
            "absent_levels": self.absent_levels_,
            "coef": self.coef_.tolist(),
            "std_err": self.bse_.tolist(),
            "count_coef": self.count_coef_.tolist(),
            "count_std_err": self.count_bse_.tolist(),
            "statistics": {
                "n": self.n_,
                "reference_reoffenders": self.reference_reoffenders_,
                "reference_reoffences": self.reference_reoffences_,
                "deviance": self.deviance_,
                "log_likelihood": self.loglik_,
                "aic": self.aic_,
                "count_deviance": self.count_deviance_,
                "count_log_likelihood": self.count_loglik_,
                "count_aic": self.count_aic_,
                "pearson_chi2": self.pearson_chi2_,
                "df_resid": self.df_resid_,
                "phi": self.phi_,
            },
            "warnings": self.warnings_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineModel:
        if data.get("format") != FORMAT:
            raise ValueError("not a pbrkit baseline model file")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported baseline model format version {data.get('format_version')!r}")
        model = cls(**data["params"])
        model._check_kind()
        model.baseline_ = data["baseline"]
        model.terms_ = list(data["terms"])
        model.reference_levels_ = dict(data["reference_levels"])
        model.absent_levels_ = {k: list(v) for k, v in data["absent_levels"].items()}
        model.coef_ = np.asarray(data["coef"], dtype=float)
        model.bse_ = np.asarray(data["std_err"], dtype=float)
        model.count_coef_ = np.asarray(data["count_coef"], dtype=float)
        model.count_bse_ = np.asarray(data["count_std_err"], dtype=float)
        if not (len(model.terms_) == len(model.coef_) == len(model.count_coef_)):
            raise ValueError("baseline model file is inconsistent: terms and coefficients differ in length")
        s = data["statistics"]
        model.n_ = int(s["n"])
        model.reference_reoffenders_ = int(s["reference_reoffenders"])
        model.reference_reoffences_ = int(s["reference_reoffences"])
        model.deviance_ = s["deviance"]
        model.loglik_ = s["log_likelihood"]
        model.aic_ = s["aic"]
        model.count_deviance_ = s["count_deviance"]
        model.count_loglik_ = s["count_log_likelihood"]
        model.count_aic_ = s["count_aic"]
        model.pearson_chi2_ = s["pearson_chi2"]
        model.df_resid_ = s["df_resid"]
        model.phi_ = s["phi"]
        model.warnings_ = list(data["warnings"])
        return model

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as JSON (floats written exactly, so a loaded
        model predicts bit-for-bit what this one does)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> BaselineModel:
        """Read a model written by `save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read baseline model {path}: {exc}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        fitted = f", fitted on {self.n_:,}" if hasattr(self, "coef_") else ""
        return f"BaselineModel(kind={self.kind!r}{fitted})"
