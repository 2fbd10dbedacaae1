"""The simulation runner, executors, outputs and compare report, on a fake kernel
(tests/simulate_fakes.py): same numbers whatever the executor, summary
statistics worked by hand, atomic outputs, an offline report whose verdicts
name the designs. One slow test runs the real kernel at a tiny scale."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import simulate_fakes
from simulate_fakes import FAILING, FAKE

from pbrkit.simulate import runner
from pbrkit.simulate.executors import LocalExecutor, ProcessExecutor, RayExecutor
from pbrkit.simulate.record import METRICS
from pbrkit.simulate.report import (
    compare_html,
    run_sentence,
    scenario_verdict,
    verdicts,
    write_report,
)
from pbrkit.simulate.runner import combine_outputs, read_outputs, run, summarise, write_outputs

DESIGNS = ["tr2014", "binary-only"]
SCENARIOS = ["base", "no-audit"]
TESTS = Path(__file__).parent


def fake_run(executor=None, replicates=6, seed=1, designs=DESIGNS, scenarios=SCENARIOS, kernel=FAKE, **kw):
    return run(designs, scenarios, replicates=replicates, years=3, seed=seed, scale=0.1, executor=executor,
               kernel=kernel, **kw)


def assert_same_numbers(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert a.select("design", "scenario", "replicate", "seed").equals(b.select("design", "scenario", "replicate",
                                                                              "seed"))
    np.testing.assert_array_equal(a.select(METRICS).to_numpy(), b.select(METRICS).to_numpy())  # NaN == NaN here


# --- the runner and executors --------------------------------------------------


def test_results_come_back_in_design_scenario_replicate_order():
    out = fake_run()
    keys = [(r.design, r.scenario, r.replicate) for r in out.results]
    assert keys == [(d, s, r) for d in DESIGNS for s in SCENARIOS for r in range(6)]
    assert out.settings["seed"] == 1 and out.settings["replicates"] == 6 and out.settings["designs"] == DESIGNS


def test_local_and_two_processes_give_identical_numbers():
    local = fake_run(LocalExecutor()).metrics()
    pooled = fake_run(ProcessExecutor(workers=2)).metrics()
    assert_same_numbers(local, pooled)
    assert local.height == 2 * 2 * 6
    assert not fake_run(LocalExecutor(), seed=2).metrics().equals(local)


def test_ray_local_instance_gives_identical_numbers():
    try:
        import ray  # noqa: F401
    except ImportError:
        # Ray is in the dev extra: on CI a missing Ray is a failure, not a skip.
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed (pip install -e '.[dev]')", pytrace=False)
        pytest.skip("Ray is not installed")
    # Ray's workers import the fake kernel by module name, like any replicate function.
    executor = RayExecutor("local", num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    assert_same_numbers(fake_run(LocalExecutor()).metrics(), fake_run(executor).metrics())


def test_progress_is_called_once_per_finished_replicate():
    calls = []
    fake_run(ProcessExecutor(workers=2), progress=lambda done, total, label: calls.append((done, total, label)))
    finished = [c for c in calls if c[0] > 0]
    assert [c[0] for c in finished] == list(range(1, 25)) and {c[1] for c in calls} == {24}
    assert any(c[2].startswith("building starting world") for c in calls)


def test_a_starting_world_is_built_once_per_set_of_model_parameters(monkeypatch):
    built = []

    def counting_world(params, **kw):
        built.append(params)
        return simulate_fakes.starting_world(params, **kw)

    kernel = runner.Kernel(FAKE.make_params, FAKE.apply_overrides, FAKE.scenarios, counting_world,
                           FAKE.simulate_replicate)
    fake_run(designs=["tr2014", "binary-only", "staged"], scenarios=["base"], kernel=kernel)
    assert len(built) == 1  # three designs, one world
    built.clear()
    fake_run(scenarios=["base", "no-audit"], kernel=kernel)
    assert len(built) == 2  # no-audit changes a model parameter, and the world may read it
    built.clear()
    reads_reserves = dataclasses.replace(kernel, world_params=("reserves",))
    fake_run(scenarios=["base", "no-audit", "small-providers"], kernel=reads_reserves)
    assert [p.reserves for p in built] == [1.0, 0.2]  # the kernel says the world reads only reserves


@pytest.mark.parametrize(("scenarios", "overrides", "message"), [
    (["base", "riots"], {}, "no scenario named 'riots'; choose from base, no-audit"),
    (["base"], {"model.nope": 1}, "--set: model.nope: no model parameter 'nope'"),
    (["base"], {"design.outcomes.binary.nope": 1}, "the design has no term 'nope'"),
    (["base", "base"], {}, "a scenario is named twice"),
])
def test_bad_scenarios_and_paths_raise_before_anything_is_built(scenarios, overrides, message):
    built = []
    kernel = runner.Kernel(FAKE.make_params, FAKE.apply_overrides, FAKE.scenarios,
                           lambda p, **kw: built.append(p), FAKE.simulate_replicate)
    with pytest.raises(ValueError, match=re.escape(message)):
        fake_run(scenarios=scenarios, overrides=overrides, kernel=kernel)
    assert built == []


def test_overrides_apply_after_the_scenario():
    out = fake_run(scenarios=["no-audit"], overrides={"model.audit_rate": 0.5}, replicates=1)
    # the fake's true quality depends on the audit rate: 0.93 unless audits fall below 0.1
    assert out.results[0].metrics["sl_true_quality"] == 0.93
    assert out.settings["overrides"] == {"model.audit_rate": 0.5}
    assert out.settings["scenario_overrides"] == {"no-audit": {"model.audit_rate": 0.0}}


def test_two_designs_with_one_name_are_refused():
    with pytest.raises(ValueError, match="two designs are named 'tr2014'"):
        fake_run(designs=["tr2014", "tr2014"])


def test_a_kernel_error_mid_run_propagates_from_every_executor():
    for executor in (LocalExecutor(), ProcessExecutor(workers=2)):
        with pytest.raises(RuntimeError, match="fell over on replicate 3"):
            fake_run(executor, kernel=FAILING)


# --- the summary -------------------------------------------------------------


def frame_by_hand() -> pl.DataFrame:
    """Five replicates of one design and scenario, numbers chosen to work by hand."""
    n = 5
    cols = {m: [0.0] * n for m in METRICS}
    cols["reoffences_avoided"] = [100.0, 200.0, 300.0, 400.0, 500.0]
    cols["commissioner_cost"] = [1.1e6, 1.2e6, 1.3e6, 1.4e6, 1.5e6]
    cols["counterfactual_cost"] = [1.0e6] * n
    cols["cost_per_reoffence_avoided"] = [10.0, float("nan"), 30.0, float("nan"), 50.0]
    cols["provider_failures"] = [2.0, 0.0, 0.0, 1.0, 0.0]
    cols["provider_failure_any"] = [1.0, 0.0, 0.0, 1.0, 0.0]
    return pl.DataFrame({"design": ["d"] * n, "scenario": ["base"] * n, "replicate": list(range(n)),
                         "seed": [1] * n, **cols}, schema=runner.METRICS_SCHEMA)


def test_summary_statistics_worked_by_hand():
    summary = summarise(frame_by_hand(), {"seed": 1}, providers={("d", "base"): 21})
    [g] = summary["results"]
    assert (g["design"], g["scenario"], g["n"], g["providers"]) == ("d", "base", 5, 21)
    avoided = g["metrics"]["reoffences_avoided"]
    # mean 300; linear percentiles at positions 0.05 * 4 = 0.2 and 0.95 * 4 = 3.8
    assert avoided == {"mean": 300.0, "p05": pytest.approx(120.0), "p95": pytest.approx(480.0), "n": 5}
    per = g["metrics"]["cost_per_reoffence_avoided"]  # NaNs left out: 10, 30, 50
    assert per == {"mean": 30.0, "p05": pytest.approx(12.0), "p95": pytest.approx(48.0), "n": 3}
    assert g["provider_failure_probability"] == pytest.approx(0.4)
    assert g["metrics"]["provider_failures"]["mean"] == pytest.approx(0.6)
    # ratio of means: (1.3m - 1.0m) / 300 = £1,000 extra per reoffence avoided; 300 / 1.3m per pound
    assert g["extra_cost_per_reoffence_avoided"] == pytest.approx(1000.0)
    assert g["reoffences_avoided_per_million"] == pytest.approx(300 / 1.3)
    assert summary["settings"] == {"seed": 1} and summary["interval"] == [5.0, 95.0]


def test_a_metric_with_no_values_summarises_to_nulls_in_strict_json(tmp_path):
    frame = frame_by_hand().with_columns(pl.lit(float("nan")).alias("parking_index"))
    summary = summarise(frame)
    assert summary["results"][0]["metrics"]["parking_index"] == {"mean": None, "p05": None, "p95": None, "n": 0}
    write_outputs(tmp_path, frame, summary)

    def no_nan(token):
        raise AssertionError(f"{token} in summary.json")

    loaded = json.loads((tmp_path / "summary.json").read_text(), parse_constant=no_nan)
    assert loaded["results"][0]["metrics"]["parking_index"]["mean"] is None


# --- outputs -----------------------------------------------------------------


def test_metrics_csv_has_the_agreed_columns_and_one_row_per_replicate(tmp_path):
    out = fake_run()
    written = out.write(tmp_path)
    assert [p.name for p in written] == ["metrics.csv", "summary.json", "providers.csv"]
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == ["design", "scenario", "replicate", "seed", *METRICS]
    frame, summary, providers = read_outputs(tmp_path)
    assert frame.height == 24
    assert_same_numbers(frame, out.metrics())
    assert summary["settings"]["replicates"] == 6 and summary["settings"]["pbrkit"]
    assert [(g["design"], g["scenario"]) for g in summary["results"]] == [
        (d, s) for d in DESIGNS for s in SCENARIOS]
    assert providers.height == 24 * 3 and "margin" in providers.columns


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    fake_run(LocalExecutor()).write(tmp_path / "a")
    fake_run(ProcessExecutor(workers=2)).write(tmp_path / "b")
    for name in ("metrics.csv", "summary.json", "providers.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_failed_write_leaves_no_partial_files(tmp_path, monkeypatch):
    out = fake_run()
    out.write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = fake_run(seed=9)

    def broken(summary):
        raise OSError("disk full")

    monkeypatch.setattr(runner, "summary_json", broken)
    with pytest.raises(OSError, match="disk full"):
        other.write(tmp_path)
    # the earlier outputs are untouched (metrics.csv was staged, never moved in) and no temporary is left
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    fresh = tmp_path / "fresh"
    with pytest.raises(OSError):
        other.write(fresh)
    assert list(fresh.iterdir()) == []


def test_combining_runs_refuses_a_design_and_scenario_twice(tmp_path):
    fake_run(designs=["tr2014"]).write(tmp_path / "a")
    fake_run(designs=["binary-only"]).write(tmp_path / "b")
    metrics, summary, providers = combine_outputs([tmp_path / "a", tmp_path / "b"])
    assert metrics.height == 24 and [g["design"] for g in summary["results"]][::2] == DESIGNS
    assert set(summary["settings"]["sources"]) == {str(tmp_path / "a"), str(tmp_path / "b")}
    assert summary["results"][0]["providers"] == 3
    with pytest.raises(ValueError, match="design 'tr2014' under scenario 'base' is in both"):
        combine_outputs([tmp_path / "a", tmp_path / "a"])


def test_reading_a_directory_without_metrics_names_it(tmp_path):
    with pytest.raises(ValueError, match="no metrics.csv"):
        read_outputs(tmp_path)
    (tmp_path / "metrics.csv").write_text("design,scenario,replicate\nx,base,0\n")
    with pytest.raises(ValueError, match="missing column"):
        read_outputs(tmp_path)


# --- sentences, verdicts and the report --------------------------------------


def group(design, avoided=(1234.0, 800.0, 1650.0), cost=3.0e6, base_cost=1.0e6, failure=0.35, failures=1.2,
          parking=1.1, cliff=1.0, reported=0.95, true=0.93, providers=21, margin05=0.02):
    def s(mean, lo=None, hi=None):
        return {"mean": mean, "p05": mean if lo is None else lo, "p95": mean if hi is None else hi, "n": 200}

    return {
        "design": design, "scenario": "base", "n": 200, "providers": providers,
        "provider_failure_probability": failure,
        "extra_cost_per_reoffence_avoided": (cost - base_cost) / avoided[0] if avoided[0] > 0 else None,
        "reoffences_avoided_per_million": avoided[0] / cost * 1e6,
        "metrics": {
            "reoffences_avoided": s(*avoided), "commissioner_cost": s(cost), "counterfactual_cost": s(base_cost),
            "provider_failures": s(failures), "provider_failure_any": s(failure), "parking_index": s(parking),
            "post_reoffence_effort_ratio": s(cliff), "sl_reported_compliance": s(reported),
            "sl_true_quality": s(true), "provider_margin_mean": s(0.05), "provider_margin_p05": s(margin05),
        },
    }


def test_the_run_sentence_reads_as_agreed():
    assert run_sentence(group("tr2014")) == (
        "Under tr2014 (base), providers avoided 1,234 reoffences (90% interval 800 to 1,650) at an extra "
        "£1,621 each over the status quo; at least one of the 21 providers failed in 35% of replicates "
        "(1.2 failed on average).")
    cheap = run_sentence(group("fee-only", cost=0.5e6, failure=0.0, providers=None))
    assert cheap == ("Under fee-only (base), providers avoided 1,234 reoffences (90% interval 800 to 1,650) while "
                     "costing £500,000 less than the status quo; no provider failed in any replicate.")
    worse = run_sentence(group("bad", avoided=(-50.0, -120.0, 10.0), cost=1.5e6, failure=0.0))
    assert worse.startswith("Under bad (base), there were 50 more reoffences than under the status quo "
                            "(reoffences avoided: 90% interval -120 to 10), at £500,000 more than the status quo")


def test_verdicts_name_the_designs_and_the_behaviours_they_show():
    groups = [
        group("binary-only", avoided=(1000.0, 700.0, 1300.0), cost=2.0e6, failure=0.02, cliff=0.55, parking=0.7),
        group("binary-frequency", avoided=(1500.0, 1000.0, 2000.0), cost=4.0e6, failure=0.4, cliff=0.98,
              reported=0.97, true=0.6),
        group("worse", avoided=(-10.0, -50.0, 30.0), cost=1.2e6, failure=0.0),
    ]
    lines = scenario_verdict("base", groups)
    assert lines[0] == ("Under base, binary-only avoids the most reoffences per pound: £1,000 of extra spending "
                        "per reoffence avoided, against £2,000 under binary-frequency.")
    assert "binary-frequency avoids the most reoffences (1,500), but at a higher cost per reoffence avoided." in lines
    assert "worse did not avoid reoffences against the status quo on average." in lines
    assert any(line.startswith("binary-frequency carries the greatest risk of provider failure: at least one "
                               "provider failed in 40% of replicates") for line in lines)
    assert "Parking (less effort for the highest-risk cases) appears under binary-only (0.70)." in lines
    assert "A cliff edge (effort dropped after a first reoffence) appears under binary-only (0.55)." in lines
    assert ("Service levels are gamed (reported on time but not done properly) under binary-frequency "
            "(97% reported, 60% done properly).") in lines
    [v] = verdicts({"results": groups})
    assert [r["design"] for r in v["rows"]] == ["binary-only", "binary-frequency", "worse"]
    assert "a cliff edge: effort fell by 45% once a person had reoffended" in v["rows"][0]["sentence"]
    assert "No parking, cliff edge" in v["rows"][2]["sentence"]


def test_the_report_is_one_offline_page_naming_every_design(tmp_path):
    out = fake_run(designs=["tr2014", "staged", "accelerator"], scenarios=["base", "volume-shock"])
    path = write_report(tmp_path / "report.html", out.metrics(), out.summary(), out.provider_frame())
    html = path.read_text(encoding="utf-8")
    assert "vegaEmbed" in html and "vega-lite" in html.lower()  # the libraries are in the page
    assert not re.search(r"<script[^>]*\bsrc=", html)  # every script is inline
    assert not re.search(r"<link[^>]*https?://", html)
    assert "cdn.jsdelivr" not in html
    for section in ("chart-cost", "chart-margins", "chart-failures", "chart-behaviour", "chart-gaming"):
        assert f'id="{section}"' in html
    verdict = html.split('id="verdict"')[1].split('id="cost"')[0]
    for name in ("tr2014", "staged", "accelerator"):
        assert f"Under {name} (base)" in verdict and f"Under {name} (volume-shock)" in verdict
    assert "Under base," in verdict and "Under volume-shock," in verdict
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_escapes_what_a_design_file_names(tmp_path):
    frame = frame_by_hand().with_columns(pl.lit("</script><b>x").alias("design"))
    html = compare_html(frame, summarise(frame))
    assert "</script><b>x" not in html
    assert "&lt;/script&gt;&lt;b&gt;x" in html


def test_report_from_metrics_alone_uses_replicate_margins():
    out = fake_run(designs=["tr2014"], scenarios=["base"])
    html = compare_html(out.metrics(), out.summary(), None)
    assert "each replicate" in html and "mean margin over providers" in html


# --- the real kernel ----------------------------------------------------------


@pytest.mark.slow
def test_real_kernel_end_to_end_at_a_tiny_scale(tmp_path):
    try:
        runner.load_kernel()
    except ImportError as exc:  # KernelMissing is an ImportError too
        pytest.skip(f"the simulation kernel is not importable yet: {exc}")
    kw = dict(replicates=2, years=2, seed=3, scale=0.01, overrides={})
    local = run(["tr2014", "binary-only"], ["base", "no-audit"], executor=LocalExecutor(), **kw)
    pooled = run(["tr2014", "binary-only"], ["base", "no-audit"], executor=ProcessExecutor(workers=2), **kw)
    assert_same_numbers(local.metrics(), pooled.metrics())
    try:
        import ray  # noqa: F401
    except ImportError:
        pass
    else:  # the world arrives read-only from Ray's object store: the kernel must not write to it
        on_ray = run(["binary-only"], ["no-audit"], executor=RayExecutor("local", num_cpus=2), **kw)
        assert_same_numbers(local.metrics().filter(design="binary-only", scenario="no-audit"), on_ray.metrics())
    written = local.write(tmp_path / "run")
    frame, summary, providers = read_outputs(tmp_path / "run")
    assert frame.height == 8 and written[0].name == "metrics.csv"
    for g in summary["results"]:
        for m in ("reoffences_avoided", "commissioner_cost", "counterfactual_cost", "episodes"):
            assert g["metrics"][m]["n"] == 2 and math.isfinite(g["metrics"][m]["mean"]), (g["design"], m)
    html = compare_html(frame, summary, providers)
    assert "Under tr2014 (base)" in html and "Under binary-only (no-audit)" in html
