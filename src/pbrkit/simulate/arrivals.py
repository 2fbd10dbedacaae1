"""First-time entrants: people who arrive at their first supervised sentence
during the contract, independent of anything providers do.

Drawn once per replicate from the replicate's generator with the synthetic
population's own entrant model (`pbrkit.synth.people.draw_people`), and given
to both the design world and the counterfactual, so the two worlds start the
same new lives.
"""

from __future__ import annotations

import numpy as np

from pbrkit.simulate.kernel import Entrants
from pbrkit.simulate.spells import SYNTH
from pbrkit.simulate.world import StartingWorld, quarter_start_day
from pbrkit.synth.areas import area_shares
from pbrkit.synth.people import draw_people


def draw_entrants(rng: np.random.Generator, world: StartingWorld, quarters: int) -> Entrants:
    """Entrants arriving over the first `quarters` contract quarters, by arrival day."""
    first = float(world.start_day)
    last = float(quarter_start_day(world.start_quarter + quarters))
    people = draw_people(SYNTH, rng, first, last, world.scale, np.asarray(area_shares()))
    n = people.entry_day.size
    sentence = rng.choice(4, size=n, p=np.asarray(SYNTH.entry_sentence_probs)).astype(np.int8)
    return Entrants(
        pid=world.next_pid + np.arange(n, dtype=np.int64),
        entry_day=people.entry_day, female=people.female, entry_age=people.entry_age,
        first_age=people.first_sanction_age, area=people.area.astype(np.int16), frailty=people.frailty,
        harm=people.harm, desist=people.desist_day, prior=people.entry_prior.astype(np.int32), sentence=sentence,
    )


__all__ = ["draw_entrants"]
