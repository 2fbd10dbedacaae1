"""A service with a known effect, planted in a dataset: the way to check an evaluation end to end.

Real services choose their participants on risk, so the planted one does too:
it recruits the young, the prolific and people leaving custody more often than
others (`SELECTION`), which makes the participants riskier than the pool and a
raw comparison misleading. Its effect is simple and exactly known: for each
participant who reoffended in the year after the start, with probability
`reduction` the service prevented it, and every offence the person committed
in that year is removed from the offences table. The true effect on the
participants' one-year proven reoffending rate is then
`-(participants whose reoffending was prevented) / participants`, which is
returned with the data (`Planted.true_rate_difference`).

Only mature episodes in the chosen window are eligible, so every participant's
outcome is observed. Pure: a `Dataset` in, a `Dataset` out, no files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from pbrkit.measure.cohorts import ReoffenceWindows, person_codes
from pbrkit.measure.periods import FOLLOW_UP_LAST_DAY, MATURITY_DAYS
from pbrkit.standard.schema import Dataset, conform

#: Log-odds of recruitment per unit of each factor (age per 10 years from 30;
#: log of 1 + prior offences; leaving custody). Chosen so that participants are
#: clearly riskier than the pool; the evaluation must undo this.
SELECTION = {"age_per_decade": -0.5, "log_prior": 0.45, "custody": 0.6}


@dataclass(frozen=True)
class Planted:
    data: Dataset
    treated_ids: list[str]
    true_rate_difference: float  # participants' rate with the service minus without it
    rate_without_service: float
    prevented: int

    def truth(self) -> dict:
        return {"treated": len(self.treated_ids), "prevented": self.prevented,
                "rate_without_service": self.rate_without_service,
                "true_binary_rate_difference": self.true_rate_difference}


def plant_service(data: Dataset, *, as_of: dt.date, share: float = 0.03, reduction: float = 0.25,
                  seed: int = 1) -> Planted:
    """Recruit about `share` of the mature episodes and prevent `reduction` of their reoffending."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, not {share}")
    if not 0 <= reduction <= 1:
        raise ValueError(f"reduction must be between 0 and 1, not {reduction}")
    rng = np.random.default_rng(seed)
    episodes = conform("episodes", data.episodes)
    offences = conform("offences", data.offences)
    mature = episodes["start_date"] <= as_of - dt.timedelta(days=MATURITY_DAYS)
    age = (episodes["age"].cast(pl.Float64).to_numpy() - 30.0) / 10.0
    prior = np.log1p(episodes["prior_offences"].cast(pl.Float64).to_numpy())
    custody = episodes["sentence"].cast(pl.String).is_in(["custody_short", "custody_long"]).to_numpy()
    score = SELECTION["age_per_decade"] * age + SELECTION["log_prior"] * prior + SELECTION["custody"] * custody
    # Intercept so that the mean recruitment chance among mature episodes is about `share`.
    eligible = mature.to_numpy()
    offset = np.log(share / (1 - share)) - np.log(np.mean(np.exp(score[eligible])))
    chance = 1.0 / (1.0 + np.exp(-(offset + score)))
    recruited = eligible & (rng.random(len(chance)) < chance)
    # One episode per person: a second participation would share the same offences.
    treated = episodes.filter(pl.Series(recruited)).unique("person_id", keep="first", maintain_order=True)

    coded, coded_offences = person_codes(treated.select("person_id", "start_date"), offences)
    reoffended = ReoffenceWindows.of(coded_offences).count(coded)["reoffended"].to_numpy()
    prevented = reoffended & (rng.random(len(reoffended)) < reduction)
    stopped = treated.filter(pl.Series(prevented)).select(
        "person_id", first=pl.col("start_date"), last=pl.col("start_date") + pl.duration(days=FOLLOW_UP_LAST_DAY)
    )
    removed = offences.with_row_index("_row").join(stopped, on="person_id", how="inner").filter(
        pl.col("offence_date").is_between(pl.col("first"), pl.col("last"))
    )["_row"]
    kept = offences.with_row_index("_row").filter(~pl.col("_row").is_in(removed.implode())).drop("_row")
    planted = Dataset(episodes=data.episodes, offences=kept, service_events=data.service_events,
                      transfers=data.transfers, source=data.source)
    n = treated.height
    return Planted(planted, treated["episode_id"].to_list(), -float(prevented.sum()) / n if n else 0.0,
                   float(reoffended.mean()) if n else 0.0, int(prevented.sum()))
