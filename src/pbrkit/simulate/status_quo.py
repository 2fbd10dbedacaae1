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

from pbrkit.simulate import draws, kernel_jit
from pbrkit.simulate.kernel import _PURPOSES, _SPELLS, Entrants, Policy, Routing, Tally, World
from pbrkit.simulate.logbook import EPISODE_DTYPES, EPISODE_FIELDS, Logbook
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.population import WAITING
from pbrkit.simulate.world import AGE_CUTS, NPS, N_AREAS, PRIOR_CUTS, StartingWorld


class StatusQuoWorld:
    """The status-quo world of a replicate, run at once when first stepped."""

    def __init__(self, start: StartingWorld, params: ModelParams, key: np.uint64, entrants: Entrants,
                 n_quarters: int, n_ops: int, segment: str | None, term: int, horizon: int):
        self._world = World(start, params, key, entrants, n_quarters, n_ops, segment)
        self.start, self.key, self.entrants = start, np.uint64(key), entrants
        self.n_quarters, self.n_ops, self.term = n_quarters, n_ops, term
        self.n_steps = min(horizon + 1, n_quarters)
        self.segment, self.n_levels, self.n_seg = segment, self._world.n_levels, self._world.n_seg
        self.qdays = self._world.qdays
        self.log = Logbook(start.history.size, start.start_day - 1000, keep=False)
        self._episodes: list[dict[str, np.ndarray]] | None = None

    def step(self, q: int, policy: Policy, routing: Routing, admit: bool = True) -> Tally:
        """Quarter q's episodes into the log; the tally of its new episodes."""
        if self._episodes is None:
            self._run(policy, routing)
        ep = self._episodes[q]
        self.log.close_quarter(q)  # no offences or events are logged
        self.log.episodes[q] = ep
        tally = Tally(self.n_ops, self.n_seg)
        tally.episodes += np.bincount(ep["operator"].astype(np.int64), minlength=self.n_ops)
        return tally

    def trim(self, day: float, first_id: int, end_id: int) -> None:
        """Done in the run: a person without a term episode in follow-up leaves at quarters term and term + 2."""

    def _run(self, policy: Policy, routing: Routing) -> None:
        if not (routing.contract_share == 1.0 and routing.subcontractors.size == 0
                and np.array_equal(routing.area_operator, np.arange(N_AREAS))
                and np.array_equal(routing.area_provider, np.arange(N_AREAS))):
            raise ValueError("the status-quo world gives every low or medium case to its area's operator")
        if not np.all(policy.relative == 1.0):
            raise ValueError("the status-quo world's operators work at the status-quo effort")
        pop, e, w = self._world.pop, self.entrants, self._world
        # The starting population joins at once; entrants in the quarter they
        # arrive, if it is in the term.
        arrive = np.searchsorted(self.qdays, e.entry_day, side="right") - 1
        arrive = np.where(arrive < self.term, arrive, np.iinfo(np.int64).max)
        n_e = e.pid.size

        def col(name, entrant_values, dtype=None):
            column = getattr(pop, name)
            return np.concatenate([column, np.asarray(entrant_values, dtype=dtype or column.dtype)])

        def fill(name):
            return col(name, np.full(n_e, _DEFAULTS[name]))

        hazard_e = draws.exponential(self.key, e.pid, 0, draws.GAP)
        out, counts = kernel_jit.status_quo_people(
            self.key, _PURPOSES, _SPELLS, w.events, np.ascontiguousarray(policy.quality, dtype=np.float64), NPS,
            tuple(int(a) for a in AGE_CUTS), tuple(int(p) for p in PRIOR_CUTS),
            tuple(float(r) for r in self.start.risk_cuts), np.asarray(self.qdays, dtype=np.float64), self.n_steps,
            self.term, np.concatenate([np.zeros(pop.n, np.int64), arrive]),
            col("pid", e.pid), col("female", e.female), col("entry_day", e.entry_day), col("entry_age", e.entry_age),
            col("first_age", e.first_age), col("area", e.area), col("frailty", e.frailty), col("harm", e.harm),
            col("desist", e.desist), col("phase", np.full(n_e, WAITING)), col("next_start", e.entry_day),
            col("next_sentence", e.sentence), col("next_prior", e.prior), fill("sp_no"), fill("sp_start"),
            fill("sp_prior"), fill("sp_sentencing"), fill("rate_day"), fill("sp_count"), fill("stop"),
            col("hazard", hazard_e), fill("n_off"), fill("ep_id"), fill("ep_until"), fill("ep_service"),
            fill("last_day"), fill("last_day_n"))
        self._world = None  # its population is no longer needed
        rows = out.reshape(-1, kernel_jit.STATUS_QUO_COLUMNS)
        order = np.argsort(rows[:, 0], kind="stable")  # quarter by quarter, each in person order
        rows = rows[order]
        first = self.log.next_id
        ids = self.log.new_ids(order.size)
        self.log.reoffence_counts()[first: first + order.size] = counts[order]
        bounds = np.searchsorted(rows[:, 0], np.arange(self.n_quarters + 1))
        self._episodes = []
        for q in range(self.n_quarters):
            part = rows[bounds[q]: bounds[q + 1]]
            ep = {"id": ids[bounds[q]: bounds[q + 1]]}
            for i, f in enumerate(EPISODE_FIELDS[1:], start=1):
                ep[f] = part[:, i].astype(EPISODE_DTYPES[f])
            self._episodes.append(ep)


def _defaults() -> dict[str, object]:
    from pbrkit.simulate.population import FIELDS

    return {name: fill for name, (_, fill) in FIELDS.items()}


_DEFAULTS = _defaults()

__all__ = ["StatusQuoWorld"]
