"""`pbrkit evaluate`: planted effects are recovered, nulls are not found, bad input exits 2.

The data come from `evaluate_builders.planted_service`: the service picks the
young, the prolific and people leaving custody, so its participants are
riskier than the pool and a naive comparison understates the effect; the
matched comparison should not.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from evaluate_builders import AS_OF, planted_service
from typer.testing import CliRunner

from pbrkit.cli import app
from pbrkit.evaluate import TooFewMatched, UnknownEpisodes, days_to_first, evaluate
from pbrkit.evaluate.planted import plant_service
from pbrkit.evaluate.text import outcome_sentence
from pbrkit.evaluate.estimates import Estimate
from pbrkit.measure.cohorts import ReoffenceWindows, person_codes
from pbrkit.standard.schema import Dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def planted():
    return planted_service(seed=11, n=10000, reduction=0.3, treat_share=0.06)


def write_dataset(data: Dataset, directory):
    directory.mkdir(parents=True, exist_ok=True)
    data.episodes.write_parquet(directory / "episodes.parquet")
    data.offences.write_parquet(directory / "offences.parquet")
    return directory


def test_matched_estimate_recovers_the_planted_effect_where_the_naive_one_does_not(planted):
    result = evaluate(planted.data, planted.treated_ids, as_of=AS_OF)
    rate = result.outcomes["binary_rate"]
    assert rate.ci_low <= planted.true_rate_effect <= rate.ci_high
    assert rate.p_value < 0.05
    naive = result.unmatched_rates["binary_rate"]["difference"]
    assert abs(naive - planted.true_rate_effect) > 2 * abs(rate.difference - planted.true_rate_effect)
    assert result.balance["smd_after"].abs().max() < 0.1 < result.balance["smd_before"].abs().max()
    assert result.matched >= 0.98 * len(planted.treated_ids)
    assert result.outcomes["frequency"].difference < 0


def test_matching_with_replacement_and_several_neighbours_also_recovers_it(planted):
    result = evaluate(planted.data, planted.treated_ids, as_of=AS_OF, replace=True, neighbours=3)
    rate = result.outcomes["binary_rate"]
    assert rate.ci_low <= planted.true_rate_effect <= rate.ci_high
    assert result.comparison < 3 * result.matched  # comparison episodes were reused


def test_immature_treated_episodes_are_left_out_and_said_so(planted):
    # At an as-of date 18 months after the last start only the earliest starts are mature.
    as_of = dt.date(2015, 12, 31)
    result = evaluate(planted.data, planted.treated_ids, as_of=as_of)
    starts = planted.data.episodes.filter(pl.col("episode_id").is_in(planted.treated_ids))["start_date"]
    assert result.immature == int((starts > as_of - dt.timedelta(days=547)).sum()) > 0
    assert any("not yet mature" in note for note in result.notes)


def test_same_areas_and_same_period_restrict_the_pool(planted):
    episodes = planted.data.episodes
    north = episodes.filter(pl.col("episode_id").is_in(planted.treated_ids), pl.col("area_id") == "north")
    ids = north["episode_id"].to_list()
    result = evaluate(planted.data, ids, as_of=AS_OF, same_areas=True)
    candidates = episodes.filter(~pl.col("episode_id").is_in(ids), pl.col("area_id") == "north")
    assert result.pool == candidates.height
    early = north.filter(pl.col("start_date") < dt.date(2014, 1, 1))
    result = evaluate(planted.data, early["episode_id"].to_list(), as_of=AS_OF, same_period=True)
    assert result.pool == episodes.filter(
        ~pl.col("episode_id").is_in(early["episode_id"].implode()),
        pl.col("start_date").is_between(early["start_date"].min(), early["start_date"].max()),
    ).height


def test_too_few_matched_is_refused(planted):
    with pytest.raises(TooFewMatched, match="at least 60"):
        evaluate(planted.data, planted.treated_ids[:59], as_of=AS_OF)


def test_unknown_ids_are_named(planted):
    with pytest.raises(UnknownEpisodes) as info:
        evaluate(planted.data, [*planted.treated_ids, "nope"], as_of=AS_OF)
    assert info.value.ids == ["nope"]


def test_days_to_first_follows_the_standard_window():
    episodes = pl.DataFrame({"person_id": ["a", "b", "c", "d"], "start_date": [dt.date(2014, 1, 1)] * 4})
    offences = pl.DataFrame({
        "person_id": ["a", "a", "b", "c", "d"],
        "offence_date": [dt.date(2014, 3, 1), dt.date(2013, 12, 31), dt.date(2014, 12, 31),  # day 59, -1, 364
                         dt.date(2015, 1, 1), dt.date(2014, 2, 1)],  # day 365; day 31 disposed on day 548
        "disposal_date": [dt.date(2014, 4, 1), dt.date(2014, 1, 5), dt.date(2015, 7, 2),  # day 547
                          dt.date(2015, 2, 1), dt.date(2015, 7, 3)],
    })
    ep, off = person_codes(episodes.with_columns(episode_id=pl.col("person_id")), offences)
    days = days_to_first(ep, off)
    assert days[0] == 59 and days[1] == 364
    assert np.isnan(days[2]) and np.isnan(days[3])  # day 365; disposed of too late
    counted = ReoffenceWindows.of(off).count(ep)  # the measure's own count agrees
    assert counted["reoffended"].to_list() == [True, True, False, False]


def test_sentences_follow_the_justice_data_lab_form():
    down = Estimate(0.40, 0.45, -0.052, -0.083, -0.021, 0.001, 500, 500)
    assert outcome_sentence("binary_rate", down) == (
        "The best estimate is that the service reduced the one-year proven reoffending rate by 5.2 percentage "
        "points; it could be between 2.1 and 8.3."
    )
    unclear = Estimate(0.40, 0.41, -0.01, -0.04, 0.02, 0.5, 500, 500)
    assert "does not show an effect either way" in outcome_sentence("binary_rate", unclear)
    up = Estimate(1.2, 1.0, 0.2, 0.05, 0.35, 0.01, 500, 500)
    assert outcome_sentence("frequency", up).startswith(
        "The best estimate is that the service increased the number of proven reoffences per person")


def test_plant_service_removes_exactly_the_prevented_reoffending():
    base = planted_service(seed=5, n=6000, reduction=0.0)
    planted = plant_service(base.data, as_of=AS_OF, share=0.1, reduction=0.5, seed=2)
    assert planted.prevented > 0
    ids = pl.Series(planted.treated_ids)

    def rate(data):
        ep, off = person_codes(data.episodes.filter(pl.col("episode_id").is_in(ids.implode())),
                               data.offences)
        return ReoffenceWindows.of(off).count(ep)["reoffended"].mean()

    assert rate(planted.data) - rate(base.data) == pytest.approx(planted.true_rate_difference)
    assert planted.data.episodes.equals(base.data.episodes)


def test_evaluation_of_a_planted_service_contains_the_truth():
    base = planted_service(seed=6, n=8000, reduction=0.0)
    planted = plant_service(base.data, as_of=AS_OF, share=0.1, reduction=0.3, seed=3)
    result = evaluate(planted.data, planted.treated_ids, as_of=AS_OF)
    rate = result.outcomes["binary_rate"]
    assert rate.ci_low <= planted.true_rate_difference <= rate.ci_high


# --- the command -----------------------------------------------------------------


def test_cli_writes_the_report_and_results(planted, tmp_path):
    data = write_dataset(planted.data, tmp_path / "data")
    listed = tmp_path / "treated.csv"
    pl.DataFrame({"episode_id": planted.treated_ids, "note": "x"}).write_csv(listed)
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(data), "--treated", str(listed), "--out", str(out),
                                 "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["treated"] == len(planted.treated_ids)
    assert results["matched"] >= 0.98 * len(planted.treated_ids)
    assert results["matched_share"] == pytest.approx(results["matched"] / results["treated"])
    assert set(results["outcomes"]) == {"binary_rate", "frequency", "days_to_first"}
    for figures in results["outcomes"].values():
        assert set(figures) >= {"treated", "comparison", "difference", "ci_low", "ci_high", "p_value"}
        assert figures["difference"] == pytest.approx(figures["treated"] - figures["comparison"])
    assert 0 < results["outcomes"]["binary_rate"]["treated"] < 1  # a fraction, not a percent
    assert {"covariate", "smd_before", "smd_after"} <= set(results["balance"][0])
    page = (out / "report.html").read_text()
    assert "The best estimate is that the service reduced the one-year proven reoffending rate" in page
    assert "<script src=" not in page and "vegaEmbed" in page  # everything inlined: opens offline
    assert "The best estimate" in result.output


def test_cli_reads_a_plain_list_too(planted, tmp_path):
    data = write_dataset(planted.data, tmp_path / "data")
    listed = tmp_path / "treated.txt"
    listed.write_text("\n".join(planted.treated_ids) + "\n\n")
    result = runner.invoke(app, ["evaluate", str(data), "--treated", str(listed), "--out", str(tmp_path / "o"),
                                 "--as-of", AS_OF.isoformat(), "--replace", "--neighbours", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "results.json").read_text())["settings"]["neighbours"] == 2


@pytest.mark.parametrize(("content", "message"), [
    ("episode_id\nE0000001\nnot-an-episode\n", "treated.csv:3: column 'episode_id' value 'not-an-episode': "
                                               "must be an episode_id in the episodes table"),
    ("episode_id\nE0000001\nE0000001\n", "treated.csv:3: column 'episode_id' value 'E0000001': is listed twice "
                                         "(first on row 2)"),
    ("id,name\nE0000001,x\n", "treated.csv:1: column 'episode_id' is missing"),
    ("episode_id\nE0000001\n\n", None),  # a trailing blank line in a CSV is no problem...
    ("episode_id,x\nE0000001,1\n,2\n", "treated.csv:3: column 'episode_id': must not be empty"),
    ("", "the treated list is empty"),
])
def test_cli_names_the_file_row_and_rule_of_a_bad_list(planted, tmp_path, content, message):
    data = write_dataset(planted.data, tmp_path / "data")
    listed = tmp_path / "treated.csv"
    listed.write_text(content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(data), "--treated", str(listed), "--out", str(out)])
    assert result.exit_code == 2
    if message is None:  # ...but one treated episode is far too few
        assert "No estimate" in result.output and "at least 60" in result.output
    else:
        assert message in result.output
    assert not out.exists()  # nothing half-written


def test_cli_refuses_too_few_matched_with_exit_2(planted, tmp_path):
    data = write_dataset(planted.data, tmp_path / "data")
    listed = tmp_path / "treated.csv"
    listed.write_text("episode_id\n" + "\n".join(planted.treated_ids[:40]) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(data), "--treated", str(listed), "--out", str(out),
                                 "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2
    assert "at least 60" in result.output
    assert not out.exists()


def test_plant_service_command_writes_data_list_and_truth(planted, tmp_path):
    data = write_dataset(planted_service(seed=7, n=3000, reduction=0.0).data, tmp_path / "data")
    out = tmp_path / "svc"
    result = runner.invoke(app, ["plant-service", str(data), "--out", str(out), "--share", "0.1", "--seed", "4"])
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "planted.json").read_text())
    listed = pl.read_csv(out / "treated.csv")
    assert listed.height == truth["treated"] > 0
    assert (out / "data" / "episodes.parquet").exists()
    assert truth["true_binary_rate_difference"] < 0


# --- coverage: the estimator's honesty over many planted worlds ---------------------


@pytest.mark.slow
@pytest.mark.parametrize("reduction", [0.25, 0.0])
def test_interval_coverage_over_100_planted_worlds(reduction):
    """The issue's bar: the planted effect inside the 95% interval in at least 93
    of 100 worlds, and a null significant in at most 7 of 100."""
    covered = significant = 0
    for seed in range(100):
        world = planted_service(seed=1000 + seed, n=4000, reduction=reduction)
        rate = evaluate(world.data, world.treated_ids, as_of=AS_OF).outcomes["binary_rate"]
        covered += rate.ci_low <= world.true_rate_effect <= rate.ci_high
        significant += rate.p_value < 0.05
    assert covered >= 93
    if reduction == 0.0:
        assert significant <= 7
    else:
        assert significant >= 80  # and a real effect of this size is found


@pytest.mark.slow
def test_with_replacement_the_standard_error_is_calibrated():
    """Matching with replacement and 2 neighbours: the errors, over their stated
    standard errors, have a spread of 1 (within sampling error of 100 worlds),
    so the reused comparison episodes are accounted for. Measured over 400
    worlds (seeds 2000-2299 and 3000-3099) the interval covered the planted
    effect in 93.25% of them, a little under 95% (docs/evaluate.md), hence
    the lower bar here than for the default."""
    z, covered = [], 0
    for seed in range(100):
        world = planted_service(seed=3000 + seed, n=4000, reduction=0.25)
        rate = evaluate(world.data, world.treated_ids, as_of=AS_OF, replace=True, neighbours=2).outcomes[
            "binary_rate"]
        se = (rate.ci_high - rate.ci_low) / (2 * 1.96)
        z.append((rate.difference - world.true_rate_effect) / se)
        covered += rate.ci_low <= world.true_rate_effect <= rate.ci_high
    assert 0.85 < np.std(z) < 1.15
    assert covered >= 88
