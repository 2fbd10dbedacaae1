"""The world at the contract's start: who is out there, what they are doing, and
what the baseline expects of them.

Built once per run and shared by every replicate (and shipped to worker
processes or Ray), so it holds only arrays and the fitted baseline model:

1. The synthetic population's engine (`pbrkit.synth.people`: the same people,
   spells, OGRS3 offending and courts `pbrkit.synth.generate` writes) runs
   from its burn-in to the contract's start, under the status quo, and keeps
   what `generate` throws away: each person's latent frailty, career end and
   current spell, who is in custody until when, and which sentences are
   already on their way through the courts.
2. The 2011 cohort is written as data-standard rows and the baseline model is
   fitted on it with `pbrkit.measure.fit_baseline`, once; its expectations for
   every case-mix cell are tabulated so a replicate never refits.
3. The providers' view when they bid: each area's drift from the baseline on
   the last mature cohort (2012), and a status-quo projection of the first
   contract year's volumes (the forecast they price on).
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pbrkit.measure import BaselineModel, fit_baseline, measure
from pbrkit.measure.features import AGE_BANDS, PRIOR_BANDS
from pbrkit.pay.quarters import first_day, quarter_index
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.spells import SYNTH, TIER_HIGH, TIER_LOW, TIER_MEDIUM
from pbrkit.standard.schema import RISK_TIERS, SENTENCES, SEXES
from pbrkit.synth.areas import AREAS, NPS_ID, area_shares
from pbrkit.synth.people import (
    describe_spells,
    draw_people,
    offend,
    ogrs3_linear,
    resentence,
    served_days,
)

EPOCH = dt.date(1970, 1, 1)
#: The model parameters `starting_world` reads: runs whose scenarios differ
#: only in others share one starting world (the Monte Carlo runner reads this).
WORLD_PARAMS: tuple[str, ...] = ("supervision_days",)
BASELINE = "2011"
BASELINE_FIRST = dt.date(2011, 1, 1)
#: Providers in the data: the 21 CRCs (by area), the NPS, and the provider of
#: last resort (also the public successor after the term).
POLR_ID = "polr"
PROVIDERS: tuple[str, ...] = (*(a.crc_id for a in AREAS), NPS_ID, POLR_ID)
AREA_IDS: tuple[str, ...] = tuple(a.area_id for a in AREAS)
N_AREAS = len(AREAS)
NPS, POLR = N_AREAS, N_AREAS + 1
#: Age and prior-offence bands' lower bounds (pbrkit.measure.features).
AGE_CUTS = np.array([21, 25, 30, 40, 50])
PRIOR_CUTS = np.array([1, 3, 7, 15, 30])
N_CELLS = len(SEXES) * len(AGE_BANDS) * len(SENTENCES) * len(RISK_TIERS) * len(PRIOR_BANDS)


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def quarter_start_day(q: int) -> int:
    """Epoch day of the first day of quarter index q (`quarter_index`)."""
    return day_number(first_day(q))


def case_mix_cell(female: np.ndarray, age: np.ndarray, sentence: np.ndarray, tier: np.ndarray,
                  prior: np.ndarray) -> np.ndarray:
    """Each episode's cell of the baseline model's case mix (sex, age band,
    sentence, risk tier, prior band): an index into `StartingWorld.cell_p`."""
    age_band = np.searchsorted(AGE_CUTS, age, side="right")
    prior_band = np.searchsorted(PRIOR_CUTS, prior, side="right")
    return (((female.astype(np.int64) * 6 + age_band) * 4 + sentence) * 3 + tier) * 6 + prior_band


def cell_levels(cell: np.ndarray) -> dict[str, np.ndarray]:
    """The segment levels (as the measure names them) of each cell, as codes."""
    prior_band = cell % 6
    tier = (cell // 6) % 3
    sentence = (cell // 18) % 4
    return {"prior_band": prior_band, "risk_tier": tier, "sentence": sentence}


@dataclass
class History:
    """Pre-contract episodes and offences kept for the data-standard record:
    the 2011 baseline cohort (so `pbrkit.pay.prepare` refits the same model)
    and the caseload supervised at the start (so case-months agree)."""

    person: np.ndarray
    start: np.ndarray  # epoch days
    provider: np.ndarray
    area: np.ndarray
    sentence: np.ndarray
    tier: np.ndarray
    age: np.ndarray
    female: np.ndarray
    prior: np.ndarray
    offence_person: np.ndarray
    offence_day: np.ndarray
    disposal_day: np.ndarray

    @property
    def size(self) -> int:
        return int(self.person.size)


@dataclass
class StartingWorld:
    """Everything a replicate needs from before the contract (see module docstring)."""

    scale: float
    seed: int
    start: str  # first contract quarter, e.g. 2015Q1
    years: int  # contract years simulated
    start_quarter: int  # quarter_index(start)
    start_day: int
    #: The live population at the start: column name -> array (population.FIELDS
    #: names, plus the legacy episode's `ep_tier`, `ep_sentence_code`, `ep_prior`, `ep_risk_rate`).
    people: dict[str, np.ndarray]
    #: Entrants a year at scale 1 and the next person number free.
    next_pid: int
    history: History
    #: Row in `history` of each live person's current (legacy) episode, -1 none.
    model: BaselineModel
    cell_p: np.ndarray  # expected probability of reoffending per case-mix cell
    cell_mu: np.ndarray  # expected reoffences per case-mix cell
    baseline_volumes: dict[str, int]  # provider -> episodes started in 2011
    #: Relative drift of each provider's 2012 cohort from the baseline:
    #: reoffenders / expected - 1, and reoffences / expected - 1.
    drift_binary: np.ndarray
    drift_frequency: np.ndarray
    risk_cuts: np.ndarray  # risk-rate cut points of the CRC caseload's quintiles
    #: The commissioner's status-quo projection (first contract year), per
    #: provider and quarter: new episodes, new episodes by sentence.
    forecast_episodes: np.ndarray
    forecast_by_sentence: np.ndarray
    #: Status-quo statistics per new CRC episode from the projection: supervised
    #: person-quarters, and service events of each kind.
    exposure_per_episode: float
    events_per_episode: np.ndarray
    #: Per provider, a quarter's cohort as planned: counted offenders, sum p, sum pq, sum mu.
    forecast_cohort: np.ndarray = field(default_factory=lambda: np.zeros((len(PROVIDERS), 4)))
    notes: list[str] = field(default_factory=list)

    @property
    def quarters(self) -> int:
        return 4 * self.years

    # Shipped to worker processes and the Ray object store: arrays travel
    # zlib-compressed (about a third of their size) and are unpacked once on arrival.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["people"] = {k: _pack(v) for k, v in self.people.items()}
        state["history"] = {f: _pack(getattr(self.history, f)) for f in History.__dataclass_fields__}
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["people"] = {k: _unpack(v) for k, v in state["people"].items()}
        state["history"] = History(**{f: _unpack(v) for f, v in state["history"].items()})
        self.__dict__.update(state)


def _pack(a: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    return a.dtype.str, a.shape, zlib.compress(np.ascontiguousarray(a).tobytes(), 1)


def _unpack(packed: tuple[str, tuple[int, ...], bytes]) -> np.ndarray:
    dtype, shape, data = packed
    return np.frombuffer(zlib.decompress(data), dtype=np.dtype(dtype)).reshape(shape).copy()


def _burn_in(rng: np.random.Generator, scale: float, start_day: int):
    """Run synth's people engine up to the contract start, keeping its latent state."""
    sp = SYNTH
    first = day_number(BASELINE_FIRST) - round(sp.burn_in_years * 365.25)
    ora_day = day_number(sp.ora_date)
    people = draw_people(sp, rng, first, start_day, scale, np.asarray(area_shares()))
    n = people.entry_day.size
    person = np.arange(n)
    sentence = rng.choice(4, size=n, p=np.asarray(sp.entry_sentence_probs))
    start, prior = people.entry_day.copy(), people.entry_prior.copy()
    spells, rates, stops, offences, custody = [], [], [], [], []
    while person.size:
        s, rate = describe_spells(sp, rng, people, person, start, sentence, prior, ora_day)
        horizon = np.minimum(people.desist_day[person], start_day)
        off, stop, counts = offend(sp, rng, s, rate, horizon)
        spells.append(s)
        rates.append((rate, counts))
        stops.append(stop)
        offences.append(off)
        ends = np.flatnonzero(stop < start_day)
        prior = s.prior[ends] + counts[ends]
        sentence = resentence(sp, rng, prior)
        start = stop[ends] + served_days(sp, rng, sentence)
        inside = start >= start_day  # in custody at the start: released during the contract
        custody.append((s.person[ends][inside], start[inside], sentence[inside], prior[inside]))
        keep = ~inside
        person, start, prior, sentence = s.person[ends][keep], start[keep], prior[keep], sentence[keep]
    return people, spells, rates, stops, offences, custody


