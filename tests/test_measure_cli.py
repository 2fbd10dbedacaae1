"""`pbrkit measure` end to end: files in, the standard's table out, plain
sentences on the terminal, exit 2 on bad input; and the offline chart."""

from __future__ import annotations

import re

import polars as pl
import pytest
from measure_builders import dataset, episode, offence
from typer.testing import CliRunner

import pbrkit
from pbrkit.cli import app
from pbrkit.measure import measure

pytestmark = pytest.mark.filterwarnings("ignore::pbrkit.measure.BaselineModelWarning")

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """North 2013Q3: four offenders, all reoffend (6 reoffences); one immature
    offender in 2016Q4. With the shared reference cohort, p = 0.5 each."""
    eps = [episode(f"e{i}", f"Q{i}", "2013-08-01") for i in range(4)]
    eps.append(episode("late", "L", "2016-11-01", provider="south"))
    offs = [offence(f"Q{i}", "2013-09-01", "2013-10-01") for i in range(4)]
    offs += [offence("Q0", "2013-11-01", "2013-12-01"), offence("Q1", "2014-01-01", "2014-02-01")]
    data = dataset(eps, offs)
    directory = tmp_path_factory.mktemp("data")
    data.episodes.write_parquet(directory / "episodes.parquet")
    data.offences.write_parquet(directory / "offences.parquet")
    return directory


def invoke(*args: str):
    result = runner.invoke(app, ["measure", *args])
    return result


def test_csv_output_and_sentences(data_dir, tmp_path):
    out = tmp_path / "m.csv"
    result = invoke(str(data_dir), "--out", str(out), "--baseline", "2011", "--as-of", "2016-12-31")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    header = text.splitlines()[0]
    assert header == ("group,period,mature,offenders,reoffenders,reoffences,binary_rate,frequency,"
                      "reoffences_per_offender,expected_rate,rate_diff_pp,z,p_value,significant,"
                      "expected_reoffences,expected_frequency,z_frequency")
    north = next(line for line in text.splitlines() if line.startswith("north,2013Q3,"))
    assert north.startswith("north,2013Q3,true,4,4,6,1.0,1.5,1.5,")
    assert north.split(",")[13] == "true"  # significant, written as text true/false
    late = next(line for line in text.splitlines() if line.startswith("south,2016Q4,"))
    assert late == "south,2016Q4,false,1" + "," * 13
    # 4 of 4 against 0.5 each: z = 2, significant; the sentence says so
    assert ("north 2013Q3: 100.0% reoffended against 50.0% expected for its case mix "
            "(+50.0 points, significant at the 5% level)") in result.output
    # 2016Q4 ends 2016-12-31; + 547 days = 2018-07-01
    assert "south 2016Q4 is immature until 2018-07-01; not measured." in result.output
    assert "case-mix model" in result.output  # which model was used
    # the file is the API's table
    expected = measure(pbrkit.load(data_dir), baseline="2011", as_of="2016-12-31")
    assert pl.read_csv(out, schema=expected.schema).equals(expected, null_equal=True)


def test_parquet_output_and_model_reuse(data_dir, tmp_path):
    out = tmp_path / "m.parquet"
    model = tmp_path / "model.json"
    result = invoke(str(data_dir), "--out", str(out), "--baseline", "2011-01-01:2011-12-31",
                    "--as-of", "2016-12-31", "--by", "area", "--period", "year", "--save-model", str(model))
    assert result.exit_code == 0, result.output
    got = pl.read_parquet(out)
    expected = measure(pbrkit.load(data_dir), by="area", period="year", baseline="2011", as_of="2016-12-31")
    assert got.equals(expected, null_equal=True)
    assert model.exists()
    again = tmp_path / "again.parquet"
    result = invoke(str(data_dir), "--out", str(again), "--as-of", "2016-12-31", "--by", "area",
                    "--period", "year", "--model", str(model))
    assert result.exit_code == 0, result.output
    assert "loaded from" in result.output
    assert pl.read_parquet(again).equals(got, null_equal=True)


