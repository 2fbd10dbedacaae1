"""`pbrkit.load`: typed frames from CSV or Parquet, all or nothing."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standard_builders import CLEAN, CORPUS, clean_typed_frame, tree_snapshot

import pbrkit
from pbrkit.standard.load import load
from pbrkit.standard.problems import DataStandardError
from pbrkit.standard.schema import (
    RISK_TIERS,
    SENTENCES,
    SEXES,
    TABLES,
    Dataset,
    conform,
)

TABLE_NAMES = ["episodes", "offences", "service_events", "transfers"]


def assert_standard_schema(data: Dataset) -> None:
    for name, frame in data.tables().items():
        standard = TABLES[name].polars_schema
        assert dict(list(frame.schema.items())[: len(standard)]) == standard


def test_load_gives_typed_frames_in_standard_order_from_csv():
    data = pbrkit.load(CLEAN)
    assert sorted(data.tables()) == sorted(TABLE_NAMES)
    assert_standard_schema(data)
    episodes = data.episodes
    assert episodes.columns == TABLES["episodes"].names
    assert episodes.row(0, named=True) == {
        "episode_id": "E1", "person_id": "P1", "start_date": date(2014, 1, 6), "area_id": "A01",
        "provider_id": "CRC01", "sentence": "custody_short", "risk_tier": "low", "age": 24, "sex": "M",
        "prior_offences": 3, "ogrs": 41.5, "prison_id": "HMP001",
    }
    assert episodes["ogrs"].to_list() == [41.5, 12.0, 63.25, None]
    assert data.service_events["complete"].to_list() == [True, False, None, True]
    assert data.service_events["done_date"].to_list()[2] is None
    assert data.source == str(CLEAN)


def test_load_gives_the_same_frames_from_parquet_as_from_csv(tmp_path):
    for name in TABLE_NAMES:
        clean_typed_frame(name).write_parquet(tmp_path / f"{name}.parquet")
    from_parquet, from_csv = load(tmp_path), load(CLEAN)
    for name in TABLE_NAMES:
        assert from_parquet.tables()[name].equals(from_csv.tables()[name])


def test_load_converts_typed_parquet_columns_to_the_standard_types(tmp_path):
    shutil.copy(CLEAN / "offences.csv", tmp_path / "offences.csv")
    clean_typed_frame("episodes").with_columns(
        pl.col("age").cast(pl.Int64),
        pl.col("prior_offences").cast(pl.Float64),
        pl.col("sentence").cast(pl.String).cast(pl.Categorical),
        pl.col("start_date").cast(pl.Datetime("ns")),
        pl.col("ogrs").cast(pl.Float32),
    ).write_parquet(tmp_path / "episodes.parquet")
    data = load(tmp_path)
    assert_standard_schema(data)
    assert data.episodes["start_date"].to_list()[0] == date(2014, 1, 6)
    assert data.episodes["prior_offences"].to_list() == [3, 0, 12, 4]
    assert data.service_events is None and data.transfers is None


def test_extra_columns_are_kept_after_the_standard_ones(tmp_path):
    shutil.copy(CLEAN / "offences.csv", tmp_path / "offences.csv")
    episodes = pl.read_csv(CLEAN / "episodes.csv", infer_schema=False)
    episodes.select(pl.lit("note").alias("notes"), *episodes.columns[::-1]).write_csv(tmp_path / "episodes.csv")
    data = load(tmp_path)
    assert data.episodes.columns == TABLES["episodes"].names + ["notes"]
    assert data.episodes["notes"].dtype == pl.String


def test_optional_columns_absent_from_the_file_load_as_missing(tmp_path):
    shutil.copy(CLEAN / "offences.csv", tmp_path / "offences.csv")
    pl.read_csv(CLEAN / "episodes.csv", infer_schema=False).drop("ogrs").write_csv(tmp_path / "episodes.csv")
    data = load(tmp_path)
    assert data.episodes["ogrs"].dtype == pl.Float64
    assert data.episodes["ogrs"].null_count() == data.episodes.height


@pytest.mark.parametrize("case", ["unknown_enum", "bom", "duplicate_episode_id", "missing_table", "ragged_row"])
def test_load_refuses_a_broken_dataset_and_says_why(case):
    directory = CORPUS / case
    before = tree_snapshot(directory)
    with pytest.raises(DataStandardError) as raised:
        load(directory)
    expected = (directory / "expected.txt").read_text().splitlines()
    assert [p.line() for p in raised.value.problems] == expected
    assert str(raised.value).splitlines()[: len(expected)] == expected
    assert str(raised.value).endswith("Nothing was loaded.")
    assert tree_snapshot(directory) == before


def test_the_package_facade_refuses_a_broken_dataset_too():
    with pytest.raises(DataStandardError):
        pbrkit.load(CORPUS / "date_not_iso")


@pytest.mark.parametrize("case", ["age_not_whole_number", "date_not_iso", "unknown_enum", "bad_boolean",
                                  "not_utf8", "missing_column", "semicolon_separated", "ragged_row"])
def test_unchecked_load_still_casts_strictly(case):
    with pytest.raises(DataStandardError) as raised:
        load(CORPUS / case, check=False)
    assert [p.line() for p in raised.value.problems] == (CORPUS / case / "expected.txt").read_text().splitlines()


def test_unchecked_load_skips_the_rules_beyond_types():
    data = load(CORPUS / "age_out_of_range", check=False)
    assert data.episodes["age"].to_list() == [24, 9, 45, 25]


def test_unchecked_load_matches_checked_load_on_good_data():
    checked, unchecked = load(CLEAN), load(CLEAN, check=False)
    for name in TABLE_NAMES:
        assert checked.tables()[name].equals(unchecked.tables()[name])


def test_a_missing_directory_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent")


# ---------------------------------------------------------------------------
# Property: any valid rows survive a trip through CSV unchanged

ids = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))
episode_rows = st.fixed_dictionaries({
    "person_id": ids,
    "start_date": dates,
    "area_id": ids,
    "provider_id": st.sampled_from(["CRC01", "NPS", "Bright, Future Ltd", 'say "hi"']),
    "sentence": st.sampled_from(SENTENCES),
    "risk_tier": st.sampled_from(RISK_TIERS),
    "age": st.integers(10, 100),
    "sex": st.sampled_from(SEXES),
    "prior_offences": st.integers(0, 2**31 - 1),
    "ogrs": st.none() | st.floats(0, 100, allow_nan=False),
    "prison_id": st.none() | ids,
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(episode_rows, min_size=1, max_size=12))
def test_valid_rows_round_trip_through_csv_unchanged(rows, tmp_path_factory):
    directory = tmp_path_factory.mktemp("roundtrip")
    schema = {c.name: c.dtype for c in TABLES["episodes"].columns if c.name != "episode_id"}
    episodes = conform("episodes", pl.DataFrame(rows, schema=schema).with_columns(
        pl.format("E{}", pl.int_range(pl.len())).alias("episode_id")))
    offences = conform("offences", pl.DataFrame({
        "person_id": episodes["person_id"],
        "offence_date": episodes["start_date"],
        "disposal_date": episodes["start_date"],
    }))
    episodes.write_csv(directory / "episodes.csv")
    offences.write_csv(directory / "offences.csv")
    data = load(directory)
    assert data.episodes.equals(episodes)
    assert data.offences.equals(offences)
