"""`pbrkit simulate` and `pbrkit compare` on the fake kernel: outputs written,
sentences printed, bad input refused with exit 2 and nothing written."""

from __future__ import annotations

import json
import re
import sys

import pytest
from simulate_fakes import FAILING, FAKE
from typer.testing import CliRunner

from pbrkit.cli import _parse_sets, app
from pbrkit.contracts import design_source
from pbrkit.simulate import runner
from pbrkit.simulate.record import METRICS

cli = CliRunner()


@pytest.fixture(autouse=True)
def fake_kernel(monkeypatch):
    monkeypatch.setattr(runner, "load_kernel", lambda: FAKE)


def invoke(*args: str):
    return cli.invoke(app, [*args], env={"COLUMNS": "200"})


def simulate(out, *more: str, design: str = "tr2014"):
    return invoke("simulate", design, "--replicates", "5", "--years", "2", "--scale", "0.1", "--workers", "1",
                  "--out", str(out), *more)


def test_simulate_writes_metrics_and_summary_and_says_what_happened(tmp_path):
    out = tmp_path / "run"
    result = simulate(out, "--scenario", "base", "--scenario", "volume-shock", "--set", "model.audit_rate=0.2")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "providers.csv", "summary.json"]
    assert (out / "metrics.csv").read_text().splitlines()[0] == ",".join(
        ["design", "scenario", "replicate", "seed", *METRICS])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["overrides"] == {"model.audit_rate": 0.2}
    assert summary["settings"]["scenarios"] == ["base", "volume-shock"]
    assert [g["n"] for g in summary["results"]] == [5, 5]
    text = " ".join(result.output.split())
    assert re.search(r"Under tr2014 \(base\), providers avoided [\d,]+ reoffences \(90% interval", text)
    assert "Under tr2014 (volume-shock)" in text
    assert "Simulated outcomes by design and scenario" in text and "reoffences_avoided" in text


def test_simulate_takes_a_design_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(design_source("tr2014").replace('name = "tr2014"', 'name = "my-design"'), encoding="utf-8")
    result = simulate(tmp_path / "run", design=str(path))
    assert result.exit_code == 0, result.output
    assert "Under my-design (base)" in " ".join(result.output.split())


def test_simulate_gives_the_same_bytes_with_one_or_two_workers(tmp_path):
    assert simulate(tmp_path / "one").exit_code == 0
    two = invoke("simulate", "tr2014", "--replicates", "5", "--years", "2", "--scale", "0.1", "--workers", "2",
                 "--out", str(tmp_path / "two"))
    assert two.exit_code == 0, two.output
    for name in ("metrics.csv", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    (["--design", "nonesuch"], "no design named 'nonesuch'"),
    (["--design", "missing.toml"], "missing.toml: no such file"),
    (["--scenario", "riots"], "no scenario named 'riots'"),
    (["--set", "model.nope=1"], "--set: model.nope: no model parameter 'nope'"),
    (["--set", "design.outcomes.binary.nope=1"], "the design has no term 'nope'"),
    (["--set", "model.audit_rate"], "--set 'model.audit_rate': write it as key=value"),
    (["--set", "model.audit_rate=not-a-number"], "audit_rate"),
    (["--workers", "2", "--ray", "local"], "give --workers or --ray, not both"),
    (["--workers", "0"], "--workers"),
])
def test_simulate_refuses_bad_input_with_exit_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "run"
    design = "tr2014"
    if args[0] == "--design":
        design, args = args[1], args[2:]
    base = ["simulate", design, "--replicates", "3", "--out", str(out)]
    if "--workers" not in args:
        base += ["--workers", "1"] if "--ray" not in args else []
    result = cli.invoke(app, base + args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in " ".join((result.stderr or result.output).split())
    assert not out.exists()


def test_simulate_refuses_an_out_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = simulate(tmp_path / "file")
    assert result.exit_code == 2 and "not a directory" in result.stderr


def test_simulate_without_ray_installed_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    result = invoke("simulate", "tr2014", "--replicates", "2", "--ray", "local", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "pip install 'pbrkit[ray]'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_kernel_failure_mid_run_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "load_kernel", lambda: FAILING)
    result = simulate(tmp_path / "run")
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert not (tmp_path / "run").exists()


def test_set_values_are_json_when_they_parse():
    assert _parse_sets(["a=1", "b=0.5", "c=true", "d=[1, 2]", "e=hello", "f=", 'g="1"', "h=a=b"]) == {
        "a": 1, "b": 0.5, "c": True, "d": [1, 2], "e": "hello", "f": "", "g": "1", "h": "a=b"}


# --- compare ------------------------------------------------------------------


def test_compare_runs_the_designs_and_writes_one_report(tmp_path):
    report, metrics = tmp_path / "report.html", tmp_path / "metrics"
    result = invoke("compare", "tr2014", "staged", "accelerator", "--replicates", "4", "--years", "2",
                    "--scale", "0.1", "--workers", "1", "--out", str(report), "--metrics-dir", str(metrics))
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", html) and "vegaEmbed" in html
    assert (metrics / "metrics.csv").is_file() and (metrics / "summary.json").is_file()
    text = " ".join(result.output.split())
    assert "Scenario base: designs compared" in text
    assert re.search(r"Under base, (tr2014|staged|accelerator) (avoids the most|gives the most)", text)
    for name in ("tr2014", "staged", "accelerator"):
        assert f"Under {name} (base)" in html


def test_compare_reads_earlier_runs(tmp_path):
    assert simulate(tmp_path / "a", design="tr2014").exit_code == 0
    assert simulate(tmp_path / "b", design="binary-only").exit_code == 0
    result = invoke("compare", "--from", str(tmp_path / "a"), "--from", str(tmp_path / "b"),
                    "--out", str(tmp_path / "report.html"))
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Under tr2014 (base)" in html and "Under binary-only (base)" in html
    assert f"From {tmp_path / 'a'}: 5 replicates" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "{tmp}/report.txt", "tr2014"], "must end in .html"),
    (["--out", "{tmp}/report.html"], "name at least one DESIGN"),
    (["--out", "{tmp}/report.html", "tr2014", "nonesuch"], "no design named 'nonesuch'"),
    (["--out", "{tmp}/report.html", "tr2014", "tr2014"], "design 'tr2014' is given twice"),
    (["--out", "{tmp}/report.html", "--from", "{tmp}"], "no metrics.csv"),
    (["--out", "{tmp}/report.html", "--from", "{tmp}", "tr2014"], "DESIGN apply only when compare runs them"),
    (["--out", "{tmp}/report.html", "--from", "{tmp}", "--seed", "0"], "--seed apply only"),
    (["--out", "{tmp}/report.html", "tr2014", "--scenario", "riots"], "no scenario named 'riots'"),
])
def test_compare_refuses_bad_input_with_exit_2(tmp_path, args, message):
    result = invoke("compare", *[a.replace("{tmp}", str(tmp_path)) for a in args], "--workers", "1") \
        if "--from" not in args else invoke("compare", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []
