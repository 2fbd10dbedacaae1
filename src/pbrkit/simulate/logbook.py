"""What happened in a simulated world, as data-standard rows held in arrays.

Every episode started, offence committed, service event due and case
transferred is appended here, quarter by quarter, in the data standard's
terms (integer codes and day numbers). The payment bridge reads the rows of
the quarter it pays; the offences are also kept as each quarter's sorted
reoffence windows, so a maturing cohort is counted with two binary searches
per episode. With `keep` the whole log survives the run and becomes the
replicate's `WorldRecord`; without it, rows no statement or metric can read
again are dropped as the run goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbrkit.measure.periods import DISPOSAL_LAST_DAY, FOLLOW_UP_LAST_DAY
from pbrkit.simulate.record import WorldRecord

EPISODE_FIELDS = ("id", "pid", "start", "provider", "area", "sentence", "tier", "age", "female", "prior",
                  "cell", "operator", "rq", "term")
EVENT_FIELDS = ("episode", "kind", "due", "done", "complete", "proper", "operator", "provider")
#: Key layout for reoffence windows: person * SPAN + (day - base). Days of a
#: simulated run span far less than SPAN.
SPAN = 1 << 14


@dataclass
class Windows:
    """One quarter's offences as the windows of episode start days each is a
    proven reoffence of (see `pbrkit.measure.cohorts.ReoffenceWindows`):
    `lo <= start <= hi` with `hi = offence day`, `lo = max(offence - 364, disposal - 547)`."""

    opened: np.ndarray  # sorted window-start keys
    closed: np.ndarray  # sorted window-end keys

    @classmethod
    def of(cls, pid: np.ndarray, day: np.ndarray, disposal: np.ndarray, base: int) -> Windows:
        lo = np.maximum(day - FOLLOW_UP_LAST_DAY, disposal - DISPOSAL_LAST_DAY)
        ok = lo <= day
        key = pid[ok] * SPAN - base
        return cls(np.sort(key + lo[ok]), np.sort(key + day[ok]))

    def count(self, sorted_keys: np.ndarray) -> np.ndarray:
        """Windows containing each (sorted) episode key."""
        return (np.searchsorted(self.opened, sorted_keys, side="right")
                - np.searchsorted(self.closed, sorted_keys, side="left"))


class Chunks:
    """Rows appended in parts during a quarter, joined when the quarter ends."""

    def __init__(self, fields: tuple[str, ...]):
        self.fields = fields
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols: np.ndarray) -> None:
        if next(iter(cols.values())).size:
            self.parts.append(cols)

    def join(self, dtypes: dict[str, type]) -> dict[str, np.ndarray]:
        if not self.parts:
            return {f: np.zeros(0, dtype=dtypes[f]) for f in self.fields}
        return {f: np.concatenate([p[f] for p in self.parts]).astype(dtypes[f], copy=False) for f in self.fields}


EPISODE_DTYPES = {"id": np.int64, "pid": np.int64, "start": np.int64, "provider": np.int16, "area": np.int16,
                  "sentence": np.int8, "tier": np.int8, "age": np.int16, "female": np.bool_, "prior": np.int32,
                  "cell": np.int64, "operator": np.int16, "rq": np.int8, "term": np.bool_}
EVENT_DTYPES = {"episode": np.int64, "kind": np.int8, "due": np.int64, "done": np.int64, "complete": np.int8,
                "proper": np.bool_, "operator": np.int16, "provider": np.int16}
OFFENCE_DTYPES = {"pid": np.int64, "day": np.int64, "disposal": np.int64}


class Logbook:
    """A world's episodes, offences, service events and transfers, by quarter."""

    def __init__(self, first_episode_id: int, base_day: int, keep: bool):
        self.keep = keep
        self.base = base_day
        self.next_id = first_episode_id
        self.episodes: dict[int, dict[str, np.ndarray]] = {}
        self.events: dict[int, dict[str, np.ndarray]] = {}
        self.offences: dict[int, dict[str, np.ndarray]] = {}
        #: Proven reoffences of each episode (by id), counted as offences happen.
        self.counts = np.zeros(max(first_episode_id, 1024), dtype=np.int32)
        #: Episodes whose follow-up outlived their person's memory of episodes
        #: (a person with more than RING + 1 episodes in a year), sorted by person.
        self.overflow_pid = np.zeros(0, dtype=np.int64)
        self.overflow_id = np.zeros(0, dtype=np.int64)
        self.overflow_start = np.zeros(0, dtype=np.int64)
        self._episodes = Chunks(EPISODE_FIELDS)
        self._events = Chunks(EVENT_FIELDS)
        self._offences = Chunks(("pid", "day", "disposal"))
        # transfers, by episode id (sorted arrays rebuilt when one is added)
        self.transfer_episode = np.zeros(0, dtype=np.int64)
        self.transfer_day = np.zeros(0, dtype=np.int64)
        self.transfer_to = np.zeros(0, dtype=np.int16)
        self.transfer_reason = np.zeros(0, dtype=np.int8)

    # --- writing -----------------------------------------------------------------
    def new_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return ids

    def add_episodes(self, **cols: np.ndarray) -> None:
        self._episodes.add(**cols)

    def add_events(self, **cols: np.ndarray) -> None:
        self._events.add(**cols)

    def add_offences(self, pid: np.ndarray, day: np.ndarray, disposal: np.ndarray) -> None:
        self._offences.add(pid=pid, day=day, disposal=disposal)

    def _ensure(self, size: int) -> None:
        if size > self.counts.size:
            grown = np.zeros(max(size, 2 * self.counts.size), dtype=np.int32)
            grown[: self.counts.size] = self.counts
            self.counts = grown

    def count(self, episode_ids: np.ndarray) -> None:
        """One proven reoffence for each id given (repeats count again)."""
        if episode_ids.size:
            self._ensure(int(episode_ids.max()) + 1)
            ids, n = np.unique(episode_ids, return_counts=True)
            self.counts[ids] += n.astype(np.int32)

    def reoffence_counts(self, room: int = 0) -> np.ndarray:
        """The proven reoffences of every episode numbered so far and of `room`
        more, for the kernel to add to in place."""
        self._ensure(self.next_id + room)
        return self.counts

    def overflow(self, pid: np.ndarray, episode: np.ndarray, start: np.ndarray) -> None:
        """Episodes a person no longer remembers while their follow-up runs: kept
        here, by person, so their reoffences are still counted (`overflow_hits`)."""
        keep = self.overflow_start >= int(start.min()) - 366  # entries whose follow-up has ended go
        pid_ = np.concatenate([self.overflow_pid[keep], pid])
        order = np.argsort(pid_, kind="stable")
        self.overflow_pid = pid_[order]
        self.overflow_id = np.concatenate([self.overflow_id[keep], episode])[order]
        self.overflow_start = np.concatenate([self.overflow_start[keep], start])[order]

    def overflow_hits(self, pid: np.ndarray, day: np.ndarray, disposal: np.ndarray) -> np.ndarray:
        """Ids of the overflowed episodes each offence is a proven reoffence of."""
        lo = np.searchsorted(self.overflow_pid, pid, side="left")
        hi = np.searchsorted(self.overflow_pid, pid, side="right")
        n = hi - lo
        if not n.any():
            return np.zeros(0, dtype=np.int64)
        off = np.repeat(np.arange(pid.size), n)
        row = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        start = self.overflow_start[row]
        since = day[off] - start
        ok = (since >= 0) & (since <= FOLLOW_UP_LAST_DAY) & (disposal[off] - start <= DISPOSAL_LAST_DAY)
        return self.overflow_id[row[ok]]

    def add_transfers(self, episode: np.ndarray, day: int, to: int, reason: int) -> None:
        if episode.size == 0:
            return
        ep = np.concatenate([self.transfer_episode, episode])
        order = np.argsort(ep, kind="stable")
        self.transfer_episode = ep[order]
        self.transfer_day = np.concatenate([self.transfer_day, np.full(episode.size, day)])[order]
        self.transfer_to = np.concatenate([self.transfer_to, np.full(episode.size, to, dtype=np.int16)])[order]
        self.transfer_reason = np.concatenate(
            [self.transfer_reason, np.full(episode.size, reason, dtype=np.int8)])[order]

    def close_quarter(self, q: int) -> None:
        """Join the quarter's rows."""
        self.episodes[q] = self._episodes.join(EPISODE_DTYPES)
        self.events[q] = self._events.join(EVENT_DTYPES)
        self.offences[q] = self._offences.join(OFFENCE_DTYPES)
        self._episodes, self._events, self._offences = Chunks(EPISODE_FIELDS), Chunks(EVENT_FIELDS), Chunks(
            ("pid", "day", "disposal"))

    def forget(self, q: int) -> None:
        """Drop quarter q's rows once its cohort is measured: every later cohort
        reads only later offences, and every statement only later events."""
        if self.keep:
            return
        for table in (self.episodes, self.events, self.offences):
            table.pop(q, None)

    # --- reading -----------------------------------------------------------------
    def reoffences(self, ids: np.ndarray) -> np.ndarray:
        """Proven reoffences of each episode (the data standard's rule), as counted
        while its follow-up ran."""
        self._ensure(int(ids.max(initial=0)) + 1)
        return self.counts[ids].astype(np.int64)

    def transferred(self, episode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each episode: the day it was transferred (large if never) and to whom (-1)."""
        if self.transfer_episode.size == 0:
            return np.full(episode.size, np.iinfo(np.int64).max), np.full(episode.size, -1, dtype=np.int16)
        pos = np.searchsorted(self.transfer_episode, episode)
        pos = np.minimum(pos, self.transfer_episode.size - 1)
        hit = self.transfer_episode[pos] == episode
        return (np.where(hit, self.transfer_day[pos], np.iinfo(np.int64).max),
                np.where(hit, self.transfer_to[pos], -1).astype(np.int16))

    def record(self, history, providers, areas, event_kinds, transfer_reasons) -> WorldRecord:
        """The whole world as a `WorldRecord`: history rows first, then the contract's."""
        qs = sorted(self.episodes)
        ep = {f: np.concatenate([self.episodes[q][f] for q in qs]) if qs else np.zeros(0) for f in EPISODE_FIELDS}
        n_hist = history.size
        if ep["id"].size and not np.array_equal(ep["id"], np.arange(n_hist, n_hist + ep["id"].size)):
            raise AssertionError("episode ids are not consecutive: was the log kept whole (keep=True)?")
        ev = {f: np.concatenate([self.events[q][f] for q in qs]) for f in EVENT_FIELDS}
        off = {f: np.concatenate([self.offences[q][f] for q in qs]) for f in ("pid", "day", "disposal")}
        order = np.argsort(ev["due"], kind="stable")
        ev = {f: v[order] for f, v in ev.items()}
        return WorldRecord(
            providers=list(providers), areas=list(areas),
            episode_person=np.concatenate([history.person, ep["pid"]]),
            episode_start=np.concatenate([history.start, ep["start"]]),
            episode_provider=np.concatenate([history.provider, ep["provider"]]),
            episode_area=np.concatenate([history.area, ep["area"]]),
            episode_sentence=np.concatenate([history.sentence, ep["sentence"]]),
            episode_risk_tier=np.concatenate([history.tier, ep["tier"]]),
            episode_age=np.concatenate([history.age, ep["age"]]),
            episode_sex=np.concatenate([history.female, ep["female"]]).astype(np.int8),
            episode_prior=np.concatenate([history.prior, ep["prior"]]),
            offence_person=np.concatenate([history.offence_person, off["pid"]]),
            offence_day=np.concatenate([history.offence_day, off["day"]]),
            disposal_day=np.concatenate([history.disposal_day, off["disposal"]]),
            event_episode=ev["episode"], event_kind=ev["kind"], event_due=ev["due"], event_done=ev["done"],
            event_complete=ev["complete"], event_kinds=list(event_kinds),
            transfer_episode=self.transfer_episode, transfer_day=self.transfer_day,
            transfer_provider=self.transfer_to, transfer_reason=self.transfer_reason,
            transfer_reasons=list(transfer_reasons),
        )


__all__ = ["EPISODE_FIELDS", "EVENT_FIELDS", "SPAN", "Logbook", "Windows"]
