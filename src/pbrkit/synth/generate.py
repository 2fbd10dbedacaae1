"""Build a data-standard dataset from the simulated people.

The simulated world is reported the way a ministry would extract it on the
last day of the window: supervised spells become episodes; offences appear
once they are proven (disposed) by the extract date; service events and
risk-escalation transfers are drawn for each episode.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from pbrkit.standard.schema import SENTENCES, Dataset, conform
from pbrkit.synth.areas import AREAS, NPS_ID, area_shares
from pbrkit.synth.params import SynthParams
from pbrkit.synth.people import CUSTODY_LONG, CUSTODY_SHORT, Spells, simulate

EPOCH = dt.date(1970, 1, 1)

Progress = Callable[[str, float], None]  # (stage description, fraction done 0..1)


def _day(d: dt.date) -> int:
    return (d - EPOCH).days


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.floor(days).astype(np.int32)).cast(pl.Date)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Expr:
    return pl.lit(prefix) + pl.Series(numbers).cast(pl.String).str.zfill(width)


def end_date(start: dt.date, years: int) -> dt.date:
    """The last day of a window of whole years (the extract date)."""
    return dt.date(start.year + years, start.month, start.day) - dt.timedelta(days=1)


def generate(start: str | dt.date = "2011-01-01", years: int = 7, scale: float = 1.0, seed: int = 1,
             params: SynthParams | None = None, progress: Progress | None = None) -> Dataset:
    """A synthetic national probation population in data standard v1.

    Deterministic: the same arguments give the same tables, row for row.
    """
    if years < 1:
        raise ValueError("years must be at least 1")
    if not scale > 0:
        raise ValueError("scale must be positive")
    params = params or SynthParams()
    start = dt.date.fromisoformat(start) if isinstance(start, str) else start
    last = end_date(start, years)
    first_day, start_day, last_day = (_day(start) - round(params.burn_in_years * 365.25), _day(start), _day(last) + 1)
    rng = np.random.default_rng(seed)
    report = progress or (lambda stage, frac: None)
    report("simulating people", 0.0)

    def on_generation(k: int, n: int) -> None:
        report(f"simulating people (spell generation {k}, {n:,} spells)", min(0.8, 0.8 * (1 - 0.8 ** k)))

    shares = np.asarray(area_shares())
    people, spells, offences = simulate(params, rng, first_day, last_day, _day(params.ora_date),
                                        scale, shares, on_generation)
    report("writing episodes", 0.8)
    in_window = spells.supervised & (spells.start >= start_day) & (spells.start < last_day)
    episodes = _episode_frame(params, rng, people.area, people.female, spells, in_window)
    persons = episodes.get_column("person_idx").unique().to_numpy()
    report("writing offences", 0.85)
    proven = ((offences.offence_day >= start_day) & (offences.disposal_day < last_day)
              & np.isin(offences.person, persons))
    offence_frame = pl.DataFrame({
        "person_id": _person_ids(offences.person[proven]),
        "offence_date": _dates(offences.offence_day[proven]),
        "disposal_date": _dates(offences.disposal_day[proven]),
    }).sort("offence_date", "person_id", "disposal_date")
    report("writing service events and transfers", 0.9)
    service_events = _service_events(params, rng, episodes, last_day)
    transfers = _transfers(params, rng, episodes, last_day)
    report("done", 1.0)
    return Dataset(
        episodes=conform("episodes", episodes.drop("person_idx")),
        offences=conform("offences", offence_frame),
        service_events=conform("service_events", service_events),
        transfers=conform("transfers", transfers),
        source=f"pbrkit synth start={start} years={years} scale={scale} seed={seed}",
    )


def _person_ids(person: np.ndarray) -> pl.Series:
    return pl.select(_ids("P", person, 8)).to_series()


def _episode_frame(params: SynthParams, rng: np.random.Generator, person_area: np.ndarray,
                   person_female: np.ndarray, spells: Spells, in_window: np.ndarray) -> pl.DataFrame:
    idx = np.flatnonzero(in_window)
    order = np.lexsort((spells.person[idx], spells.start[idx]))
    idx = idx[order]
    person = spells.person[idx]
    sentence = spells.sentence[idx]
    area = person_area[person]
    high = spells.high_risk[idx]
    ogrs = spells.ogrs[idx]
    tier = np.where(high, 2, np.where(ogrs >= params.medium_ogrs_cut, 1, 0))
    area_ids = np.array([a.area_id for a in AREAS])
    crc_ids = np.array([a.crc_id for a in AREAS])
    custody = (sentence == CUSTODY_SHORT) | (sentence == CUSTODY_LONG)
    prison = rng.integers(1, params.prisons_per_area + 1, idx.size)
    frame = pl.DataFrame({
        "episode_id": pl.select(_ids("E", np.arange(1, idx.size + 1), 9)).to_series(),
        "person_id": _person_ids(person),
        "start_date": _dates(spells.start[idx]),
        "area_id": area_ids[area],
        "provider_id": np.where(high, NPS_ID, crc_ids[area]),
        "sentence": np.asarray(SENTENCES)[sentence],
        "risk_tier": np.asarray(("low", "medium", "high"))[tier],
        "age": np.floor(spells.age[idx]).astype(np.int32),
        "sex": np.where(person_female[person], "F", "M"),
        "prior_offences": spells.prior[idx].astype(np.int32),
        "ogrs": np.round(ogrs, 1),
        "prison_number": prison,
        "custody": custody,
        "person_idx": person,
    })
    # Releasing prison: one of the few prisons paired with the area (domain.md s.6).
    return frame.with_columns(
        prison_id=pl.when("custody").then(pl.format("prison-{}-{}", "area_id", "prison_number"))
    ).drop("prison_number", "custody")


def _lateness(params: SynthParams, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Days late (0 when on time) and whether the work was done at all."""
    late = np.where(rng.random(n) < params.on_time_share, 0,
                    1 + rng.geometric(1.0 / params.late_mean_days, n))
    done = rng.random(n) >= params.not_done_share
    return late, done


