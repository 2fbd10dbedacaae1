"""The propensity model: each episode's chance of receiving the service, given its risk factors.

An estimator in the scikit-learn manner: parameters in `__init__`, learning in
`fit`, fitted state with a trailing underscore. It is a logistic regression
fitted by unpenalised maximum likelihood (statsmodels' Newton solver), because
the score is only a device for matching: what matters is that it balances the
risk factors, which the balance table then shows.

Matching is done on the logit of the score (the linear predictor), not the
score itself: near 0 or 1 the probability scale squashes real differences, and
the caliper is defined on the logit scale.
"""

from __future__ import annotations

import warnings

import numpy as np


class PropensityModel:
    """Logistic regression of receiving the service on the risk factors."""

    def __init__(self, max_iter: int = 100):
        self.max_iter = max_iter

    def fit(self, design: np.ndarray, treated: np.ndarray, terms: list[str]) -> PropensityModel:
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

        exog = np.column_stack([np.ones(len(design)), design])
        self.warnings_: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Terms that do not vary are dropped before this; statsmodels' own rank
            # check (a QR of the whole design) costs more than the fit's first steps.
            result = sm.Logit(treated.astype(np.float64), exog, check_rank=False).fit(
                method="newton", maxiter=self.max_iter, disp=0, warn_convergence=True
            )
        for w in caught:
            if issubclass(w.category, (ConvergenceWarning, PerfectSeparationWarning)):
                self.warnings_.append(
                    "the propensity model did not converge cleanly: some risk factor almost "
                    "perfectly separates the treated from the pool, so matches on it are poor"
                )
                break
        self.terms_ = ["intercept", *terms]
        self.coef_ = np.asarray(result.params, dtype=np.float64)
        self.converged_ = bool(result.mle_retvals.get("converged", True))
        return self

    def logit(self, design: np.ndarray) -> np.ndarray:
        """The linear predictor, log(p / (1 - p)), of each row."""
        return self.coef_[0] + design @ self.coef_[1:]
