"""The counterfactual world, run person by person.

Under the status quo every operator works at the status-quo effort and
service quality, and every low or medium case goes to its area's operator:
nothing anyone does depends on anyone else. So instead of stepping the whole
population quarter by quarter (`kernel.World`), each person's whole run is
taken at once (`kernel_jit.status_quo_people`), with their state held in
registers rather than re-read from a million-row column every quarter. It
makes exactly the same draws with the same arithmetic, so every offence,
sentence and episode is the quarter-by-quarter kernel's; a test holds the
two to each other, episode for episode.

`StatusQuoWorld` offers the part of `World` a counterfactual `Run` reads:
`step` hands over a quarter's episodes (numbered in quarter order) and its
tally of new episodes by operator, and the log counts each episode's proven
reoffences. It logs no offences or service events: no status-quo contract
pays on them, and the quarter-by-quarter `World` remains for runs that do
(and for the design world, whose providers react to one another).
"""

from __future__ import annotations

import numpy as np

from pbrkit.simulate import kernel_jit
from pbrkit.simulate.kernel import (
    _PURPOSES,
    _SPELLS,
    N_LEVELS,
    SEGMENTS_PER_LEVEL,
    Entrants,
    Policy,
    Routing,
    Tally,
    event_model,
)
from pbrkit.simulate.logbook import EPISODE_DTYPES, EPISODE_FIELDS, Logbook
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.world import AGE_CUTS, NPS, N_AREAS, PRIOR_CUTS, StartingWorld, quarter_start_day


class StatusQuoWorld:
    """The status-quo world of a replicate, run at once when first stepped."""

    def __init__(self, start: StartingWorld, params: ModelParams, key: np.uint64, entrants: Entrants,
                 n_quarters: int, n_ops: int, segment: str | None, term: int, horizon: int):
        self.start, self.key, self.entrants = start, np.uint64(key), entrants
        self.n_quarters, self.n_ops, self.term = n_quarters, n_ops, term
        self.n_steps = min(horizon + 1, n_quarters)
        self.segment, self.n_levels = segment, N_LEVELS[segment]
        self.n_seg = self.n_levels * SEGMENTS_PER_LEVEL
        self.qdays = np.array([quarter_start_day(start.start_quarter + q) for q in range(n_quarters + 1)])
        self._events = event_model(params)
        self.log = Logbook(start.history.size, start.start_day - 1000, keep=False)
        self._episodes: list[dict[str, np.ndarray]] | None = None

    def step(self, q: int, policy: Policy, routing: Routing, admit: bool = True) -> Tally:
        """Quarter q's episodes into the log; the tally of its new episodes."""
        if self._episodes is None:
            self.run(policy, routing)
        ep = self._episodes[q]
        self.log.close_quarter(q)  # no offences or events are logged
        self.log.episodes[q] = ep
        tally = Tally(self.n_ops, self.n_seg)
        tally.episodes += np.bincount(ep["operator"].astype(np.int64), minlength=self.n_ops)
        return tally

    def trim(self, day: float, first_id: int, end_id: int) -> None:
        """Done in the run: a person without a term episode in follow-up leaves at quarters term and term + 2."""

    def run(self, policy: Policy, routing: Routing) -> None:
        """Run every person through every quarter (`step` does, when first called)."""
        if not (routing.contract_share == 1.0 and routing.subcontractors.size == 0
                and np.array_equal(routing.area_operator, np.arange(N_AREAS))
                and np.array_equal(routing.area_provider, np.arange(N_AREAS))):
            raise ValueError("the status-quo world gives every low or medium case to its area's operator")
        if not np.all(policy.relative == 1.0):
            raise ValueError("the status-quo world's operators work at the status-quo effort")
        people, e = self.start.people, self.entrants
        if not _STARTING.isdisjoint(people):
            raise ValueError(f"the kernel starts {sorted(_STARTING & set(people))} afresh, as `World` does")
        # Entrants join in the quarter they arrive, if it is in the term.
        arrive = np.searchsorted(self.qdays, e.entry_day, side="right") - 1
        arrive = np.where(arrive < self.term, arrive, np.iinfo(np.int64).max)
        room = 2 * (people["pid"].size + e.pid.size) + 1024
        while True:
            out = np.empty(kernel_jit.STATUS_QUO_COLUMNS * room, np.int32)
            counts = np.zeros(room, np.int64)
            n = kernel_jit.status_quo_people(
                self.key, _PURPOSES, _SPELLS, self._events, np.ascontiguousarray(policy.quality, dtype=np.float64),
                NPS, tuple(int(a) for a in AGE_CUTS), tuple(int(p) for p in PRIOR_CUTS),
                tuple(float(r) for r in self.start.risk_cuts), np.asarray(self.qdays, dtype=np.float64),
                self.n_steps, self.term, *(people[f] for f in _PEOPLE), e.pid, e.female, e.entry_day, e.entry_age,
                e.first_age, e.area, e.frailty, e.harm, e.desist, e.sentence, e.prior, arrive, out, counts)
            if n >= 0:
                break
            room *= 2
        rows = np.empty((n, kernel_jit.STATUS_QUO_COLUMNS), np.int32)
        first = self.log.next_id
        ids = self.log.new_ids(n)
        bounds = kernel_jit.in_quarter_order(out, counts, n, self.n_quarters, rows,
                                             self.log.reoffence_counts()[first: first + n])
        del out, counts
        self._episodes = []
        for q in range(self.n_quarters):
            part = rows[bounds[q]: bounds[q + 1]]
            ep = {"id": ids[bounds[q]: bounds[q + 1]]}
            for i, f in enumerate(EPISODE_FIELDS[1:], start=1):
                ep[f] = part[:, i].astype(EPISODE_DTYPES[f])
            self._episodes.append(ep)


#: The starting population's columns the kernel reads (`population.FIELDS` names) ...
_PEOPLE = ("pid", "female", "entry_day", "entry_age", "first_age", "area", "frailty", "harm", "desist", "phase",
           "next_start", "next_sentence", "next_prior", "sp_start", "sp_prior", "sp_rate", "sp_count", "stop", "ep_id",
           "ep_until")
#: ... and those it starts as `World._initial_population` does (the offence
#: clock, the spell's rate and sentencing chance) or at their defaults.
_STARTING = frozenset({"sp_no", "sp_sentencing", "rate_day", "hazard", "n_off", "ep_service", "last_day",
                       "last_day_n"})

__all__ = ["StatusQuoWorld"]
