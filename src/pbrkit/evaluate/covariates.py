"""The risk factors a service's participants are matched on.

Services pick their participants, and they pick on risk: a mentoring scheme
takes the young, a care farm the low-risk. The propensity model must see those
factors as they are. Banding age or prior offences into a handful of groups
leaves residual confounding inside each band (a band "15-29" holds people with
very different records), so the continuous factors stay continuous, with
curvature terms: age and its square; prior offences, its logarithm and its
square; OGRS and its square when every episode has one.

Categorical factors (sex, sentence, risk tier, start year) enter as one-hot
columns. A level that only one side has (a start year with no participants,
say) is outside the common support: nobody on the other side is comparable,
and a logistic regression would chase it to infinity. Such episodes are set
aside and counted, never silently matched.

Everything here is pure: Polars frames in, NumPy arrays and frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pbrkit.standard.schema import RISK_TIERS, SENTENCES, SEXES

#: The categorical risk factors and their fixed level order (start year is
#: read from the data).
CATEGORICAL: dict[str, tuple[str, ...] | None] = {
    "sex": SEXES,
    "sentence": SENTENCES,
    "risk_tier": RISK_TIERS,
    "start_year": None,
}

#: Continuous factors: always age and prior offences; OGRS when every episode has one.
CONTINUOUS: tuple[str, ...] = ("age", "prior_offences", "ogrs")


def with_start_year(episodes: pl.DataFrame) -> pl.DataFrame:
    """Episodes with `start_year` (text, so it is a category like the others)."""
    return episodes.with_columns(start_year=pl.col("start_date").dt.year().cast(pl.String))


def uses_ogrs(episodes: pl.DataFrame) -> bool:
    """OGRS joins the model only when every analysed episode has a score: a
    score missing for some would need imputing, and a guess is not a risk factor."""
    return "ogrs" in episodes.columns and episodes.height > 0 and episodes["ogrs"].null_count() == 0


def levels_of(episodes: pl.DataFrame, name: str) -> list[str]:
    """A categorical factor's levels present in the episodes, in standard order."""
    present = set(episodes[name].unique().drop_nulls().cast(pl.String).to_list())
    order = CATEGORICAL[name] or tuple(sorted(present))
    return [level for level in order if level in present]


@dataclass(frozen=True)
class Support:
    """Which episodes share every categorical level with the other side."""

    treated: np.ndarray  # bool per treated episode: inside the common support
    pool: np.ndarray  # bool per pool episode
    reasons: list[str]  # one sentence per level set aside


def common_support(treated: pl.DataFrame, pool: pl.DataFrame) -> Support:
    """Episodes whose every categorical level occurs among both the treated and the pool."""
    keep_t = np.ones(treated.height, dtype=bool)
    keep_p = np.ones(pool.height, dtype=bool)
    reasons: list[str] = []
    for name in CATEGORICAL:
        t_levels, p_levels = set(levels_of(treated, name)), set(levels_of(pool, name))
        for level in sorted(p_levels - t_levels):
            mask = (pool[name].cast(pl.String) == level).to_numpy()
            keep_p &= ~mask
            reasons.append(f"{int(mask.sum()):,} comparison episodes with {name} {level}, which no treated episode has")
        for level in sorted(t_levels - p_levels):
            mask = (treated[name].cast(pl.String) == level).to_numpy()
            keep_t &= ~mask
            reasons.append(f"{int(mask.sum()):,} treated episodes with {name} {level}, which no comparison episode has")
    return Support(keep_t, keep_p, reasons)


@dataclass(frozen=True)
class RiskFactors:
    """The propensity model's design and the covariates balance is checked on.

    `design` has one column per model term (no intercept), standardised
    continuous terms first; `terms` names them. `balance` holds the covariates
    as a person reads them (age in years, each level of each category as a
    0/1 share), one column each, for the standardised mean differences.
    """

    design: np.ndarray
    terms: list[str]
    balance: np.ndarray
    covariates: list[str]


def _standardised(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x - x.mean()


def risk_factors(episodes: pl.DataFrame, ogrs: bool) -> RiskFactors:
    """The design and balance columns of the episodes (treated and pool together,
    so both sides are standardised on the same scale)."""
    design: list[np.ndarray] = []
    terms: list[str] = []
    balance: list[np.ndarray] = []
    covariates: list[str] = []

    def continuous(name: str, values: np.ndarray, shapes: dict[str, np.ndarray]) -> None:
        balance.append(values)
        covariates.append(name)
        for term, column in shapes.items():
            design.append(_standardised(column))
            terms.append(term)

    age = episodes["age"].cast(pl.Float64).to_numpy()
    z = _standardised(age)
    continuous("age", age, {"age": z, "age^2": z * z})
    prior = episodes["prior_offences"].cast(pl.Float64).to_numpy()
    z = _standardised(prior)
    continuous("prior_offences", prior, {"prior_offences": z, "log(1+prior_offences)": np.log1p(prior),
                                         "prior_offences^2": z * z})
    if ogrs:
        score = episodes["ogrs"].cast(pl.Float64).to_numpy()
        z = _standardised(score)
        continuous("ogrs", score, {"ogrs": z, "ogrs^2": z * z})
    for name in CATEGORICAL:
        values = episodes[name].cast(pl.String)
        levels = levels_of(episodes, name)
        for i, level in enumerate(levels):
            column = (values == level).to_numpy().astype(np.float64)
            balance.append(column)
            covariates.append(f"{name}={level}")
            if i > 0:  # the first level present is the reference
                design.append(column)
                terms.append(f"{name}[{level}]")
    # Drop terms that do not vary (one age, one year...): they carry nothing.
    keep = [i for i, col in enumerate(design) if np.ptp(col) > 0]
    matrix = np.column_stack([design[i] for i in keep]) if keep else np.empty((episodes.height, 0))
    return RiskFactors(matrix, [terms[i] for i in keep], np.column_stack(balance), covariates)
