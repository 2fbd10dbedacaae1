"""The commissioner's forecast: a status-quo projection of the contract's early years.

Providers price on a forecast and size their fixed costs to it; the
commissioner's forecast is what the world would do with no contract at all.
So, once per run, the status-quo world is run for two years from the start
(its own random numbers, from the run's seed), and its second year (once the
inherited caseload has run off) gives the forecast: volumes per provider,
the cohort sizes and expected reoffending a bidder would plan on, and the
supervised time and service events per episode the costs are calibrated with.
"""

from __future__ import annotations

import numpy as np

from pbrkit.simulate import draws
from pbrkit.simulate.arrivals import draw_entrants
from pbrkit.simulate.behaviour import status_quo_event_cost
from pbrkit.simulate.cohorts import counted
from pbrkit.simulate.kernel import Policy, Routing, World, status_quo_policy
from pbrkit.simulate.params import ModelParams
from pbrkit.simulate.world import N_AREAS, PROVIDERS, StartingWorld

QUARTERS = 8  # a year to settle (the inherited caseload runs off), then a year measured
MEASURED = range(4, 8)


def status_quo_setup(world: StartingWorld, params: ModelParams, seed: int, quarters: int,
                     stream: int = 2**31 - 1) -> tuple[World, Policy, Routing]:
    """A status-quo world ready for `kernel.run_quarters`: public provision at
    the status quo everywhere, cases to the area's provider by risk tier, its
    own random numbers from (seed, stream). The projection uses it, and so can
    a benchmark of the bare kernel step:

        sim, policy, routing = status_quo_setup(world, ModelParams(), seed=1, quarters=8)
        steps = run_quarters(sim, 8, policy, routing)   # offender-quarter steps
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    key = draws.replicate_key(rng)
    entrants = draw_entrants(rng, world, quarters)
    n_ops = len(PROVIDERS)
    sim = World(world, params, key, entrants, quarters, n_ops, None, keep=False)
    policy = status_quo_policy(n_ops, sim.n_seg, params, status_quo_event_cost(params))
    routing = Routing(
        contract_share=1.0, area_operator=np.arange(N_AREAS), area_provider=np.arange(N_AREAS, dtype=np.int16),
        subcontractors=np.zeros((N_AREAS, 0), dtype=np.int64), subcontract_share=0.0, paid_cohort=False,
    )
    return sim, policy, routing


def project(world: StartingWorld, params: ModelParams, seed: int) -> None:
    """Fill the world's forecast fields from two years of the status quo."""
    # The status quo at the default model: the world must not depend on the
    # behavioural parameters scenarios change (world.WORLD_PARAMS).
    params = ModelParams(supervision_days=params.supervision_days)
    sim, policy, routing = status_quo_setup(world, params, seed, QUARTERS)
    n_prov = len(PROVIDERS)
    episodes = np.zeros(n_prov)
    by_sentence = np.zeros((n_prov, 4))
    exposure = np.zeros(n_prov)
    events = np.zeros(3)
    cohort = np.zeros((n_prov, 4))  # counted offenders, sum p, sum pq, sum mu per quarter
    for q in range(QUARTERS):
        tally = sim.step(q, policy, routing)
        if q not in MEASURED:
            continue
        ep = sim.log.episodes[q]
        prov = ep["provider"].astype(np.int64)
        episodes += np.bincount(prov, minlength=n_prov)
        by_sentence += np.bincount(prov * 4 + ep["sentence"], minlength=n_prov * 4).reshape(n_prov, 4)
        exposure += tally.exposure.sum(axis=1)[:n_prov]
        events += tally.events[:N_AREAS].sum(axis=0)
        rows = counted(ep["provider"], ep["pid"], ep["start"], ep["id"])
        p, mu = world.cell_p[ep["cell"][rows]], world.cell_mu[ep["cell"][rows]]
        slot = prov[rows]
        for i, w in enumerate((None, p, p * (1 - p), mu)):
            cohort[:, i] += np.bincount(slot, weights=w, minlength=n_prov)
    world.forecast_episodes = episodes / len(MEASURED)
    world.forecast_by_sentence = by_sentence / len(MEASURED)
    world.forecast_cohort = cohort / len(MEASURED)
    crc_episodes = episodes[:N_AREAS].sum()
    # Supervised person-quarters per new episode, in steady state: a year's new
    # episodes each supervised `supervision_days`, spread over the quarters.
    world.exposure_per_episode = float(exposure[:N_AREAS].sum() / max(crc_episodes, 1))
    world.events_per_episode = events / max(crc_episodes, 1)


__all__ = ["project", "status_quo_setup"]
