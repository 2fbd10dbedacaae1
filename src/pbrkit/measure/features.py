"""The case-mix features of the default baseline model, as the standard lists them.

Each feature is categorical with a fixed list of levels; the first level is the
reference level (its one-hot column is dropped). Age and prior offences are
banded here, once, so the model, the `prior_band` segment and the docs all use
the same cut points.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pbrkit.standard.schema import RISK_TIERS, SENTENCES, SEXES

AGE_BANDS: tuple[str, ...] = ("<21", "21-24", "25-29", "30-39", "40-49", "50+")
PRIOR_BANDS: tuple[str, ...] = ("0", "1-2", "3-6", "7-14", "15-29", "30+")

# Lower bounds of each band after the first: age 21 starts "21-24", and so on.
_AGE_CUTS = (21, 25, 30, 40, 50)
_PRIOR_CUTS = (1, 3, 7, 15, 30)


def _band(column: str, cuts: tuple[int, ...], labels: tuple[str, ...]) -> pl.Expr:
    """Band an integer column: value < cuts[0] -> labels[0], and so on."""
    expr = pl.when(pl.col(column) < cuts[0]).then(pl.lit(labels[0]))
    for cut, label in zip(cuts[1:], labels[1:-1], strict=True):
        expr = expr.when(pl.col(column) < cut).then(pl.lit(label))
    expr = expr.when(pl.col(column).is_not_null()).then(pl.lit(labels[-1]))
    return expr.otherwise(None).cast(pl.Enum(list(labels)))


def age_band() -> pl.Expr:
    """Age at start in the standard's bands `<21`, `21-24`, ..., `50+`."""
    return _band("age", _AGE_CUTS, AGE_BANDS).alias("age_band")


def prior_band() -> pl.Expr:
    """Previous proven offences in the bands `0`, `1-2`, ..., `30+`."""
    return _band("prior_offences", _PRIOR_CUTS, PRIOR_BANDS).alias("prior_band")


@dataclass(frozen=True)
class Feature:
    """One categorical case-mix feature: the column it lives in and its levels.

    `source` is the episode column it is made from (banded for age and prior
    offences); `levels[0]` is the reference level.
    """

    name: str
    levels: tuple[str, ...]
    source: str

    def expr(self) -> pl.Expr:
        """The feature's level for each episode, as an Enum of `levels`."""
        if self.name == "age_band":
            return age_band()
        if self.name == "prior_band":
            return prior_band()
        return pl.col(self.source).cast(pl.String).cast(pl.Enum(list(self.levels))).alias(self.name)


#: The default model's features, in the order the standard lists them.
CASE_MIX: tuple[Feature, ...] = (
    Feature("sex", SEXES, "sex"),
    Feature("age_band", AGE_BANDS, "age"),
    Feature("sentence", SENTENCES, "sentence"),
    Feature("risk_tier", RISK_TIERS, "risk_tier"),
    Feature("prior_band", PRIOR_BANDS, "prior_offences"),
)

#: The segments `measure(segment=...)` accepts: each a feature of the counted episode.
SEGMENTS: dict[str, Feature] = {
    "risk_tier": CASE_MIX[3],
    "sentence": CASE_MIX[2],
    "prior_band": CASE_MIX[4],
}