def _tier(high: np.ndarray, ogrs: np.ndarray) -> np.ndarray:
    return np.where(high, TIER_HIGH, np.where(ogrs >= SYNTH.medium_ogrs_cut, TIER_MEDIUM, TIER_LOW)).astype(np.int8)


def _risk_rate(people, s) -> np.ndarray:
    """A spell's offending rate from its covariates alone (no frailty): what a risk assessment sees."""
    sp = SYNTH
    x = ogrs3_linear(s.age, people.female[s.person], s.prior, people.first_sanction_age[s.person], s.offence)
    return np.exp(sp.rate_intercept + sp.rate_ogrs_slope * x + sp.rate_high_tier * s.high_risk
                  + sp.rate_custody_short * (s.sentence == 0))


def _cat(parts):
    return {f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__dataclass_fields__}


def starting_world(params: ModelParams, *, scale: float, years: int, seed: int,
                   start: str = "2015Q1") -> StartingWorld:
    """The world at the start of the contract, for `years` contract years at `scale`.

    Deterministic in (scale, years, seed, start); of `params` it reads only
    `WORLD_PARAMS`. Takes about 15 s at scale 1.
    """
    if not scale > 0:
        raise ValueError("scale must be positive")
    if years < 1:
        raise ValueError("years must be at least 1")
    sq = quarter_index(start)
    start_day = quarter_start_day(sq)
    if first_day(sq) < dt.date(2013, 7, 2):
        raise ValueError(f"the contract must start after the 2011 baseline matures (2013-07-01), not {start}")
    rng = np.random.default_rng(seed)
    people, spell_parts, rate_parts, stop_parts, off_parts, custody = _burn_in(rng, scale, start_day)
    s = _cat(spell_parts)
    rate = np.concatenate([r for r, _ in rate_parts])
    counts = np.concatenate([c for _, c in rate_parts])
    stop = np.concatenate(stop_parts)
    off = _cat(off_parts)

    class _S:  # the spells, as attributes (for _risk_rate)
        pass

    sv = _S()
    for k, v in s.items():
        setattr(sv, k, v)
    risk = _risk_rate(people, sv)
    tier = _tier(s["high_risk"], s["ogrs"])
    area = people.area[s["person"]].astype(np.int16)
    provider = np.where(tier == TIER_HIGH, NPS, area).astype(np.int16)
    start_int = np.floor(s["start"]).astype(np.int64)

    # --- history: the 2011 cohort and the caseload at the start --------------
    b0, b1 = day_number(BASELINE_FIRST), day_number(dt.date(2012, 1, 1))
    supervision = params.supervision_days
    in_2011 = s["supervised"] & (start_int >= b0) & (start_int < b1)
    legacy = s["supervised"] & (s["start"] < start_day) & (start_int >= start_day - max(366, supervision + 1))
    hist_rows = np.flatnonzero(in_2011 | legacy)
    hist_rows = hist_rows[np.lexsort((s["person"][hist_rows], start_int[hist_rows]))]
    off_day = np.floor(off["offence_day"]).astype(np.int64)
    disp_day = np.floor(off["disposal_day"]).astype(np.int64)
    persons_2011 = np.unique(s["person"][in_2011])
    keep_off = (off_day >= b0) & (off_day < day_number(dt.date(2013, 1, 1))) & np.isin(off["person"], persons_2011)
    history = History(
        person=s["person"][hist_rows].astype(np.int32),
        start=start_int[hist_rows].astype(np.int32),
        provider=provider[hist_rows],
        area=area[hist_rows],
        sentence=s["sentence"][hist_rows].astype(np.int8),
        tier=tier[hist_rows],
        age=np.clip(np.floor(s["age"][hist_rows]), 10, 100).astype(np.int16),
        female=people.female[s["person"][hist_rows]],
        prior=s["prior"][hist_rows].astype(np.int32),
        offence_person=off["person"][keep_off].astype(np.int32),
        offence_day=off_day[keep_off].astype(np.int32),
        disposal_day=disp_day[keep_off].astype(np.int32),
    )
    order = np.lexsort((disp_day[keep_off], off_day[keep_off]))
    history.offence_person, history.offence_day, history.disposal_day = (
        history.offence_person[order], history.offence_day[order], history.disposal_day[order])

    from pbrkit.simulate.tables import history_tables

    data = history_tables(history)
    model = fit_baseline(data, BASELINE, as_of=first_day(sq) - dt.timedelta(days=1))
    cell_p, cell_mu = _cell_table(model)

    baseline_volumes = {}
    in_2011_hist = (history.start >= b0) & (history.start < b1)
    for code, n in zip(*np.unique(history.provider[in_2011_hist], return_counts=True), strict=True):
        baseline_volumes[PROVIDERS[code]] = int(n)

    drift_b, drift_f = _drift(model, s, start_int, provider, area, tier, people, off_day, disp_day, off["person"])

    # --- the live population at the start -----------------------------------
    n_people = people.entry_day.size
    order = np.lexsort((s["start"], s["person"]))
    last_of_person = np.r_[s["person"][order][1:] != s["person"][order][:-1], True]
    latest = np.full(n_people, -1, dtype=np.int64)
    latest[s["person"][order][last_of_person]] = order[last_of_person]
    inside = np.zeros(n_people, dtype=bool)
    next_start = np.full(n_people, np.inf)
    next_sentence = np.zeros(n_people, dtype=np.int8)
    next_prior = np.zeros(n_people, dtype=np.int32)
    for ids, day, sent, pri in custody:
        inside[ids] = True
        next_start[ids] = day
        next_sentence[ids] = sent
        next_prior[ids] = pri
    has = latest >= 0
    cur = np.where(has, latest, 0)
    liberty = has & ~inside & (stop[cur] >= start_day)
    sup_now = liberty & s["supervised"][cur] & (s["start"][cur] >= start_day - supervision)
    alive = inside | (liberty & ((people.desist_day > start_day) | np.isfinite(stop[cur]) | sup_now))
    rows = np.flatnonzero(alive)
    c = cur[rows]
    lib = liberty[rows]
    sup = sup_now[rows]

    # The legacy episode of each supervised person: its row in the history.
    spell_to_history = np.full(s["start"].size, -1, dtype=np.int64)
    spell_to_history[hist_rows] = np.arange(hist_rows.size)
    ep_row = np.where(sup, spell_to_history[c], -1)
    if (ep_row[sup] < 0).any():
        raise AssertionError("a supervised person's legacy episode is missing from the history")

    # When the provider learns of a first reoffence in the legacy episode's
    # follow-up: the earliest disposal of an offence counted against it.
    episode_start = np.full(n_people, np.nan)
    episode_start[rows[sup]] = start_int[c[sup]]
    rel = off_day - episode_start[off["person"]]
    counted = (rel >= 0) & (rel <= 364) & (disp_day - episode_start[off["person"]] <= 547)
    known_by_person = np.full(n_people, np.inf)
    np.minimum.at(known_by_person, off["person"][counted], disp_day[counted].astype(float))
    known = np.where(sup, known_by_person[rows], np.inf)

    sel_tier = tier[c]
    live = {
        "pid": rows.astype(np.int32),
        "female": people.female[rows],
        "entry_day": people.entry_day[rows],
        "entry_age": people.entry_age[rows].astype(np.float32),
        "first_age": people.first_sanction_age[rows].astype(np.float32),
        "area": people.area[rows].astype(np.int8),
        "frailty": people.frailty[rows].astype(np.float32),
        "harm": people.harm[rows].astype(np.float32),
        "desist": people.desist_day[rows],
        "phase": np.where(lib, 0, 1).astype(np.int8),
        "next_start": np.where(lib, np.inf, next_start[rows]),
        "next_sentence": next_sentence[rows],
        "next_prior": next_prior[rows],
        "sp_start": np.where(lib, s["start"][c], 0.0),
        "sp_prior": s["prior"][c].astype(np.int32),
        "sp_rate": np.where(lib, rate[c], 0.0),
        "sp_count": counts[c].astype(np.int32),
        "stop": np.where(lib, stop[c], np.inf),
        "ep_id": ep_row.astype(np.int32),
        "ep_start": np.where(sup, start_int[c], 0).astype(np.int32),
        "ep_until": np.where(sup, s["start"][c] + supervision, -np.inf),
        "ep_provider": np.where(sup, provider[c], -1).astype(np.int8),
        "ep_known": known.astype(np.float32),
        "ep_tier": sel_tier,
        "ep_sentence_code": s["sentence"][c].astype(np.int8),
        "ep_prior": s["prior"][c].astype(np.int32),
        "ep_age": np.clip(np.floor(s["age"][c]), 10, 100).astype(np.int8),
        "ep_risk_rate": risk[c].astype(np.float32),
    }
    crc_caseload = sup & (sel_tier != TIER_HIGH)
    risk_cuts = np.quantile(risk[c][crc_caseload], [0.2, 0.4, 0.6, 0.8]) if crc_caseload.any() else np.ones(4)

    world = StartingWorld(
        scale=scale, seed=seed, start=start, years=years, start_quarter=sq, start_day=start_day,
        people=live, next_pid=int(n_people), history=history, model=model, cell_p=cell_p, cell_mu=cell_mu,
        baseline_volumes=baseline_volumes, drift_binary=drift_b, drift_frequency=drift_f,
        risk_cuts=risk_cuts, forecast_episodes=np.zeros(len(PROVIDERS)),
        forecast_by_sentence=np.zeros((len(PROVIDERS), 4)), exposure_per_episode=3.5,
        events_per_episode=np.zeros(3),
    )
    from pbrkit.simulate.projection import project

    project(world, params, seed)
    return world