def test_segment_column(data_dir, tmp_path):
    out = tmp_path / "s.csv"
    result = invoke(str(data_dir), "--out", str(out), "--as-of", "2016-12-31", "--segment", "risk_tier")
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out).columns[:4] == ["group", "period", "segment", "mature"]
    assert "north 2013Q3 (risk tier low): 100.0% reoffended" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "region"], "region"),
        (["--period", "month"], "month"),
        (["--segment", "age"], "age"),
        (["--out", "{tmp}/m.txt"], ".csv or .parquet"),
        (["--baseline", "last-year"], "baseline"),
        (["--as-of", "31/12/2016"], "YYYY-MM-DD"),
        (["--as-of", "2013-06-29"], "not mature"),
        (["--model", "ogrs"], "ogrs"),
        (["--model", "fancy"], "default, ogrs"),
        (["--chart", "{tmp}/c.png"], ".html"),
    ],
)
def test_bad_options_exit_2(data_dir, tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "m.csv")]
    result = invoke(str(data_dir), *args)
    assert result.exit_code == 2, result.output
    assert message in re.sub(r"\s+", " ", result.output)


def test_missing_data_directory_exits_2(tmp_path):
    result = invoke(str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.csv"))
    assert result.exit_code == 2


def test_chart_is_one_offline_html_file(data_dir, tmp_path):
    chart = tmp_path / "funnel.html"
    result = invoke(str(data_dir), "--out", str(tmp_path / "m.csv"), "--as-of", "2016-12-31",
                    "--chart", str(chart))
    assert result.exit_code == 0, result.output
    html = chart.read_text()
    assert "cdn.jsdelivr" not in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # every script is inline
    assert not re.search(r"<link[^>]*https?://", html)
    assert "vegaEmbed" in html  # the libraries are in the page itself
    assert "north" in html
    assert "latest mature period, 2013Q3" in html


def test_funnel_limits_and_points_by_hand():
    from pbrkit.report.charts import control_limits, funnel_points

    # Two providers in the latest mature period, 2014Q1; an older period and an
    # immature one must not be plotted.
    results = pl.DataFrame({
        "group": ["a", "a", "b", "c"],
        "period": ["2013Q4", "2014Q1", "2014Q1", "2014Q2"],
        "mature": [True, True, True, False],
        "offenders": [50, 100, 400, 10],
        "reoffenders": [20, 50, 120, None],
        "binary_rate": [0.4, 0.5, 0.3, None],
        "expected_rate": [0.4, 0.3, 0.3, None],
        "rate_diff_pp": [0.0, 20.0, 0.0, None],
    })
    points, subtitle = funnel_points(results)
    assert subtitle == "latest mature period, 2014Q1"
    assert points["label"].to_list() == ["a", "b"]
    # overall expected rate (0.3*100 + 0.3*400) / 500 = 0.3; at n = 100 the
    # 99.8% limit is 3.09 * 100 * sqrt(0.3 * 0.7 / 100) = 14.16 points < 20
    assert points["position"].to_list() == ["outside 99.8%", "inside 95%"]
    limits = control_limits(points)
    upper95 = limits.filter((pl.col("limit") == "95%") & (pl.col("side") == "upper"))
    n, pp = upper95.row(0)[:2]
    assert pp == pytest.approx(1.96 * 100 * (0.3 * 0.7 / n) ** 0.5)
    assert limits["offenders"].min() == pytest.approx(50)  # half the smallest cohort
    assert limits["offenders"].max() == pytest.approx(440)  # 1.1 x the largest
    lower998 = limits.filter((pl.col("limit") == "99.8%") & (pl.col("side") == "lower"))
    assert lower998["limit_pp"].max() < 0
    pooled, subtitle = funnel_points(results, pooled=True)
    assert subtitle == "pooled over the mature periods 2013Q4 to 2014Q1"
    a = pooled.row(0, named=True)
    # a pooled: 70 of 150 reoffended against (0.4*50 + 0.3*100) / 150 expected
    assert a["offenders"] == 150
    assert a["rate_diff_pp"] == pytest.approx(100 * (70 / 150 - 50 / 150))
