"""A small fake of the simulation kernel, for testing the runner, executors,
CLI and report without it: the same signatures, deterministic metrics drawn
from `default_rng(SeedSequence([seed, replicate]))`.

Module-level functions only, so worker processes (and Ray) can import them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from pbrkit.simulate.record import METRICS, ReplicateResult
from pbrkit.simulate.runner import Kernel


class FakeParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_rate: float = 0.1
    reserves: float = 1.0
    real_share: float = 0.7


SCENARIOS: dict[str, dict[str, object]] = {
    "base": {},
    "no-audit": {"model.audit_rate": 0.0},
    "volume-shock": {"model.real_share": 0.4},
    "small-providers": {"model.reserves": 0.2},
}


def apply_overrides(design, params: FakeParams, overrides: dict[str, object]):
    for path, value in overrides.items():
        head, _, rest = path.partition(".")
        if head == "model":
            if rest not in FakeParams.model_fields:
                raise ValueError(f"{path}: no model parameter {rest!r}")
            params = FakeParams.model_validate({**params.model_dump(), rest: value})
        elif head == "design":
            data: Any = design.model_dump()
            keys = rest.split(".")
            node = data
            for key in keys[:-1]:
                if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                    raise ValueError(f"{path}: the design has no table {key!r}")
                node = node[key]
            if keys[-1] not in node:
                raise ValueError(f"{path}: the design has no term {keys[-1]!r}")
            node[keys[-1]] = value
            design = type(design).model_validate(data)
        else:
            raise ValueError(f"{path}: a path starts with 'model.' or 'design.'")
    return design, params


@dataclass(frozen=True)
class FakeWorld:
    seed: int
    scale: float
    years: int
    start: str
    people: np.ndarray


def starting_world(params: FakeParams, *, scale: float, years: int, seed: int, start: str = "2015Q1") -> FakeWorld:
    rng = np.random.default_rng(seed)
    return FakeWorld(seed, scale, years, start, rng.random(int(200 * scale) + 1))


def simulate_replicate(design, params: FakeParams, *, world: FakeWorld, scenario: str = "base", replicate: int = 0,
                       seed: int = 1, keep_world: bool = False) -> ReplicateResult:
    rng = np.random.default_rng(np.random.SeedSequence([seed, replicate]))
    tilt = zlib.crc32(design.name.encode()) % 100 / 100  # each design its own level
    m = {name: float(v) for name, v in zip(METRICS, rng.random(len(METRICS)), strict=True)}
    m["reoffences_avoided"] = 1000 * (0.2 + tilt) + 300 * rng.standard_normal() + float(world.people.sum())
    m["commissioner_cost"] = 1e8 * (1 + tilt) * params.real_share / 0.7 + 1e6 * rng.standard_normal()
    m["counterfactual_cost"] = 0.9e8 + 1e6 * rng.standard_normal()
    avoided = m["reoffences_avoided"]
    m["cost_per_reoffence_avoided"] = (m["commissioner_cost"] - m["counterfactual_cost"]) / avoided if avoided > 0 \
        else float("nan")
    m["provider_failures"] = float(rng.poisson(0.3 + 2 * (1 - params.reserves)))
    m["provider_failure_any"] = float(m["provider_failures"] > 0)
    m["provider_margin_mean"] = 0.05 * rng.standard_normal()
    m["provider_margin_p05"] = m["provider_margin_mean"] - 0.1
    m["parking_index"] = 0.6 + tilt
    m["post_reoffence_effort_ratio"] = 1.2 - tilt
    m["sl_reported_compliance"] = 0.95
    m["sl_true_quality"] = 0.95 - 0.4 * (1 - 10 * params.audit_rate) if params.audit_rate < 0.1 else 0.93
    providers = {f"crc-{i}": {"kind": "prime", "income": 1e6, "costs": 0.9e6, "margin": float(0.1 * rng.random()),
                              "failed_quarter": -1.0} for i in range(3)}
    return ReplicateResult(design.name, scenario, replicate, seed, m, providers)


def failing_replicate(design, params, *, world, scenario="base", replicate=0, seed=1, keep_world=False):
    """Like `simulate_replicate`, but replicate 3 raises (a kernel error mid-run)."""
    if replicate == 3:
        raise RuntimeError("the kernel fell over on replicate 3")
    return simulate_replicate(design, params, world=world, scenario=scenario, replicate=replicate, seed=seed)


FAKE = Kernel(make_params=FakeParams, apply_overrides=apply_overrides, scenarios=SCENARIOS,
              starting_world=starting_world, simulate_replicate=simulate_replicate)
FAILING = Kernel(make_params=FakeParams, apply_overrides=apply_overrides, scenarios=SCENARIOS,
                 starting_world=starting_world, simulate_replicate=failing_replicate)
