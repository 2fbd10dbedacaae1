"""The simulated world as data-standard tables.

`world_tables` turns a `WorldRecord` (integer codes and day numbers) into the
`Dataset` the loader would give for files, so the simulated world can be
measured and paid by exactly the code that pays live data, and written out
with `pbrkit.synth.write`. The simulator's in-memory payment path must give
the same numbers as this one; a test holds it to that.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pbrkit.simulate.record import WorldRecord
from pbrkit.standard.schema import RISK_TIERS, SENTENCES, SEXES, Dataset, conform


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    return pl.select(pl.lit(prefix) + pl.Series(np.asarray(numbers, dtype=np.int64)).cast(pl.String)
                     .str.zfill(width)).to_series()


def episode_ids(index: np.ndarray) -> pl.Series:
    """`E000000123`: the episode's row in the record, so ids sort in creation order."""
    return _ids("E", index, 9)


def person_ids(pid: np.ndarray) -> pl.Series:
    return _ids("P", pid, 8)


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def _labels(names: list[str] | tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    return np.asarray(names, dtype=object)[np.asarray(codes, dtype=np.int64)]


def world_tables(record: WorldRecord) -> Dataset:
    """The record's episodes, offences, service events and transfers, conformed:
    a dataset that meets data standard v1 (`pbrkit validate` passes)."""
    n = record.episode_person.size
    episodes = pl.DataFrame({
        "episode_id": episode_ids(np.arange(n)),
        "person_id": person_ids(record.episode_person),
        "start_date": _dates(record.episode_start),
        "area_id": pl.Series(_labels(record.areas, record.episode_area), dtype=pl.String),
        "provider_id": pl.Series(_labels(record.providers, record.episode_provider), dtype=pl.String),
        "sentence": pl.Series(_labels(SENTENCES, record.episode_sentence), dtype=pl.String),
        "risk_tier": pl.Series(_labels(RISK_TIERS, record.episode_risk_tier), dtype=pl.String),
        "age": pl.Series(np.asarray(record.episode_age, dtype=np.int32)),
        "sex": pl.Series(_labels(SEXES, record.episode_sex), dtype=pl.String),
        "prior_offences": pl.Series(np.asarray(record.episode_prior, dtype=np.int32)),
    })
    # Offences of people with no episode in the record (offending before or
    # outside supervision) are a reoffence of nothing here; the standard
    # requires every offence's person in the episodes, so they are left out.
    known = np.isin(record.offence_person, record.episode_person)
    offences = pl.DataFrame({
        "person_id": person_ids(record.offence_person[known]),
        "offence_date": _dates(record.offence_day[known]),
        "disposal_date": _dates(record.disposal_day[known]),
    })
    events = None
    if record.event_episode is not None:
        done = np.asarray(record.event_done)
        complete = np.asarray(record.event_complete)
        events = pl.DataFrame({
            "episode_id": episode_ids(record.event_episode),
            "kind": pl.Series(_labels(record.event_kinds, record.event_kind), dtype=pl.String),
            "due_date": _dates(record.event_due),
            "done_date": _dates(np.where(done >= 0, done, 0)),
            "done": done >= 0,
            "complete": complete == 1,
            "audited": complete >= 0,
        }).select(
            "episode_id", "kind", "due_date",
            done_date=pl.when("done").then("done_date"),
            complete=pl.when("audited").then("complete"),
        )
        events = conform("service_events", events)
    transfers = None
    if record.transfer_episode is not None:
        transfers = conform("transfers", pl.DataFrame({
            "episode_id": episode_ids(record.transfer_episode),
            "transfer_date": _dates(record.transfer_day),
            "to_provider_id": pl.Series(_labels(record.providers, record.transfer_provider), dtype=pl.String),
            "reason": pl.Series(_labels(record.transfer_reasons, record.transfer_reason), dtype=pl.String),
        }))
    return Dataset(
        episodes=conform("episodes", episodes),
        offences=conform("offences", offences),
        service_events=events,
        transfers=transfers,
        source="pbrkit simulate",
    )


def history_record(history, providers: tuple[str, ...], areas: tuple[str, ...]) -> WorldRecord:
    """The pre-contract history (world.History) as a record without events."""
    return WorldRecord(
        providers=list(providers), areas=list(areas),
        episode_person=history.person, episode_start=history.start, episode_provider=history.provider,
        episode_area=history.area, episode_sentence=history.sentence, episode_risk_tier=history.tier,
        episode_age=history.age, episode_sex=history.female.astype(np.int8), episode_prior=history.prior,
        offence_person=history.offence_person, offence_day=history.offence_day,
        disposal_day=history.disposal_day,
    )


def history_tables(history) -> Dataset:
    """The pre-contract history as tables: what the baseline is fitted on."""
    from pbrkit.simulate.world import AREA_IDS, PROVIDERS

    return world_tables(history_record(history, PROVIDERS, AREA_IDS))


__all__ = ["episode_ids", "history_record", "history_tables", "person_ids", "world_tables"]
