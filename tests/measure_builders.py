"""Small hand-made datasets for the measure tests.

Every test dataset carries the same reference (baseline) cohort: four people
starting in 2011, all with the same case mix, two of whom reoffend, with 0, 1,
3 and 0 proven reoffences. So every default model fitted on it has only an
intercept, and by hand:

- p = 2 / 4 = 0.5 for every offender;
- mu = 4 / 4 = 1.0 reoffence for every offender;
- the Poisson fit's Pearson chi-square is (0-1)^2 + (1-1)^2 + (3-1)^2 + (0-1)^2
  = 6 on 4 - 1 = 3 residual degrees of freedom, so phi = 2.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from pbrkit.standard.schema import Dataset, conform

D = dt.date.fromisoformat
BASELINE = ("2011-01-01", "2011-12-31")
AS_OF = "2016-12-31"

P_BASE = 0.5
MU_BASE = 1.0
PHI_BASE = 2.0


def episode(episode_id: str, person_id: str, start: str, provider: str = "north", area: str = "a1",
            sentence: str = "community_order", risk_tier: str = "low", age: int = 30, sex: str = "M",
            prior_offences: int = 0, ogrs: float | None = None) -> dict:
    return {
        "episode_id": episode_id, "person_id": person_id, "start_date": D(start), "area_id": area,
        "provider_id": provider, "sentence": sentence, "risk_tier": risk_tier, "age": age, "sex": sex,
        "prior_offences": prior_offences, "ogrs": ogrs,
    }


def offence(person_id: str, offence_date: str | dt.date, disposal_date: str | dt.date) -> dict:
    as_date = lambda d: D(d) if isinstance(d, str) else d
    return {"person_id": person_id, "offence_date": as_date(offence_date), "disposal_date": as_date(disposal_date)}


def after(start: str, days: int) -> dt.date:
    return D(start) + dt.timedelta(days=days)


def baseline_people() -> tuple[list[dict], list[dict]]:
    """The reference cohort described above, in provider `base`."""
    eps = [episode(f"b{i}", f"B{i}", "2011-03-01", provider="base") for i in range(1, 5)]
    offs = [offence("B2", "2011-04-01", "2011-05-01")]
    offs += [offence("B3", f"2011-0{m}-01", f"2011-0{m + 1}-01") for m in (4, 5, 6)]
    return eps, offs


def dataset(episodes: list[dict], offences: list[dict], with_baseline: bool = True,
            transfers: list[dict] | None = None) -> Dataset:
    if with_baseline:
        b_eps, b_offs = baseline_people()
        episodes = b_eps + episodes
        offences = b_offs + offences
    ep = conform("episodes", pl.DataFrame(episodes, schema_overrides={"ogrs": pl.Float64}))
    off = conform("offences", pl.DataFrame(offences, schema={"person_id": pl.String, "offence_date": pl.Date,
                                                            "disposal_date": pl.Date}))
    tr = None
    if transfers is not None:
        tr = conform("transfers", pl.DataFrame(transfers))
    return Dataset(episodes=ep, offences=off, transfers=tr)


def row(results: pl.DataFrame, group: str, period: str, **more) -> dict:
    """The one output row of a cohort (fails if there is not exactly one)."""
    match = results.filter((pl.col("group") == group) & (pl.col("period") == period))
    for k, v in more.items():
        match = match.filter(pl.col(k) == v)
    assert match.height == 1, match
    return match.row(0, named=True)
