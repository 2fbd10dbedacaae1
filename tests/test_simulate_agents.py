"""The benchmark's agent-per-offender baseline (bench/agent_baseline.py) takes
the kernel's quarter step, so `make bench`'s speed ratio compares two
implementations of one model: on the same world, key and entrants, quarter by
quarter, the same offences (person, day, disposal day), the same new episodes
with the same reoffence counts, the same service events, the same tally, and
the same people left with the same offence clocks, to the bit.

The baseline lives with the benchmark, not in the package (nothing but the
benchmark runs it), so this test puts bench/ on the import path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_simulate_kernel import SEED, world

from pbrkit.simulate import draws
from pbrkit.simulate.kernel import Policy, Routing, World
from pbrkit.simulate.params import EVENT_KINDS, ModelParams
from pbrkit.simulate.projection import status_quo_setup
from pbrkit.simulate.world import N_AREAS, PROVIDERS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from agent_baseline import AgentWorld, exponential, uniform, uniform_pair  # noqa: E402

QUARTERS = 6


def test_scalar_draws_are_the_kernels_draws():
    rng = np.random.default_rng(0)
    key = draws.replicate_key(rng)
    person = rng.integers(0, 2**31, 2000)
    counter = rng.integers(0, 2**27, 2000)
    for purpose in (draws.GAP, draws.COURT, draws.EVENT_AUDIT + 2):
        addresses = list(zip(person.tolist(), counter.tolist(), strict=True))
        assert [uniform(int(key), p, c, purpose) for p, c in addresses] == draws.uniform(
            key, person, counter, purpose).tolist()
        assert [exponential(int(key), p, c, purpose) for p, c in addresses] == draws.exponential(
            key, person, counter, purpose).tolist()
        hi, lo = draws.uniform_pair(key, person, counter, purpose)
        assert [uniform_pair(int(key), p, c, purpose) for p, c in addresses] == list(
            zip(hi.tolist(), lo.tolist(), strict=True))


def status_quo():
    """Public provision everywhere, as the benchmark runs it."""
    return status_quo_setup(world(), ModelParams(), seed=SEED, quarters=QUARTERS)


def contracted():
    """Providers who change offending by segment and event quality, a prime's
    subcontractor taking some cases, and payment segments by prior band: the
    branches the status quo leaves idle."""
    sim, _, _ = status_quo()
    n_ops = len(PROVIDERS) + N_AREAS  # each area's subcontractor after the providers
    sim = World(world(), sim.params, sim.key, sim.entrants, QUARTERS, n_ops, "prior_band")
    rng = np.random.default_rng(7)
    kinds = len(EVENT_KINDS)
    policy = Policy(effort=np.zeros((n_ops, sim.n_seg)), relative=rng.uniform(0.6, 1.2, (n_ops, sim.n_seg)),
                    quality=rng.uniform(0.5, 1.0, (n_ops, kinds)), proper_cost=rng.uniform(20, 80, (n_ops, kinds)))
    routing = Routing(contract_share=0.9, area_operator=np.arange(N_AREAS),
                      area_provider=np.arange(N_AREAS, dtype=np.int16),
                      subcontractors=(len(PROVIDERS) + np.arange(N_AREAS))[:, None], subcontract_share=0.3,
                      paid_cohort=True)
    return sim, policy, routing


def _episode_rows(episodes: dict, reoffences: np.ndarray) -> list[tuple]:
    fields = ("pid", "start", "provider", "area", "sentence", "tier", "age", "female", "prior", "cell", "operator",
              "rq", "term")
    return sorted(zip(*(episodes[f].tolist() for f in fields), reoffences.tolist(), strict=True))


def _event_rows(events: dict, episode_key: dict[int, tuple]) -> list[tuple]:
    fields = ("kind", "due", "done", "complete", "proper", "operator", "provider")
    keys = [episode_key[e] for e in events["episode"].tolist()]
    return sorted((*k, *rest) for k, *rest in zip(keys, *(events[f].tolist() for f in fields), strict=True))


@pytest.mark.parametrize("setup", [status_quo, contracted], ids=["status-quo", "contracted"])
def test_agents_take_the_kernels_step(setup):
    sim, policy, routing = setup()
    agents = AgentWorld(world(), sim.params, sim.key, sim.entrants, QUARTERS, sim.n_ops, sim.segment)
    known_exposure = subcontracted = 0.0
    for q in range(QUARTERS):
        assert len(agents.agents) == sim.pop.n
        ours, theirs = agents.step(q, policy, routing), sim.step(q, policy, routing)

        offences = sim.log.offences[q]
        assert sorted(agents.offences[q]) == sorted(zip(*(offences[f].tolist() for f in ("pid", "day", "disposal")),
                                                        strict=True))
        assert theirs.offences == ours.offences > 0
        for name in ("episodes", "events", "on_time", "proper"):
            assert np.array_equal(getattr(theirs, name), getattr(ours, name)), name
        # sums of the same terms in another order
        assert np.allclose(theirs.exposure, ours.exposure, rtol=1e-12, atol=0)
        assert np.allclose(theirs.event_cost, ours.event_cost, rtol=1e-12, atol=0)
        known_exposure += ours.exposure[:, 1::2].sum()
        subcontracted += ours.episodes[len(PROVIDERS):].sum()
    assert known_exposure > 0, "no supervised time after a proven reoffence: that branch went untested"
    assert subcontracted > 0 or sim.n_ops == len(PROVIDERS)

    # Episode ids follow the order episodes open, which differs: match them by person and start.
    episodes = {f: np.concatenate([sim.log.episodes[q][f] for q in range(QUARTERS)]) for f in sim.log.episodes[0]}
    ours = [e for q in range(QUARTERS) for e in agents.episodes[q]]
    assert len(ours) == episodes["id"].size > 0
    assert _episode_rows(episodes, sim.log.reoffences(episodes["id"])) == sorted(
        (e.pid, e.start, e.provider, e.area, e.sentence, e.tier, e.age, e.female, e.prior, e.cell, e.operator,
         e.rq, e.term, e.reoffences) for e in ours)
    assert sum(e.reoffences for e in ours) > 0
    key = dict(zip(episodes["id"].tolist(), zip(episodes["pid"].tolist(), episodes["start"].tolist(), strict=True),
                   strict=True))
    events = {f: np.concatenate([sim.log.events[q][f] for q in range(QUARTERS)]) for f in sim.log.events[0]}
    assert _event_rows(events, key) == sorted(
        (ep.pid, ep.start, kind, due, done, complete, proper, op, provider)
        for q in range(QUARTERS) for ep, kind, due, done, complete, proper, op, provider in agents.service_events[q])

    pop = sim.pop
    theirs = dict(zip(pop.pid.tolist(), zip(pop.hazard.tolist(), pop.n_off.tolist(), pop.stop.tolist(),
                                             pop.next_start.tolist(), strict=True), strict=True))
    assert theirs == {a.pid: (a.hazard, a.n_off, a.stop, a.next_start) for a in agents.agents}
