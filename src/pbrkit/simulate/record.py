"""What one simulated replicate hands back: its metrics, and (on request) its world.

The Monte Carlo runner, the executors (local processes or Ray) and the compare
report only ever see a `ReplicateResult`: a flat dict of named metrics, so a
replicate is cheap to ship between processes and a row of `metrics.csv` is
exactly one result. `WorldRecord` is the simulated world in the data
standard's terms (integer codes and day numbers, no strings), kept only when
a test or a user asks for it, so the same measure and payment code can be run
on it as on live data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Every metric a replicate reports, in `metrics.csv` column order (after
#: `design`, `scenario`, `replicate`, `seed`). Money is in pounds (floats are
#: fine here: these are model outputs summarised over replicates, not statements).
METRICS: tuple[str, ...] = (
    "reoffences_avoided",          # counterfactual minus design proven reoffences, same random numbers
    "reoffenders_avoided",
    "commissioner_cost",           # all payments to providers + re-procurement costs, pounds
    "counterfactual_cost",         # the status quo's cost on the same world, pounds
    "cost_per_reoffence_avoided",  # (commissioner_cost - counterfactual_cost) / reoffences_avoided; NaN if <= 0 avoided
    "provider_margin_mean",        # mean over providers of (income - costs) / income over the run
    "provider_margin_p05",         # 5th percentile of the same
    "provider_failures",           # providers (primes and subcontractors) whose reserves went below zero
    "provider_failure_any",        # 1.0 if any failed, else 0.0 (its mean over replicates is a probability)
    "subcontractor_failures",
    "parking_index",               # intensity per person, top risk quintile / bottom quintile
    "post_reoffence_effort_ratio", # intensity after a first reoffence / before it
    "sl_reported_compliance",      # share of service events reported done on time
    "sl_true_quality",             # share of service events done properly (not filed empty)
    "frequency_per_reoffender",    # proven reoffences per reoffender, design world
    "binary_rate",                 # share reoffending, design world
    "counterfactual_binary_rate",
    "counterfactual_frequency_per_reoffender",
    "episodes",                    # new episodes over the run, design world
    "forecast_episodes",           # what providers priced on
    "mean_intensity",
    "counterfactual_episodes",     # new CRC-caseload episodes over the run, counterfactual world (added by the simulator)
)


@dataclass
class WorldRecord:
    """The simulated world as data-standard rows (codes, not strings).

    Days are integer days since 1970-01-01 (as Polars stores dates); codes
    index the data standard's enums (`SENTENCES`, `RISK_TIERS`, `SEXES`) and
    the provider and area lists given here.
    """

    providers: list[str]
    areas: list[str]
    # episodes
    episode_person: np.ndarray
    episode_start: np.ndarray
    episode_provider: np.ndarray
    episode_area: np.ndarray
    episode_sentence: np.ndarray
    episode_risk_tier: np.ndarray
    episode_age: np.ndarray
    episode_sex: np.ndarray
    episode_prior: np.ndarray
    # offences
    offence_person: np.ndarray
    offence_day: np.ndarray
    disposal_day: np.ndarray
    # service events (optional)
    event_episode: np.ndarray | None = None
    event_kind: np.ndarray | None = None
    event_due: np.ndarray | None = None
    event_done: np.ndarray | None = None  # -1 = not done
    event_complete: np.ndarray | None = None  # -1 unknown (not audited), 0 empty, 1 complete
    event_kinds: list[str] = field(default_factory=list)
    # transfers (optional; added by the simulator: cases passed on when a provider fails)
    transfer_episode: np.ndarray | None = None
    transfer_day: np.ndarray | None = None
    transfer_provider: np.ndarray | None = None  # code into `providers`
    transfer_reason: np.ndarray | None = None  # code into `transfer_reasons`
    transfer_reasons: list[str] = field(default_factory=list)


@dataclass
class ReplicateResult:
    design: str
    scenario: str
    replicate: int
    seed: int
    metrics: dict[str, float]
    #: Per provider: name -> {"income", "costs", "margin", "failed_quarter" (or -1), "kind"}.
    providers: dict[str, dict[str, float]] = field(default_factory=dict)
    world: WorldRecord | None = None

    def row(self) -> dict[str, float | int | str]:
        return {"design": self.design, "scenario": self.scenario, "replicate": self.replicate,
                "seed": self.seed, **{m: self.metrics.get(m, float("nan")) for m in METRICS}}
