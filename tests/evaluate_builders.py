"""Synthetic evaluation data with a known (planted) service effect and selection on risk.

Each person has one episode. Their chance of a proven reoffence within the year
rises with prior offences, falls with age (with curvature) and depends on the
sentence; the service picks its participants on the same factors (young,
prolific, on licence), so the treated are riskier than the pool and a naive
comparison is biased. A participant's chance of reoffending is cut by the
fraction `reduction`; the true effect on the treated is then
`-reduction * mean(p0 of the treated)`, which `truth` returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from pbrkit.standard.schema import Dataset

START = dt.date(2013, 1, 1)
AS_OF = dt.date(2018, 12, 31)
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Planted:
    data: Dataset
    treated_ids: list[str]
    true_rate_effect: float  # expected difference in the binary rate, treated minus counterfactual
    naive_rate_difference: float


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def planted_service(seed: int, n: int = 6000, reduction: float = 0.25, treat_share: float = 0.1,
                    n_treated: int | None = None) -> Planted:
    """`n` people; a share about `treat_share` treated, or exactly `n_treated`
    drawn with the same selection weights (for the benchmark's fixed sizes)."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(18 + rng.gamma(2.2, 7.0, n)), 18, 80).astype(np.int64)
    prior = rng.negative_binomial(1.2, 0.12, n).astype(np.int64)
    sex = np.where(rng.random(n) < 0.15, "F", "M")
    sentence = rng.choice(["custody_short", "custody_long", "community_order", "suspended_sentence"], n,
                          p=[0.3, 0.15, 0.35, 0.2])
    tier = rng.choice(["low", "medium", "high"], n, p=[0.45, 0.45, 0.10])
    z_age = (age - 32.0) / 10.0
    custody = np.isin(sentence, ["custody_short", "custody_long"])
    p0 = _logistic(-1.2 - 0.45 * z_age + 0.12 * z_age**2 + 0.55 * np.log1p(prior) + 0.35 * custody
                   - 0.3 * (sex == "F") + 0.2 * (tier == "medium"))
    # Selection: the service recruits the young, the prolific and those leaving custody.
    base = np.log(treat_share / (1 - treat_share)) - 1.1
    e = _logistic(base - 0.6 * z_age + 0.15 * z_age**2 + 0.5 * np.log1p(prior) + 0.6 * custody)
    if n_treated is None:
        treated = rng.random(n) < e
    else:  # weighted sampling without replacement (Efraimidis and Spirakis)
        keys = np.log(rng.random(n)) / e
        treated = np.zeros(n, dtype=bool)
        treated[np.argpartition(-keys, n_treated)[:n_treated]] = True
    p = np.where(treated, p0 * (1.0 - reduction), p0)
    reoffends = rng.random(n) < p
    extra = rng.poisson(0.4 + 0.15 * np.log1p(prior))  # further reoffences of a reoffender
    person = pl.Series([f"P{i:07d}" for i in range(n)])
    episode = pl.Series([f"E{i:07d}" for i in range(n)])
    start_day = (START - EPOCH).days + rng.integers(0, 3 * 365, n)
    # Reoffences: the first on a uniform day of the year, any further ones after it.
    who = np.flatnonzero(reoffends)
    first = rng.integers(0, 365, len(who))
    count = 1 + extra[who]
    owner = np.repeat(who, count)
    lo = np.repeat(first, count)
    is_first = np.r_[True, owner[1:] != owner[:-1]]
    day = np.where(is_first, lo, lo + np.floor(rng.random(len(owner)) * (365 - lo)).astype(np.int64))
    # Offences that are not reoffences of the episode: before its start, or after the year.
    other = np.flatnonzero(rng.random(n) < 0.2)
    other_day = np.where(rng.random(len(other)) < 0.5, -rng.integers(1, 400, len(other)),
                         rng.integers(366, 700, len(other)))
    all_owner = np.r_[owner, other]
    offence_day = start_day[all_owner] + np.r_[day, other_day]
    disposal_day = offence_day + np.r_[rng.integers(0, 180, len(owner)), np.full(len(other), 30)]
    start = pl.Series(start_day, dtype=pl.Int32).cast(pl.Date)
    episodes = pl.DataFrame({
        "episode_id": episode, "person_id": person, "start_date": start,
        "area_id": np.where(rng.random(n) < 0.5, "north", "south"), "provider_id": "crc-x",
        "sentence": sentence, "risk_tier": tier, "age": age, "sex": sex, "prior_offences": prior,
    })
    offences = pl.DataFrame({
        "person_id": person.gather(all_owner),
        "offence_date": pl.Series(offence_day, dtype=pl.Int32).cast(pl.Date),
        "disposal_date": pl.Series(disposal_day, dtype=pl.Int32).cast(pl.Date),
    })
    truth = -reduction * float(p0[treated].mean())
    naive = float(reoffends[treated].mean() - reoffends[~treated].mean())
    return Planted(Dataset(episodes=episodes, offences=offences), episode.filter(treated).to_list(), truth, naive)
