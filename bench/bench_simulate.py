"""Simulation speed (issue 5 targets).

1. The kernel step: offender-quarter steps per second of
   `pbrkit.simulate.kernel.run_quarters` on the 7-year scale-1 starting world,
   28 quarters under the status-quo policy, against `bench/agent_baseline.py`
   (the same step written with one Python object per offender, timed in the
   same run) on every 15th person of the same world and its entrants over the
   same quarters. People do not interact in the step, so the sample steps as
   it would in the whole world; before either time is reported, the
   baseline's offences must equal the kernel's offences of the same people,
   day for day. Both are reported as seconds per million steps, so the
   printed ratio is the speed ratio; the issue aims for at least 100x, so
   the row's target is the baseline's time / 100. A one-quarter run comes
   first, so a compile or first-call cost is not counted as the step's.
   A second row times the same work done person by person
   (`status_quo.StatusQuoWorld`, the counterfactual's kernel; it serves only
   a fixed status-quo policy), counted in the same steps, after checking it
   opened the same episodes with the same reoffences.
2. 200 replicates: `pbrkit simulate tr2014 --replicates 200 --years 7
   --scale 1 --seed 1` as a subprocess with the default local workers (one
   per CPU), world building included: at most 300 s, and at most 6 GB peak
   memory, the resident memory of the CLI and all its workers summed and
   sampled every 0.2 s. The row is met only if both hold. No baseline.
   `PBRKIT_BENCH_REPLICATES=N` runs N replicates instead for a quick check;
   the time target then does not apply (the memory limit still does).

The starting world (about 15 s to build) is cached in bench-out/, keyed by
scale, years, seed and a digest of pbrkit's source.

Run alone: `python bench/run.py simulate`, or
`python bench/bench_simulate.py [kernel|replicates]`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from agent_baseline import AgentWorld
from agent_baseline import run_quarters as agent_run_quarters

QUARTERS = 28
EVERY = 15  # the baseline's sample: every 15th person
TARGET_RATIO = 100.0
REPLICATES = int(os.environ.get("PBRKIT_BENCH_REPLICATES", "200"))
TARGET_SECONDS = 300.0  # for 200 replicates
MEMORY_LIMIT_GB = 6.0
SAMPLE_SECONDS = 0.2
SCALE, YEARS, SEED = 1.0, 7, 1


# ------------------------------------------------------------------ kernel step
def _source_digest() -> str:
    import pbrkit

    digest = hashlib.sha256()
    for path in sorted(Path(pbrkit.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def starting_world(out: Path):
    """The scale-1 starting world, from the cache when pbrkit's source is unchanged."""
    from pbrkit.simulate.params import ModelParams
    from pbrkit.simulate.world import starting_world as build

    path = out / f"simulate-world-scale{SCALE:g}-years{YEARS}-seed{SEED}-{_source_digest()}.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    for stale in out.glob(f"simulate-world-scale{SCALE:g}-years{YEARS}-seed{SEED}-*.pkl"):
        stale.unlink()
    world = build(ModelParams(), scale=SCALE, years=YEARS, seed=SEED)
    with path.open("wb") as f:
        pickle.dump(world, f)
    return world


def _same_offences(kernel_log, agents: AgentWorld, sample: np.ndarray) -> bool:
    """The agents' offences are the kernel's offences of the same people, quarter by quarter."""
    for q, ours in agents.offences.items():
        theirs = kernel_log.offences[q]
        mine = np.isin(theirs["pid"], sample)
        if sorted(ours) != sorted(zip(*(theirs[f][mine].tolist() for f in ("pid", "day", "disposal")),
                                      strict=True)):
            return False
    return True