def _cell_table(model: BaselineModel) -> tuple[np.ndarray, np.ndarray]:
    """The model's p and mu for every case-mix cell, in `case_mix_cell` order,
    computed by `BaselineModel.expect` itself (so they are the measure's own numbers)."""
    cells = np.arange(N_CELLS)
    prior_band = cells % 6
    tier = (cells // 6) % 3
    sentence = (cells // 18) % 4
    age_band = (cells // 72) % 6
    sex = cells // 432
    ages = np.array([18, 21, 25, 30, 40, 50])
    priors = np.array([0, 1, 3, 7, 15, 30])
    frame = pl.DataFrame({
        "sex": np.asarray(SEXES)[sex],
        "age": ages[age_band],
        "sentence": np.asarray(SENTENCES)[sentence],
        "risk_tier": np.asarray(RISK_TIERS)[tier],
        "prior_offences": priors[prior_band],
    })
    expected = model.expect(model.predictors(frame))
    return expected["p"].to_numpy().astype(float), expected["mu"].to_numpy().astype(float)


def _drift(model, s, start_int, provider, area, tier, people, off_day, disp_day, off_person):
    """Each provider's 2012 quarterly cohorts against the baseline, pooled: what a
    bidder sees in the data room (the last year mature at a 2015 start)."""
    d0, d1 = day_number(dt.date(2012, 1, 1)), day_number(dt.date(2013, 1, 1))
    rows = np.flatnonzero(s["supervised"] & (start_int >= d0) & (start_int < d1))
    n = len(PROVIDERS)
    if rows.size == 0:
        return np.zeros(n), np.zeros(n)
    keep = (off_day >= d0) & (off_day < day_number(dt.date(2014, 7, 2)))
    persons = s["person"][rows]
    keep &= np.isin(off_person, persons)
    episodes = pl.DataFrame({
        "episode_id": [f"E{i:09d}" for i in range(rows.size)],
        "person_id": persons.astype(np.int64),
        "start_date": start_int[rows].astype(np.int32),
        "area_id": np.asarray(AREA_IDS)[area[rows]],
        "provider_id": np.asarray(PROVIDERS)[provider[rows]],
        "sentence": np.asarray(SENTENCES)[s["sentence"][rows]],
        "risk_tier": np.asarray(RISK_TIERS)[tier[rows]],
        "age": np.clip(np.floor(s["age"][rows]), 10, 100).astype(np.int32),
        "sex": np.where(people.female[persons], "F", "M"),
        "prior_offences": s["prior"][rows].astype(np.int32),
    }).with_columns(pl.col("person_id").cast(pl.String), pl.col("start_date").cast(pl.Date))
    offences = pl.DataFrame({
        "person_id": off_person[keep].astype(np.int64),
        "offence_date": off_day[keep].astype(np.int32),
        "disposal_date": disp_day[keep].astype(np.int32),
    }).with_columns(pl.col("person_id").cast(pl.String), pl.col("offence_date").cast(pl.Date),
                    pl.col("disposal_date").cast(pl.Date))
    from pbrkit.standard.schema import Dataset

    # Quarterly cohorts, as the contract measures them: they count a person with
    # several episodes in a year more than once, so they run above an annual baseline.
    table = measure(Dataset(episodes=episodes, offences=offences), by="provider", period="quarter",
                    model=model, as_of=dt.date(2014, 7, 2))
    pooled = table.filter(pl.col("mature")).group_by("group").agg(
        reoffenders=pl.col("reoffenders").sum(), reoffences=pl.col("reoffences").sum(),
        expected=(pl.col("expected_rate") * pl.col("offenders")).sum(),
        expected_reoffences=pl.col("expected_reoffences").sum())
    drift_b, drift_f = np.zeros(n), np.zeros(n)
    for row in pooled.iter_rows(named=True):
        k = PROVIDERS.index(row["group"])
        drift_b[k] = row["reoffenders"] / row["expected"] - 1 if row["expected"] else 0.0
        drift_f[k] = row["reoffences"] / row["expected_reoffences"] - 1 if row["expected_reoffences"] else 0.0
    return drift_b, drift_f


__all__ = [
    "AREA_IDS", "BASELINE", "N_AREAS", "NPS", "POLR", "POLR_ID", "PROVIDERS", "WORLD_PARAMS", "History",
    "StartingWorld",
    "case_mix_cell", "cell_levels", "day_number", "quarter_start_day", "starting_world",
]
