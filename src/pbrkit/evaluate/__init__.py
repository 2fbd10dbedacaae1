"""Does a commissioned service work? A matched-comparison impact estimate, Justice Data Lab style.

    >>> from pbrkit.evaluate import evaluate
    >>> result = evaluate(data, treated_ids, as_of="2018-12-31")
    >>> result.outcomes["binary_rate"].difference   # treated minus comparison
    >>> result.sentences                              # one per outcome

The people a service worked with are compared with similar people it did not
work with: every other mature episode in the data (optionally only from the
same period or the same areas) is a candidate, a propensity model scores how
likely each episode was to be served, and each treated episode is matched to
the candidates nearest on that score (`matching`). The balance table shows
whether the matched comparison group looks like the treated one
(`balance`); the outcomes, one-year proven reoffending rate, reoffences per
person and days to the first reoffence, are measured exactly as
`pbrkit.measure` measures them (the data standard's 12-month follow-up with a
6-month wait for disposal) and compared pair by pair (`estimates`).

An episode is mature when its start date plus 547 days is on or before the
as-of date: its whole follow-up and disposal window has been observed. The
pool leaves out every episode of a treated person: their other episodes are
neither untreated nor independent of the treated one.

`evaluate` is pure: a `Dataset` and a list of ids in, an `Evaluation` out. It
refuses (raising `TooFewMatched`) when fewer than 60 treated episodes are
matched, the Justice Data Lab's floor: below it the interval is too wide to
say anything useful.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from pbrkit.evaluate.balance import THRESHOLD, balance_table
from pbrkit.evaluate.covariates import common_support, risk_factors, uses_ogrs, with_start_year
from pbrkit.evaluate.estimates import Estimate, among_reoffenders, neighbour_variance, paired_effect
from pbrkit.evaluate.matching import Matches, nearest_neighbours
from pbrkit.evaluate.propensity import PropensityModel
from pbrkit.evaluate.text import balance_sentence, matching_sentence, sentences
from pbrkit.measure.cohorts import ReoffenceWindows, person_codes
from pbrkit.measure.periods import DISPOSAL_LAST_DAY, FOLLOW_UP_LAST_DAY, MATURITY_DAYS, parse_date
from pbrkit.standard.schema import Dataset, conform

#: Fewer matched treated episodes than this and the evaluation refuses.
MIN_MATCHED = 60
#: Default caliper, in standard deviations of the logit of the propensity score.
CALIPER = 0.2

OUTCOME_NAMES = ("binary_rate", "frequency", "days_to_first")

_EPISODE_COLUMNS = ("episode_id", "person_id", "start_date", "area_id", "sex", "age", "sentence",
                    "risk_tier", "prior_offences", "ogrs")


class UnknownEpisodes(ValueError):
    """Treated episode ids that are not in the data's episodes."""

    def __init__(self, ids: list[str]):
        self.ids = ids
        shown = ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5:,} more" if len(ids) > 5 else "")
        super().__init__(f"{len(ids):,} treated episode id(s) are not in the episodes table: {shown}")


class TooFewMatched(ValueError):
    """Fewer matched treated episodes than the floor: no estimate is given."""


@dataclass(frozen=True)
class Settings:
    """How the comparison group was built; saved with the results so a run can be repeated."""

    as_of: dt.date
    caliper: float = CALIPER
    neighbours: int = 1
    replace: bool = False
    same_period: bool = False
    same_areas: bool = False
    min_matched: int = MIN_MATCHED

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "caliper": self.caliper, "neighbours": self.neighbours,
                "replace": self.replace, "same_period": self.same_period, "same_areas": self.same_areas,
                "min_matched": self.min_matched}


