"""The people of a simulated world, as parallel NumPy arrays (one row a person).

A national world holds about half a million people who can still offend or
are still supervised, and a million more arrive over seven years; the
kernel touches every one of them every quarter. Parallel typed arrays, not
objects, keep each step a few passes of compiled loops (`kernel_jit`) and
NumPy over columns. People whose
criminal career is over and who have nothing pending leave the arrays
(`compact`), and new entrants join them (`extend`), so the arrays hold only
the live population.
"""

from __future__ import annotations

import numpy as np

INF = np.inf

#: Previous episodes each person remembers for counting reoffences.
RING = 4

# Phases of a person's life in the kernel.
AT_LIBERTY = 0  # in a spell at liberty (offending, perhaps supervised)
WAITING = 1  # in custody, or not yet arrived: a spell starts at `next_start`

#: Every column: dtype (a sub-array dtype for a 2-D column) and the value a
#: new row takes when not given.
FIELDS: dict[str, tuple[object, object]] = {
    # who the person is (fixed for life)
    "pid": (np.int64, -1),  # global person number (person_id = P%08d)
    "female": (np.bool_, False),
    "entry_day": (np.float64, 0.0),
    "entry_age": (np.float64, 0.0),
    "first_age": (np.float64, 0.0),  # age at first sanction (OGRS3)
    "area": (np.int16, 0),
    "frailty": (np.float64, 1.0),
    "harm": (np.float64, 0.0),
    "desist": (np.float64, INF),  # the criminal career ends
    # where they are
    "phase": (np.int8, WAITING),
    "next_start": (np.float64, INF),  # WAITING: the day the next spell starts
    "next_sentence": (np.int8, 0),
    "next_prior": (np.int32, 0),
    # the current spell
    "sp_no": (np.int32, 0),  # spells so far (the address of spell draws)
    "sp_start": (np.float64, 0.0),
    "sp_prior": (np.int32, 0),
    "sp_rate": (np.float64, 0.0),  # offences a year at status-quo supervision
    "sp_sentencing": (np.float64, 0.0),  # chance a proven offence in this spell brings a sentence
    "rate_day": (np.float64, 0.0),  # offences a day now: sp_rate / 365.25 at liberty, 0 otherwise
    "sp_count": (np.int32, 0),  # offences committed in the spell
    "stop": (np.float64, INF),  # day a sentence ends the spell (a disposal), if known
    # the offence clock (common random numbers: offence k of the person)
    "hazard": (np.float64, 0.0),  # cumulative hazard left before the next offence
    "n_off": (np.int32, 0),  # offences so far (the address of offence draws)
    # the current episode of supervision
    "ep_id": (np.int64, -1),  # row in the world's episode log, -1 none
    "ep_start": (np.int64, 0),  # start day (integer, as the data standard stores it)
    "ep_until": (np.float64, -INF),  # supervision ends (start + supervision, or custody)
    "ep_provider": (np.int16, -1),  # provider in the data (contract holder)
    "ep_operator": (np.int16, -1),  # who delivers (a prime, subcontractor, NPS, PoLR)
    "ep_segment": (np.int16, 0),  # level x risk quintile, without the reoffended state
    "ep_known": (np.float64, INF),  # day the first reoffence in the follow-up is proven
    "ep_service": (np.float64, 1.0),  # multiplier on offending from the service events
    "ep_term": (np.bool_, False),  # the episode's cohort is one the contract pays for
    # the episodes before it, whose follow-up may still be running: a ring of
    # RING slots per person (a row of a 2-D column), `ring_head` the slot written last
    "prev_id": ((np.int32, (RING,)), -1),
    "prev_start": ((np.int32, (RING,)), 0),
    "ring_head": (np.int8, 0),
    "overflow": (np.bool_, False),  # has an older episode still in follow-up (Logbook.overflow)
    # offences on the person's latest offence day (an episode starting that day,
    # after them, still counts them: the standard counts whole days)
    "last_day": (np.int32, -1),
    "last_day_n": (np.int32, 0),
}


class Population:
    """Parallel arrays, one row per live person (see `FIELDS`).

    Storage is allocated once for `capacity` rows; the attributes are views of
    the first `n`, so adding people writes into spare rows instead of copying
    every column."""

    def __init__(self, capacity: int, **values: np.ndarray):
        self.n = 0
        self._store = {name: np.empty(capacity, dtype=dtype) for name, (dtype, _) in FIELDS.items()}
        self._view()
        if values:
            self.extend(len(next(iter(values.values()))), **values)

    def _view(self) -> None:
        for name, store in self._store.items():
            setattr(self, name, store[: self.n])

    @property
    def capacity(self) -> int:
        return next(iter(self._store.values())).size

    def extend(self, n: int, **values: np.ndarray) -> np.ndarray:
        """Add n people; columns not given take their default. Returns their rows."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise KeyError(f"unknown population fields: {sorted(unknown)}")
        if self.n + n > self.capacity:
            grow = max(self.n + n, 2 * self.capacity)
            for name, (dtype, _) in FIELDS.items():
                store = np.empty(grow, dtype=dtype)
                store[: self.n] = self._store[name][: self.n]
                self._store[name] = store
        rows = slice(self.n, self.n + n)
        for name, (_, fill) in FIELDS.items():
            self._store[name][rows] = values[name] if name in values else fill
        self.n += n
        self._view()
        return np.arange(rows.start, rows.stop)

    def compact(self, keep: np.ndarray) -> None:
        """Keep only the rows where `keep` is true (people who have left drop out)."""
        m = int(np.count_nonzero(keep))
        rows = np.flatnonzero(keep)
        for name in FIELDS:
            store = self._store[name]
            store[:m] = store.take(rows, axis=0)
        self.n = m
        self._view()

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FIELDS}


__all__ = ["AT_LIBERTY", "FIELDS", "INF", "RING", "WAITING", "Population"]