def _service_events(params: SynthParams, rng: np.random.Generator, episodes: pl.DataFrame,
                    last_day: int) -> pl.DataFrame:
    start = episodes.get_column("start_date").cast(pl.Int32).to_numpy()
    custody = episodes.get_column("sentence").is_in(["custody_short", "custody_long"]).to_numpy()
    ids = episodes.get_column("episode_id").to_numpy()
    parts = []
    for kind, due_offset, who in (
        ("release_recorded", 0, custody),
        ("resettlement_plan", params.resettlement_plan_due_days, custody),
        ("induction", params.induction_due_days, np.ones_like(custody)),
    ):
        sel = np.flatnonzero(who)
        due = start[sel] + due_offset
        late, done = _lateness(params, rng, sel.size)
        done_day = due + late
        done &= done_day < last_day
        audited = rng.random(sel.size) < params.audited_share
        empty = rng.random(sel.size) < params.empty_share_when_audited
        parts.append(pl.DataFrame({
            "episode_id": ids[sel],
            "kind": np.full(sel.size, kind),
            "due_date": _dates(due),
            "done_date": _dates(done_day),
            "done": done,
            "audited": audited & done,  # only work that was done can be audited
            "empty": empty,
        }))
    return pl.concat(parts).select(
        "episode_id", "kind", "due_date",
        done_date=pl.when("done").then("done_date"),
        complete=pl.when("audited").then(~pl.col("empty")),
    ).filter(pl.col("due_date") < pl.lit(last_day).cast(pl.Date)).sort(
        "due_date", "episode_id", "kind")


def _transfers(params: SynthParams, rng: np.random.Generator, episodes: pl.DataFrame,
               last_day: int) -> pl.DataFrame:
    crc = episodes.filter(pl.col("provider_id") != NPS_ID)
    n = crc.height
    # A constant yearly hazard over the first year of supervision.
    p = 1.0 - np.exp(-params.escalation_rate_per_year)
    escalate = rng.random(n) < p
    offset = rng.integers(1, 366, n)
    day = crc.get_column("start_date").cast(pl.Int32).to_numpy() + offset
    keep = escalate & (day < last_day)
    return pl.DataFrame({
        "episode_id": crc.get_column("episode_id").to_numpy()[keep],
        "transfer_date": _dates(day[keep]),
        "to_provider_id": np.full(int(keep.sum()), NPS_ID),
        "reason": np.full(int(keep.sum()), "risk_escalation"),
    }).sort("transfer_date", "episode_id")


def write(data: Dataset, out: str | Path, fmt: Literal["parquet", "csv"] = "parquet") -> list[Path]:
    """Write each table as `<table>.<fmt>`, atomically: all tables or none.

    Files are written to a temporary sibling directory first and moved into
    place only when every table is written, so a failure leaves nothing half-written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pbrkit-synth-", dir=out))
    written = []
    try:
        for name, frame in data.tables().items():
            path = tmp / f"{name}.{fmt}"
            if fmt == "parquet":
                frame.write_parquet(path)
            else:
                frame.write_csv(path, date_format="%Y-%m-%d")
            written.append(path)
        final = []
        for path in written:
            target = out / path.name
            for stale in out.glob(f"{path.stem}.*"):
                if stale.suffix in (".csv", ".parquet"):
                    stale.unlink()
            path.replace(target)
            final.append(target)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
