"""The synthetic population: deterministic, in the standard, and alive (people recur)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pbrkit.cli import app
from pbrkit.standard.schema import TABLES
from pbrkit.synth import SynthParams, generate, write
from pbrkit.synth.areas import AREAS, area_shares


@pytest.fixture(scope="module")
def small():
    return generate(start="2011-01-01", years=5, scale=0.03, seed=7)


def test_same_seed_same_tables_and_other_seed_differs():
    a = generate(years=2, scale=0.01, seed=3)
    b = generate(years=2, scale=0.01, seed=3)
    c = generate(years=2, scale=0.01, seed=4)
    for name in ("episodes", "offences", "service_events", "transfers"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert not a.episodes.equals(c.episodes)


def test_tables_have_the_standard_types(small):
    for name, frame in small.tables().items():
        spec = TABLES[name]
        assert frame.columns[: len(spec.columns)] == spec.names
        for col in spec.columns:
            assert frame.schema[col.name] == col.dtype, (name, col.name)
            if col.required:
                assert frame.get_column(col.name).null_count() == 0, (name, col.name)


def test_rules_of_the_standard_hold(small):
    e, o, t = small.episodes, small.offences, small.transfers
    assert e.get_column("episode_id").is_unique().all()
    assert o.get_column("person_id").is_in(e.get_column("person_id").implode()).all()
    assert (o.get_column("disposal_date") >= o.get_column("offence_date")).all()
    assert e.get_column("age").is_between(10, 100).all()
    assert e.get_column("ogrs").is_between(0, 100).all()
    tj = t.join(e.select("episode_id", "start_date"), on="episode_id")
    assert tj.height == t.height
    assert (tj.get_column("transfer_date") >= tj.get_column("start_date")).all()
    window_end = dt.date(2015, 12, 31)
    assert e.get_column("start_date").max() <= window_end
    assert o.get_column("disposal_date").max() <= window_end  # proven by the extract date


def test_people_recur_with_growing_records_and_age(small):
    e = small.episodes.sort("person_id", "start_date", "episode_id")
    per_person = e.group_by("person_id").len()
    assert per_person.get_column("len").max() >= 4  # prolific people recur across cohorts
    steps = e.with_columns(
        d_prior=pl.col("prior_offences").diff().over("person_id"),
        d_age=pl.col("age").diff().over("person_id"),
    ).drop_nulls("d_prior")
    assert steps.height > 0
    assert (steps.get_column("d_prior") >= 1).all()  # each new sentence follows a proven offence
    assert (steps.get_column("d_age") >= 0).all()


def test_volumes_respond_to_reoffending():
    base = SynthParams()
    calm = dataclasses.replace(base, rate_intercept=base.rate_intercept - 1.0)
    n_base = generate(years=2, scale=0.02, seed=5, params=base).episodes.height
    n_calm = generate(years=2, scale=0.02, seed=5, params=calm).episodes.height
    assert n_calm < 0.85 * n_base


def test_short_custody_supervised_for_adults_only_after_ora(small):
    e = small.episodes.filter(pl.col("sentence") == "custody_short")
    before = e.filter(pl.col("start_date") < dt.date(2015, 2, 1))
    assert before.height > 0
    assert (before.get_column("age") < 21).all()  # young adults only, before the ORA
    after = e.filter(pl.col("start_date") >= dt.date(2015, 2, 1))
    assert (after.get_column("age") >= 21).mean() > 0.8
    # The step: monthly volume jumps.
    monthly = small.episodes.group_by(m=pl.col("start_date").dt.truncate("1mo")).len()
    jan = monthly.filter(pl.col("m") == dt.date(2015, 1, 1)).get_column("len").item()
    mar = monthly.filter(pl.col("m") == dt.date(2015, 3, 1)).get_column("len").item()
    assert mar > 1.1 * jan


def test_areas_sized_by_the_population_proxy(small):
    counts = small.episodes.group_by("area_id").len()
    shares = dict(zip([a.area_id for a in AREAS], area_shares(), strict=True))
    assert set(counts.get_column("area_id")) == set(shares)
    total = counts.get_column("len").sum()
    for area, n in counts.iter_rows():
        assert abs(n / total - shares[area]) < 0.25 * shares[area] + 0.004, area
    # NPS plus one CRC per area
    providers = set(small.episodes.get_column("provider_id"))
    assert providers == {a.crc_id for a in AREAS} | {"nps"}


def test_court_delays_have_a_tail_past_six_months(small):
    o = small.offences
    delay = (o.get_column("disposal_date") - o.get_column("offence_date")).dt.total_days()
    assert 0.05 < (delay > 182).mean() < 0.3


def test_custody_episodes_name_a_prison_and_others_do_not(small):
    e = small.episodes
    custody = e.get_column("sentence").is_in(["custody_short", "custody_long"])
    assert e.filter(custody).get_column("prison_id").null_count() == 0
    assert e.filter(~custody).get_column("prison_id").null_count() == e.filter(~custody).height


def test_write_is_all_or_nothing(tmp_path, monkeypatch, small):
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    with pytest.raises(OSError):
        write(small, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_synth_writes_every_table(tmp_path, fmt):
    out = tmp_path / "d"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--years", "1", "--scale", "0.005",
                                      "--seed", "2", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.{fmt}" for t in TABLES)
    assert "episodes of" in result.output


def test_cli_synth_rejects_a_bad_start_date(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "d"), "--start", "31/12/2014"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
    assert not (tmp_path / "d").exists()


def test_ogrs_score_follows_the_published_formula():
    from pbrkit.synth.people import ogrs3_linear

    # A 25-year-old man, 4 previous sanctions, first at 20, theft (domain.md s.7).
    x = ogrs3_linear(np.array([25.0]), np.array([False]), np.array([4]), np.array([20.0]), np.array([1]))
    copas = np.log(5 / 15)
    expected = 1.25112 * copas - 1.1667 + 0.46306 + 0.6612
    assert x[0] == pytest.approx(expected)
