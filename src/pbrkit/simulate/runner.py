"""The Monte Carlo runner: designs x scenarios x replicates, and what it writes.

`run` takes contract designs and scenario names, applies each scenario's
overrides and then the caller's (`--set`) to the design and model parameters,
builds each starting world once, hands one task per replicate to an executor
and gathers the `ReplicateResult`s in (design, scenario, replicate) order.
Replicate `r` of a run with seed `s` draws its random numbers from `(s, r)`
alone, so every design and scenario meets the same random numbers (common
random numbers: differences between designs are not noise), and the numbers
are the same whichever executor ran them.

`summarise` turns the metrics frame into the summary (mean and 90% interval of
each metric per design and scenario); `write_outputs` writes `metrics.csv`,
`summary.json` (and `providers.csv` when the replicates report providers)
atomically; `read_outputs` reads them back for `pbrkit compare --from`.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pbrkit.simulate.executors import Executor, LocalExecutor, ReplicateFn, Task
from pbrkit.simulate.record import METRICS, ReplicateResult

#: The columns of `metrics.csv` before the metrics.
ID_COLUMNS: tuple[str, ...] = ("design", "scenario", "replicate", "seed")
#: The interval reported for every metric: its 5th and 95th percentiles over
#: replicates (numpy's default linear interpolation).
INTERVAL = (5.0, 95.0)

#: `progress(done, total, label)`: called once per finished replicate (and with
#: `done` unchanged while starting worlds are built).
Progress = Callable[[int, int, str], None]


class KernelMissing(ImportError):
    """The simulation kernel (params, scenarios, starting_world, simulate_replicate) cannot be imported."""


@dataclass(frozen=True)
class Kernel:
    """The pieces of the simulation kernel the runner calls, so a test can hand in fakes."""

    make_params: Callable[[], Any]  # () -> ModelParams (the defaults)
    apply_overrides: Callable[..., tuple[Any, Any]]  # (design, params, {path: value}) -> (design, params)
    scenarios: Mapping[str, Mapping[str, object]]  # name -> {path: value}
    starting_world: Callable[..., Any]  # (params, *, scale, years, seed, start) -> StartingWorld
    simulate_replicate: ReplicateFn  # (design, params, *, world, scenario, replicate, seed, keep_world)
    #: The model parameters a starting world reads (the kernel's `WORLD_PARAMS`), so
    #: scenarios that change only others share one world; None: assume it reads them all.
    world_params: tuple[str, ...] | None = None


# Where each kernel entry point may live (the first module that has it wins).
_KERNEL_HOMES = {
    "ModelParams": ("pbrkit.simulate.params",),
    "apply_overrides": ("pbrkit.simulate.params",),
    "SCENARIOS": ("pbrkit.simulate.scenarios",),
    "starting_world": ("pbrkit.simulate.world", "pbrkit.simulate.kernel", "pbrkit.simulate.replicate"),
    "simulate_replicate": ("pbrkit.simulate.replicate", "pbrkit.simulate.kernel", "pbrkit.simulate.market"),
    "StartingWorld": ("pbrkit.simulate.world", "pbrkit.simulate.kernel"),
}


def kernel_attr(name: str) -> Any:
    """One kernel entry point by name, from whichever of its modules defines it."""
    for module_name in _KERNEL_HOMES[name]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that module is not there (yet); a missing dependency is a real error
                continue
            raise
        if hasattr(module, name):
            return getattr(module, name)
    raise KernelMissing(f"the simulation kernel has no {name} (looked in {', '.join(_KERNEL_HOMES[name])})")


def load_kernel() -> Kernel:
    """The real simulation kernel."""
    starting_world = kernel_attr("starting_world")
    world_params = getattr(importlib.import_module(starting_world.__module__), "WORLD_PARAMS", None)
    return Kernel(
        make_params=kernel_attr("ModelParams"),
        apply_overrides=kernel_attr("apply_overrides"),
        scenarios=kernel_attr("SCENARIOS"),
        starting_world=starting_world,
        simulate_replicate=kernel_attr("simulate_replicate"),
        world_params=None if world_params is None else tuple(world_params),
    )


def _world_key(params: Any, start: str, world_params: tuple[str, ...] | None) -> tuple[str, str]:
    """Two groups share a starting world when the parameters it reads are equal."""
    if world_params is not None:
        read = {name: getattr(params, name) for name in world_params}
    else:
        read = _dump(params)
    if read is None:
        return repr(params), start
    return json.dumps(read, sort_keys=True, default=str), start


@dataclass
class RunOutput:
    """Every replicate's result, in (design, scenario, replicate) order, and the run's settings."""

    results: list[ReplicateResult]
    settings: dict[str, Any]
    #: Providers in each (design, scenario), when the replicates report them.
    providers: dict[tuple[str, str], int] = field(default_factory=dict)

    def metrics(self) -> pl.DataFrame:
        return metrics_frame(self.results)

    def provider_frame(self) -> pl.DataFrame | None:
        return provider_frame(self.results)

    def summary(self) -> dict[str, Any]:
        return summarise(self.metrics(), self.settings, providers=self.providers)

    def write(self, out: str | Path) -> list[Path]:
        """`metrics.csv`, `summary.json` and (if any) `providers.csv` in `out`, all or nothing."""
        return write_outputs(out, self.metrics(), self.summary(), self.provider_frame())


def _resolve_designs(designs: Iterable[Any]) -> list[Any]:
    from pbrkit.contracts import design as library_design

    resolved = [library_design(d) if isinstance(d, str) else d for d in designs]
    if not resolved:
        raise ValueError("no designs to simulate")
    seen: set[str] = set()
    for d in resolved:
        if d.name in seen:
            raise ValueError(f"two designs are named {d.name!r}; give each design a different name")
        seen.add(d.name)
    return resolved


def _dump(model: Any) -> Any:
    dump = getattr(model, "model_dump", None)
    return dump(mode="json") if dump is not None else None


@dataclass(frozen=True)
class Plan:
    """What a run will do, worked out (and every override checked) before anything runs."""

    groups: list[tuple[Any, Any, str]]  # (design, params, scenario) per group, in output order
    world_of_group: list[int]
    worlds: list[tuple[Any, str]]  # (params, start) per starting world to build


def plan(designs: Sequence[Any], scenarios: Sequence[str], overrides: Mapping[str, object],
         params: Any, kernel: Kernel) -> Plan:
    """Apply each scenario's overrides and then `overrides` to every design;
    a bad scenario or path raises ValueError before anything is built."""
    if not scenarios:
        raise ValueError("no scenarios to simulate")
    unknown = [s for s in scenarios if s not in kernel.scenarios]
    if unknown:
        raise ValueError(f"no scenario named {unknown[0]!r}; choose from {', '.join(kernel.scenarios)}")
    if len(set(scenarios)) != len(scenarios):
        raise ValueError("a scenario is named twice")
    if overrides:  # the caller's paths first, on the plain design: the clearest error for a typo
        try:
            kernel.apply_overrides(designs[0], params, dict(overrides))
        except ValueError as exc:
            raise ValueError(f"--set: {exc}") from None
    groups, world_of_group, worlds, world_index = [], [], [], {}
    for design in designs:
        for scenario in scenarios:
            try:
                d, p = kernel.apply_overrides(design, params, dict(kernel.scenarios[scenario]))
            except ValueError as exc:
                raise ValueError(f"scenario {scenario!r}: {exc}") from None
            if overrides:
                try:
                    d, p = kernel.apply_overrides(d, p, dict(overrides))
                except ValueError as exc:
                    raise ValueError(f"--set (design {design.name}, scenario {scenario}): {exc}") from None
            start = getattr(d, "start", "2015Q1")
            # A starting world depends on the model parameters it reads and the
            # start quarter, not on the design's terms: designs share one.
            key = _world_key(p, start, kernel.world_params)
            if key not in world_index:
                world_index[key] = len(worlds)
                worlds.append((p, start))
            groups.append((d, p, scenario))
            world_of_group.append(world_index[key])
    return Plan(groups, world_of_group, worlds)


def run(
    designs: Iterable[Any],
    scenarios: Sequence[str] = ("base",),
    *,
    replicates: int,
    years: int,
    seed: int,
    scale: float = 1.0,
    overrides: Mapping[str, object] | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    params: Any = None,
    kernel: Kernel | None = None,
    replicate_fn: ReplicateFn | None = None,
    keep_world: bool = False,
) -> RunOutput:
    """Simulate every design under every scenario, `replicates` times each.

    `designs` are `Design`s or library names; `overrides` map parameter paths
    (`model.audit_rate`, `design.outcomes.binary.price`) to values and apply
    after each scenario's own. `executor` defaults to this process;
    `kernel` and `replicate_fn` default to the real simulation kernel (tests
    pass fakes). Raises ValueError for a bad design, scenario or path, before
    anything is simulated.
    """
    import pbrkit

    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, not {replicates}")
    kernel = kernel or load_kernel()
    fn = replicate_fn or kernel.simulate_replicate
    designs = _resolve_designs(designs)
    scenarios = list(scenarios)
    overrides = dict(overrides or {})
    params = kernel.make_params() if params is None else params
    the_plan = plan(designs, scenarios, overrides, params, kernel)
    executor = executor or LocalExecutor()

    total = len(the_plan.groups) * replicates
    done_count = 0
    say = progress or (lambda done, total, label: None)
    results: dict[tuple[int, int], ReplicateResult] = {}

    def done(task: Task, result: ReplicateResult) -> None:
        nonlocal done_count
        if result.replicate != task.replicate:
            raise RuntimeError(f"replicate {task.replicate} came back labelled {result.replicate}")
        results[(task.group, task.replicate)] = result
        done_count += 1
        say(done_count, total, f"{task.design.name} / {task.scenario}")

    executor.start()
    try:
        worlds = {}
        for i, (p, start) in enumerate(the_plan.worlds):
            say(0, total, f"building starting world {i + 1} of {len(the_plan.worlds)}")
            worlds[i] = kernel.starting_world(p, scale=scale, years=years, seed=seed, start=start)
        tasks = [
            Task(group=g, world=the_plan.world_of_group[g], design=d, params=p, scenario=s,
                 replicate=r, seed=seed, keep_world=keep_world)
            for g, (d, p, s) in enumerate(the_plan.groups)
            for r in range(replicates)
        ]
        executor.run(fn, worlds, tasks, done)
    finally:
        executor.stop()
    missing = total - len(results)
    if missing:
        raise RuntimeError(f"{missing} of {total} replicates did not come back")

    ordered = [results[(g, r)] for g in range(len(the_plan.groups)) for r in range(replicates)]
    providers: dict[tuple[str, str], int] = {}
    for res in ordered:
        if res.providers:
            key = (res.design, res.scenario)
            providers[key] = max(providers.get(key, 0), len(res.providers))
    settings = {
        "pbrkit": pbrkit.__version__,
        "seed": seed,
        "replicates": replicates,
        "years": years,
        "scale": scale,
        "overrides": overrides,
        "designs": [d.name for d in designs],
        "scenarios": scenarios,
        "scenario_overrides": {s: dict(kernel.scenarios[s]) for s in scenarios},
        "metrics": list(METRICS),
        "model": _dump(params),
        "design_terms": {d.name: _dump(d) for d in designs},
    }
    return RunOutput(ordered, settings, providers)


# --- frames and the summary --------------------------------------------------

METRICS_SCHEMA: dict[str, pl.DataType] = {
    "design": pl.String, "scenario": pl.String, "replicate": pl.Int64, "seed": pl.Int64,
    **{m: pl.Float64 for m in METRICS},
}


def metrics_frame(results: Iterable[ReplicateResult]) -> pl.DataFrame:
    """One row per replicate: design, scenario, replicate, seed, then `METRICS` in order."""
    rows = [r.row() for r in results]
    for row in rows:
        for m in METRICS:
            value = row[m]
            row[m] = float("nan") if value is None else float(value)
    return pl.DataFrame(rows, schema=METRICS_SCHEMA, orient="row") if rows else pl.DataFrame(schema=METRICS_SCHEMA)


def provider_frame(results: Iterable[ReplicateResult]) -> pl.DataFrame | None:
    """One row per provider per replicate, or None when no replicate reports providers."""
    rows = []
    for r in results:
        for name, facts in r.providers.items():
            rows.append({"design": r.design, "scenario": r.scenario, "replicate": r.replicate, "provider": name,
                         **facts})
    if not rows:
        return None
    return pl.DataFrame(rows, infer_schema_length=None)


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "p05": None, "p95": None, "n": 0}
    lo, hi = np.percentile(finite, INTERVAL)
    return {"mean": float(finite.mean()), "p05": float(lo), "p95": float(hi), "n": int(finite.size)}


def _mean(frame: pl.DataFrame, column: str) -> float | None:
    if column not in frame.columns:
        return None
    v = frame[column].to_numpy().astype(float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def summarise(metrics: pl.DataFrame, settings: Mapping[str, Any] | None = None,
              providers: Mapping[tuple[str, str], int] | None = None) -> dict[str, Any]:
    """Per design and scenario (in the frame's order): each metric's mean, 5th and
    95th percentiles and count over replicates (NaNs, such as the cost per
    reoffence avoided of a replicate that avoided none, are left out and not
    counted), the number of replicates `n`, the probability that any provider
    failed (the share of replicates in which one did), and two ratios of means:
    the extra cost per reoffence avoided over the status quo, and reoffences
    avoided per million pounds the commissioner spent."""
    groups = []
    for (design, scenario), frame in metrics.group_by(["design", "scenario"], maintain_order=True):
        stats = {m: _stats(frame[m].cast(pl.Float64).to_numpy()) for m in METRICS if m in frame.columns}
        avoided = _mean(frame, "reoffences_avoided")
        cost = _mean(frame, "commissioner_cost")
        base_cost = _mean(frame, "counterfactual_cost")
        extra = None
        if avoided is not None and cost is not None and base_cost is not None and avoided > 0:
            extra = (cost - base_cost) / avoided
        per_million = avoided / cost * 1e6 if avoided is not None and cost else None
        groups.append({
            "design": design,
            "scenario": scenario,
            "n": frame.height,
            "providers": (providers or {}).get((design, scenario)),
            "provider_failure_probability": _mean(frame, "provider_failure_any"),
            "extra_cost_per_reoffence_avoided": extra,
            "reoffences_avoided_per_million": per_million,
            "metrics": stats,
        })
    return {"settings": dict(settings or {}), "interval": list(INTERVAL), "results": groups}


def summary_group(summary: Mapping[str, Any], design: str, scenario: str) -> dict[str, Any]:
    for g in summary["results"]:
        if g["design"] == design and g["scenario"] == scenario:
            return g
    raise KeyError((design, scenario))


# --- writing and reading -----------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def summary_json(summary: Mapping[str, Any]) -> str:
    """The summary as strict JSON (a NaN or infinity is written as null)."""
    return json.dumps(_json_safe(summary), indent=2, allow_nan=False, default=str) + "\n"


def write_outputs(out: str | Path, metrics: pl.DataFrame, summary: Mapping[str, Any],
                  providers: pl.DataFrame | None = None) -> list[Path]:
    """Write `metrics.csv`, `summary.json` and (when given) `providers.csv` into
    `out`: first into a temporary directory inside it, then each moved into place,
    so an error leaves no half-written file (and no temporary one)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pbrkit-simulate-", dir=out))
    try:
        staged = [tmp / "metrics.csv", tmp / "summary.json"]
        metrics.write_csv(staged[0])
        staged[1].write_text(summary_json(summary), encoding="utf-8")
        if providers is not None:
            staged.append(tmp / "providers.csv")
            providers.write_csv(staged[2])
        final = []
        for path in staged:
            target = out / path.name
            path.replace(target)
            final.append(target)
        if providers is None and (out / "providers.csv").exists():
            (out / "providers.csv").unlink()  # from an earlier run: it would not match these metrics
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_outputs(directory: str | Path) -> tuple[pl.DataFrame, dict[str, Any] | None, pl.DataFrame | None]:
    """An earlier run's `metrics.csv` (checked), its `summary.json` if any, and
    its `providers.csv` if any. Raises ValueError naming what is wrong."""
    directory = Path(directory)
    path = directory / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{directory}: no metrics.csv (write one with pbrkit simulate --out {directory})")
    try:
        header = pl.read_csv(path, n_rows=0).columns
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValueError(f"{path}: not a readable CSV file: {exc}") from None
    missing = [c for c in METRICS_SCHEMA if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        frame = pl.read_csv(path, schema_overrides=METRICS_SCHEMA).select(list(METRICS_SCHEMA))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    summary = None
    spath = directory / "summary.json"
    if spath.is_file():
        try:
            summary = json.loads(spath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{spath}: not valid JSON: {exc}") from None
    providers = None
    ppath = directory / "providers.csv"
    if ppath.is_file():
        providers = pl.read_csv(ppath, infer_schema_length=None)
    return frame, summary, providers


def combine_outputs(directories: Sequence[str | Path]) -> tuple[pl.DataFrame, dict[str, Any], pl.DataFrame | None]:
    """Several earlier runs as one: their metrics stacked (a design and scenario
    may come from one run only), their summary recomputed, provider counts and
    settings carried over (settings per source directory)."""
    frames, providers, counts, sources = [], [], {}, {}
    owner: dict[tuple[str, str], str] = {}
    for directory in directories:
        frame, summary, prov = read_outputs(directory)
        for design, scenario in frame.select("design", "scenario").unique(maintain_order=True).iter_rows():
            if (design, scenario) in owner:
                raise ValueError(f"design {design!r} under scenario {scenario!r} is in both "
                                 f"{owner[(design, scenario)]} and {directory}")
            owner[(design, scenario)] = str(directory)
        frames.append(frame)
        if prov is not None:
            providers.append(prov)
        if summary is not None:
            sources[str(directory)] = summary.get("settings", {})
            for g in summary.get("results", []):
                if g.get("providers") is not None:
                    counts[(g["design"], g["scenario"])] = g["providers"]
        else:
            sources[str(directory)] = {}
    metrics = pl.concat(frames) if frames else pl.DataFrame(schema=METRICS_SCHEMA)
    settings = next(iter(sources.values())) if len(sources) == 1 else {"sources": sources}
    prov_frame = pl.concat(providers, how="diagonal_relaxed") if providers else None
    return metrics, summarise(metrics, settings, providers=counts), prov_frame


__all__ = [
    "ID_COLUMNS",
    "INTERVAL",
    "Kernel",
    "KernelMissing",
    "RunOutput",
    "combine_outputs",
    "kernel_attr",
    "load_kernel",
    "metrics_frame",
    "plan",
    "provider_frame",
    "read_outputs",
    "run",
    "summarise",
    "summary_group",
    "summary_json",
    "write_outputs",
]
