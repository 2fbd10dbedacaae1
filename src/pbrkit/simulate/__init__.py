"""Simulate providers' behaviour under contract designs: Monte Carlo over a national market.

The public API, imported lazily (so `import pbrkit.simulate` is cheap and the
runner and report work on saved metrics without loading the kernel):

- the kernel: `ModelParams`, `apply_overrides`, `SCENARIOS`, `starting_world`,
  `simulate_replicate`;
- what a replicate hands back: `ReplicateResult`, `METRICS`, `WorldRecord`;
- the runner: `run`, `RunOutput`, `summarise`, `write_outputs`, `read_outputs`;
- executors: `LocalExecutor`, `ProcessExecutor`, `RayExecutor`, `make_executor`;
- the report: `compare_html`, `write_report`, `run_sentences`, `verdicts`.
"""

from __future__ import annotations

import importlib
from typing import Any

from pbrkit.simulate.record import METRICS, ReplicateResult, WorldRecord

_LAZY = {
    "run": "pbrkit.simulate.runner",
    "RunOutput": "pbrkit.simulate.runner",
    "Kernel": "pbrkit.simulate.runner",
    "KernelMissing": "pbrkit.simulate.runner",
    "load_kernel": "pbrkit.simulate.runner",
    "summarise": "pbrkit.simulate.runner",
    "write_outputs": "pbrkit.simulate.runner",
    "read_outputs": "pbrkit.simulate.runner",
    "combine_outputs": "pbrkit.simulate.runner",
    "metrics_frame": "pbrkit.simulate.runner",
    "LocalExecutor": "pbrkit.simulate.executors",
    "ProcessExecutor": "pbrkit.simulate.executors",
    "RayExecutor": "pbrkit.simulate.executors",
    "make_executor": "pbrkit.simulate.executors",
    "compare_html": "pbrkit.simulate.report",
    "write_report": "pbrkit.simulate.report",
    "run_sentences": "pbrkit.simulate.report",
    "verdicts": "pbrkit.simulate.report",
}
#: Kernel entry points: found by the runner wherever the kernel defines them.
_KERNEL = ("ModelParams", "apply_overrides", "SCENARIOS", "starting_world", "simulate_replicate", "StartingWorld")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _KERNEL:
        from pbrkit.simulate.runner import kernel_attr

        value = kernel_attr(name)
    else:
        raise AttributeError(f"module 'pbrkit.simulate' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["METRICS", "ReplicateResult", "WorldRecord", *_LAZY, *_KERNEL]