def kernel_rows(out: Path) -> list[dict]:
    from pbrkit.simulate.kernel import run_quarters
    from pbrkit.simulate.params import ModelParams
    from pbrkit.simulate.projection import status_quo_setup
    from pbrkit.simulate.status_quo import StatusQuoWorld

    world = starting_world(out)
    params = ModelParams()
    sim, policy, routing = status_quo_setup(world, params, seed=SEED, quarters=1)
    run_quarters(sim, 1, policy, routing)  # warm-up
    sim, policy, routing = status_quo_setup(world, params, seed=SEED, quarters=QUARTERS)
    agents = AgentWorld(world, params, sim.key, sim.entrants, QUARTERS, sim.n_ops, sim.segment, every=EVERY)

    def person_by_person() -> StatusQuoWorld:
        # The same world, entrants and quarters; `term` past the end, so every
        # entrant is admitted and no one is trimmed, as in `run_quarters`.
        return StatusQuoWorld(world, params, sim.key, sim.entrants, QUARTERS, sim.n_ops, None, QUARTERS, QUARTERS - 1)

    person_by_person().run(policy, routing)  # warm-up
    t = time.perf_counter()
    steps = run_quarters(sim, QUARTERS, policy, routing)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    person = person_by_person()
    person.run(policy, routing)
    person_seconds = time.perf_counter() - t
    t = time.perf_counter()
    agent_steps = agent_run_quarters(agents, QUARTERS, policy, routing)
    agent_seconds = time.perf_counter() - t
    sample = np.concatenate([world.people["pid"][::EVERY], sim.entrants.pid[::EVERY]])
    if not _same_offences(sim.log, agents, sample):
        raise AssertionError("the agent baseline's offences differ from the kernel's: not the same step")
    if not _same_episodes(sim, person, policy, routing):
        raise AssertionError("the person-by-person status quo's episodes differ from the kernel's: not the same step")

    per_million, agent_per_million = 1e6 * seconds / steps, 1e6 * agent_seconds / agent_steps
    agents_note = (f"agents {agent_steps / agent_seconds:,.0f} steps/s ({agent_steps:,} steps, {agent_seconds:.1f} s); "
                   f"target {TARGET_RATIO:g}x")
    return [{
        "name": "simulate: kernel step (s per million offender-quarters)",
        "seconds": per_million, "target_seconds": agent_per_million / TARGET_RATIO,
        "baseline_name": f"agent per offender, 1/{EVERY} sample", "baseline_seconds": agent_per_million,
        "note": (f"kernel {steps / seconds:,.0f} steps/s ({steps:,} steps, {QUARTERS} quarters, {seconds:.1f} s); "
                 f"{agents_note}; same offences"),
    }, {
        "name": "simulate: status-quo step person by person (s per million offender-quarters)",
        "seconds": 1e6 * person_seconds / steps, "target_seconds": agent_per_million / TARGET_RATIO,
        "baseline_name": f"agent per offender, 1/{EVERY} sample", "baseline_seconds": agent_per_million,
        "note": (f"status_quo_people {steps / person_seconds:,.0f} steps/s (the kernel's {steps:,} steps, "
                 f"{person_seconds:.1f} s; the counterfactual's kernel); {agents_note}; same episodes and reoffences"),
    }]


def _same_episodes(sim, person, policy, routing) -> bool:
    """The person-by-person run opened the quarter-by-quarter kernel's episodes, each with its reoffences so far."""
    fields = ("pid", "start", "provider", "sentence", "tier", "cell")
    for q in range(QUARTERS):
        person.step(q, policy, routing)
        a, b = sim.log.episodes[q], person.log.episodes[q]
        oa, ob = (np.lexsort((e["id"], e["start"], e["pid"])) for e in (a, b))
        if a["id"].size == 0 or any(not np.array_equal(a[f][oa], b[f][ob]) for f in fields):
            return False
        if not np.array_equal(sim.log.reoffences(a["id"][oa]), person.log.reoffences(b["id"][ob])):
            return False
    return True


# ------------------------------------------------------------------ replicates
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants."""
    tree, total, todo = _children(), 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except OSError:
            pass
        todo.extend(tree.get(pid, ()))
    return total


def run_watched(cmd: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak resident GB (the whole process tree) of a command."""
    peak = 0
    with log.open("wb") as sink:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        done = threading.Event()

        def watch():
            nonlocal peak
            while not done.wait(SAMPLE_SECONDS):
                peak = max(peak, tree_rss(proc.pid))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = proc.wait()
        seconds = time.perf_counter() - t
        done.set()
        watcher.join()
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {tail}")
    return seconds, peak / 1e9


def replicates_row(out: Path) -> dict:
    target = out / f"simulate-{REPLICATES}"
    cmd = [str(Path(sys.executable).parent / "pbrkit"), "simulate", "tr2014", "--replicates", str(REPLICATES),
           "--years", str(YEARS), "--scale", f"{SCALE:g}", "--seed", str(SEED), "--out", str(target)]
    seconds, gb = run_watched(cmd, out / f"simulate-{REPLICATES}.log")
    rows = sum(1 for _ in (target / "metrics.csv").open()) - 1
    if rows != REPLICATES:
        raise AssertionError(f"{target / 'metrics.csv'} has {rows} rows, not {REPLICATES}")
    within = gb <= MEMORY_LIMIT_GB
    return {
        "name": f"simulate: {REPLICATES} replicates, scale 1", "seconds": seconds,
        "target_seconds": TARGET_SECONDS if REPLICATES == 200 else None,
        "baseline_name": None, "baseline_seconds": None, "limits_met": within,
        "note": (f"tr2014, {YEARS} years, {os.cpu_count()} workers; {seconds / REPLICATES:.2f} s of wall time per replicate "
                 f"(world building included); "
                 f"peak {gb:.2f} GB, all processes (limit {MEMORY_LIMIT_GB:g} GB){'' if within else ' OVER'}"),
    }


def run(ctx) -> list[dict]:
    return [*kernel_rows(ctx.out), replicates_row(ctx.out)]


if __name__ == "__main__":
    here = Path(__file__).parent
    out = here.parent / "bench-out"
    out.mkdir(exist_ok=True)
    which = sys.argv[1:] or ["kernel", "replicates"]
    rows = {"kernel": kernel_rows, "replicates": lambda o: [replicates_row(o)]}
    for row in [r for w in which for r in rows[w](out)]:
        ratio = f"; ratio {row['baseline_seconds'] / row['seconds']:.1f}x" if row["baseline_seconds"] else ""
        target = "none" if row["target_seconds"] is None else f"{row['target_seconds']:.3g} s"
        print(f"{row['name']}: {row['seconds']:.2f} s (target {target}){ratio}; {row['note']}")