@dataclass
class Evaluation:
    """An impact estimate: tables, numbers and sentences, ready for a report or JSON."""

    settings: Settings
    treated: int  # treated episodes listed
    immature: int  # listed but not yet mature at the as-of date: left out
    off_support: int  # mature, but with a risk-factor level no comparison episode has
    matched: int  # treated episodes with at least one match
    pool: int  # candidate comparison episodes (after restrictions and support)
    comparison: int  # distinct comparison episodes used
    terms: list[str]
    outcomes: dict[str, Estimate]
    unmatched_rates: dict[str, dict[str, float]]
    balance: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return sentences(self.outcomes)

    @property
    def matching_sentence(self) -> str:
        return matching_sentence(self.treated - self.immature, self.matched, self.settings.caliper,
                                 self.settings.neighbours, self.settings.replace)

    @property
    def unbalanced(self) -> list[str]:
        return self.balance.filter(~pl.col("balanced"))["covariate"].to_list()

    @property
    def balance_sentence(self) -> str:
        return balance_sentence(self.unbalanced, THRESHOLD)

    def outcome_table(self) -> pl.DataFrame:
        """One row per outcome: treated, comparison, difference, interval, p-value."""
        return pl.DataFrame(
            [{"outcome": name, **est.as_dict()} for name, est in self.outcomes.items()],
            schema={"outcome": pl.String, "treated": pl.Float64, "comparison": pl.Float64,
                    "difference": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                    "p_value": pl.Float64, "n_treated": pl.Int64, "n_comparison": pl.Int64},
        )

    def to_dict(self) -> dict[str, Any]:
        """The results.json document."""
        return {
            "treated": self.treated,
            "matched": self.matched,
            "outcomes": {name: est.as_dict() for name, est in self.outcomes.items()},
            "balance": self.balance.to_dicts(),
            "matched_share": self.matched / (self.treated - self.immature) if self.treated > self.immature else 0.0,
            "immature": self.immature,
            "off_support": self.off_support,
            "pool": self.pool,
            "comparison": self.comparison,
            "unmatched_rates": self.unmatched_rates,
            "propensity_terms": self.terms,
            "settings": self.settings.as_dict(),
            "sentences": self.sentences,
            "matching": self.matching_sentence,
            "balance_sentence": self.balance_sentence,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def _episodes_and_offences(data: Dataset) -> tuple[pl.DataFrame, pl.DataFrame]:
    episodes = conform("episodes", data.episodes).select(_EPISODE_COLUMNS)
    offences = conform("offences", data.offences).select("person_id", "offence_date", "disposal_date")
    return person_codes(episodes, offences)


def days_to_first(episodes: pl.DataFrame, offences: pl.DataFrame) -> np.ndarray:
    """Days from each episode's start to its first proven reoffence (NaN when none).

    The same rule as `pbrkit.measure`: committed 0 to 364 days after the start,
    disposed of at most 547 days after it. Both frames carry the `person` code.
    """
    found = (
        episodes.select("person", "start_date").with_row_index("_row")
        .join(offences, on="person", how="inner")
        .with_columns(
            d_off=(pl.col("offence_date") - pl.col("start_date")).dt.total_days(),
            d_disp=(pl.col("disposal_date") - pl.col("start_date")).dt.total_days(),
        )
        .filter(pl.col("d_off").is_between(0, FOLLOW_UP_LAST_DAY), pl.col("d_disp") <= DISPOSAL_LAST_DAY)
        .group_by("_row").agg(pl.col("d_off").min())
    )
    out = np.full(episodes.height, np.nan)
    out[found["_row"].to_numpy()] = found["d_off"].to_numpy()
    return out


def _restricted_pool(episodes: pl.DataFrame, listed: pl.DataFrame, treated: pl.DataFrame,
                     settings: Settings) -> pl.DataFrame:
    """Every other mature episode of a person with no listed episode (mature or not),
    within the period and areas of the mature treated episodes when asked."""
    pool = episodes.filter(
        ~pl.col("person").is_in(listed["person"].implode()),
        pl.col("start_date") <= settings.as_of - dt.timedelta(days=MATURITY_DAYS),
    )
    if settings.same_period:
        pool = pool.filter(pl.col("start_date").is_between(treated["start_date"].min(), treated["start_date"].max()))
    if settings.same_areas:
        pool = pool.filter(pl.col("area_id").is_in(treated["area_id"].unique().implode()))
    return pool


def evaluate(
    data: Dataset,
    treated_ids: Iterable[str],
    *,
    as_of: Any = None,
    caliper: float = CALIPER,
    neighbours: int = 1,
    replace: bool = False,
    same_period: bool = False,
    same_areas: bool = False,
    min_matched: int = MIN_MATCHED,
) -> Evaluation:
    """Estimate the service's effect on the treated episodes (see the module docstring)."""
    from pbrkit.measure import latest_date

    if caliper <= 0:
        raise ValueError(f"the caliper must be above 0 standard deviations, not {caliper}")
    if neighbours < 1:
        raise ValueError(f"neighbours must be at least 1, not {neighbours}")
    as_of = latest_date(data) if as_of is None else parse_date(as_of, "as-of date")
    settings = Settings(as_of, caliper, neighbours, replace, same_period, same_areas, min_matched)
    episodes, offences = _episodes_and_offences(data)
    ids = pl.Series("episode_id", list(dict.fromkeys(str(i) for i in treated_ids)), dtype=pl.String)
    unknown = ids.filter(~ids.is_in(episodes["episode_id"].implode()))
    if unknown.len():
        raise UnknownEpisodes(unknown.to_list())
    listed = episodes.filter(pl.col("episode_id").is_in(ids.implode()))
    ready = settings.as_of - dt.timedelta(days=MATURITY_DAYS)
    treated = listed.filter(pl.col("start_date") <= ready)
    immature = listed.height - treated.height
    notes = []
    if immature:
        notes.append(f"{immature:,} treated episode(s) start after {ready} and are not yet mature at the "
                     f"as-of date {settings.as_of}: they are left out.")
    if treated.height < min_matched:
        raise TooFewMatched(_too_few(treated.height, treated.height, min_matched, "mature treated episodes"))
    pool = _restricted_pool(episodes, listed, treated, settings)
    treated, pool = with_start_year(treated), with_start_year(pool)
    support = common_support(treated, pool)
    off_support = int((~support.treated).sum())
    notes += [f"Outside the common support, left out: {r}." for r in support.reasons]
    treated, pool = treated.filter(support.treated), pool.filter(support.pool)
    if pool.height == 0:
        raise TooFewMatched("no comparison episodes are left after the restrictions: nothing to match against")

    both = pl.concat([treated, pool])
    ogrs = uses_ogrs(both)
    if not ogrs and "ogrs" in both.columns and both["ogrs"].null_count() < both.height:
        notes.append("OGRS is missing for some episodes, so the propensity model leaves it out.")
    factors = risk_factors(both, ogrs)
    is_treated = np.r_[np.ones(treated.height, bool), np.zeros(pool.height, bool)]
    model = PropensityModel().fit(factors.design, is_treated, factors.terms)
    logit = model.logit(factors.design)
    width = caliper * float(logit.std())
    n_t = treated.height
    matches = nearest_neighbours(
        logit[:n_t], treated["episode_id"].to_numpy(), logit[n_t:], pool["episode_id"].to_numpy(),
        k=neighbours, caliper=width, replace=replace,
    )
    matched = len(matches.matched_treated)
    if matched < min_matched:
        raise TooFewMatched(_too_few(n_t, matched, min_matched, "treated episodes were matched"))

    counted = ReoffenceWindows.of(offences).count(both.select("person", "start_date"))
    reoffences = counted["reoffences"].to_numpy().astype(np.float64)
    reoffended = counted["reoffended"].to_numpy()
    outcomes = _outcomes(matches, both, offences, reoffences, reoffended, logit, n_t)
    balance = balance_table(factors.covariates, factors.balance[:n_t], factors.balance[n_t:], matches)
    evaluation = Evaluation(
        settings=settings, treated=listed.height, immature=immature, off_support=off_support,
        matched=matched, pool=pool.height, comparison=len(np.unique(matches.control)),
        terms=model.terms_, outcomes=outcomes,
        unmatched_rates=_unmatched_rates(reoffended, reoffences, n_t),
        balance=balance, notes=notes, warnings=list(model.warnings_),
    )
    if evaluation.unbalanced:
        evaluation.warnings.append(evaluation.balance_sentence)
    return evaluation


def _too_few(listed: int, matched: int, floor: int, what: str) -> str:
    return (f"only {matched:,} {what} (of {listed:,}); at least {floor} are needed for a reliable estimate, "
            f"so no estimate is given. Add more participants, a later as-of date, or a wider pool.")


def _outcomes(matches: Matches, both: pl.DataFrame, offences: pl.DataFrame, reoffences: np.ndarray,
              reoffended: np.ndarray, logit: np.ndarray, n_t: int) -> dict[str, Estimate]:
    pool_logit = logit[n_t:]
    binary = reoffended.astype(np.float64)
    reused = len(np.unique(matches.control)) < len(matches.control)

    def variance(y: np.ndarray) -> np.ndarray:
        # Only a comparison episode in several pairs needs its own outcome variance.
        return neighbour_variance(pool_logit, y) if reused else np.zeros(len(y))

    out = {
        "binary_rate": paired_effect(matches, binary[:n_t], binary[n_t:], variance(binary[n_t:])),
        "frequency": paired_effect(matches, reoffences[:n_t], reoffences[n_t:], variance(reoffences[n_t:])),
    }
    # Days to the first reoffence for the treated and the comparison episodes used only.
    used = np.unique(matches.control) + n_t
    rows = np.r_[np.arange(n_t), used]
    days = np.full(len(both), np.nan)
    days[rows] = days_to_first(both[rows].select("person", "start_date"), offences)
    out["days_to_first"] = among_reoffenders(matches, days[:n_t], days[n_t:], reoffended[:n_t], reoffended[n_t:])
    return out


def _unmatched_rates(reoffended: np.ndarray, reoffences: np.ndarray, n_t: int) -> dict[str, dict[str, float]]:
    """The raw comparison a naive reading would make: all treated against the whole pool."""
    out = {}
    for name, y in (("binary_rate", reoffended.astype(np.float64)), ("frequency", reoffences)):
        t, p = float(y[:n_t].mean()), float(y[n_t:].mean())
        out[name] = {"treated": t, "pool": p, "difference": t - p}
    return out


__all__ = [
    "CALIPER",
    "MIN_MATCHED",
    "OUTCOME_NAMES",
    "Evaluation",
    "Settings",
    "TooFewMatched",
    "UnknownEpisodes",
    "days_to_first",
    "evaluate",
]
