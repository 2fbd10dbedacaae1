"""`pbrkit validate` and `validate()`: every rule of data standard v1, on a corpus of broken datasets.

Each corpus directory breaks exactly one rule. The command must name it in the
documented line format (with the row a data manager would look at), exit 2,
and write nothing anywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from standard_builders import (
    CLEAN,
    CORPUS,
    CSV_CASES,
    PARQUET_CASES,
    clean_text_frame,
    clean_typed_frame,
    expected_lines,
    tree_snapshot,
    write_parquet_case,
)
from typer.testing import CliRunner

from pbrkit.cli import app
from pbrkit.standard.problems import Problem, grouped_lines, summary
from pbrkit.standard.schema import TABLES
from pbrkit.standard.validate import validate, validate_dataset

PBRKIT = Path(sys.executable).parent / "pbrkit"
ALL_CASES = CSV_CASES + sorted(PARQUET_CASES)


@pytest.fixture
def case(request, tmp_path) -> tuple[Path, list[str]]:
    """A broken dataset (committed CSV, or Parquet written into tmp_path) and its expected lines."""
    name = request.param
    if name in PARQUET_CASES:
        directory = tmp_path / "data" / name
        return directory, write_parquet_case(name, directory)
    return CORPUS / name, expected_lines(CORPUS / name)


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cwd"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def write_dataset(directory: Path, **files: str | bytes) -> Path:
    """A dataset of the clean episodes and offences, with some files replaced or added."""
    directory.mkdir(parents=True, exist_ok=True)
    for table in ("episodes", "offences"):
        shutil.copy(CLEAN / f"{table}.csv", directory / f"{table}.csv")
    for name, content in files.items():
        path = directory / name.replace("_csv", ".csv").replace("_parquet", ".parquet")
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return directory


def lines_of(problems: list[Problem]) -> list[str]:
    return [p.line() for p in problems]


# ---------------------------------------------------------------------------
# The corpus, through the command


def test_the_corpus_covers_the_rules_the_issue_names():
    required = {
        "unknown_enum", "bom", "semicolon_separated", "empty_file", "header_only", "duplicate_column_name",
        "date_not_iso", "missing_table", "missing_column", "empty_required_value", "age_not_whole_number",
        "age_out_of_range", "negative_prior_offences", "ogrs_over_100", "bad_boolean", "duplicate_episode_id",
        "offence_of_unknown_person", "disposal_before_offence", "service_event_of_unknown_episode",
        "transfer_of_unknown_episode", "transfer_before_start", "csv_and_parquet", "parquet_age_out_of_range",
    }
    assert required <= set(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, indirect=True)
def test_validate_command_reports_the_broken_rule_and_writes_nothing(case, cwd):
    directory, expected = case
    before = (tree_snapshot(directory), tree_snapshot(cwd))
    result = CliRunner().invoke(app, ["validate", str(directory)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    for line in expected:
        assert line in lines
    assert lines[-1].startswith("The dataset does not meet data standard v1: 1 rule broken in 1 table")
    assert (tree_snapshot(directory), tree_snapshot(cwd)) == before


@pytest.mark.parametrize("case", ALL_CASES, indirect=True)
def test_each_corpus_dataset_breaks_exactly_one_rule(case):
    directory, expected = case
    problems = validate(directory)
    assert {p.rule_key for p in problems} == {problems[0].rule_key}
    assert lines_of(problems) == expected


@pytest.mark.parametrize("case", ["bom", "duplicate_episode_id", "parquet_age_out_of_range"], indirect=True)
def test_installed_command_exits_2_with_the_message(case, cwd):
    directory, expected = case
    before = (tree_snapshot(directory), tree_snapshot(cwd))
    done = subprocess.run([str(PBRKIT), "validate", str(directory)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert set(expected) <= set(done.stdout.splitlines())
    assert (tree_snapshot(directory), tree_snapshot(cwd)) == before


def test_installed_command_passes_the_clean_dataset(cwd):
    done = subprocess.run([str(PBRKIT), "validate", str(CLEAN)], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "The dataset meets data standard v1: 4 tables, 12 rows."
    assert tree_snapshot(cwd) == {}


def test_clean_dataset_exits_0_with_a_sentence(cwd):
    result = CliRunner().invoke(app, ["validate", str(CLEAN)])
    assert result.exit_code == 0
    assert result.output.strip() == "The dataset meets data standard v1: 4 tables, 12 rows."


@pytest.mark.parametrize("where", ["no_such_dir", "clean/episodes.csv"])
def test_a_path_that_is_not_a_dataset_directory_exits_2_plainly(where, cwd):
    path = CORPUS / where
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("Nothing to validate: ")
    assert str(path) in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------
# Grouping many failures of one rule


def test_many_failures_of_one_rule_are_grouped_with_counts(tmp_path, cwd):
    n = 1_000
    episodes = pl.DataFrame({
        "episode_id": [f"E{i}" for i in range(n)],
        "person_id": [f"P{i}" for i in range(n)],
        "start_date": ["2014-01-01"] * n,
        "area_id": ["A01"] * n,
        "provider_id": ["CRC01"] * n,
        "sentence": ["community_order"] * n,
        "risk_tier": ["low"] * n,
        "age": ["x" if i % 4 == 1 else "30" for i in range(n)],
        "sex": ["M"] * n,
        "prior_offences": ["0"] * n,
    })
    directory = tmp_path / "many"
    directory.mkdir()
    episodes.write_csv(directory / "episodes.csv")
    pl.DataFrame({"person_id": ["P0"], "offence_date": ["2014-05-01"], "disposal_date": ["2014-06-01"]}).write_csv(
        directory / "offences.csv")
    result = CliRunner().invoke(app, ["validate", str(directory)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "episodes:3: column 'age' value 'x': must be a whole number",
        "episodes:7: column 'age' value 'x': must be a whole number",
        "episodes:11: column 'age' value 'x': must be a whole number",
        "episodes:15: column 'age' value 'x': must be a whole number",
        "episodes:19: column 'age' value 'x': must be a whole number",
        "  … and 245 more rows fail this rule (250 in all)",
        "The dataset does not meet data standard v1: 1 rule broken in 1 table; 250 row problems.",
    ]


def test_grouping_keeps_rules_apart_and_in_first_seen_order():
    problems = [
        Problem("episodes", r, "age", "x", "must be a whole number", rows_in_all=7)
        for r in (2, 3, 4, 5, 6)
    ] + [
        Problem("offences", None, None, None, "required table is missing: expected offences.csv or offences.parquet"),
        Problem("episodes", 9, "sex", "m", "must be one of M, F"),
    ]
    assert grouped_lines(problems) == [
        "episodes:2: column 'age' value 'x': must be a whole number",
        "episodes:3: column 'age' value 'x': must be a whole number",
        "episodes:4: column 'age' value 'x': must be a whole number",
        "episodes:5: column 'age' value 'x': must be a whole number",
        "episodes:6: column 'age' value 'x': must be a whole number",
        "  … and 2 more rows fail this rule (7 in all)",
        "offences: required table is missing: expected offences.csv or offences.parquet",
        "episodes:9: column 'sex' value 'm': must be one of M, F",
    ]
    assert summary(problems) == (
        "The dataset does not meet data standard v1: 3 rules broken in 2 tables; 8 row problems."
    )


def test_a_value_with_a_line_break_stays_on_one_line():
    problem = Problem("transfers", 4, "reason", "risk\nescalation", "must be text")
    assert problem.line() == "transfers:4: column 'reason' value 'risk\\nescalation': must be text"


def test_validate_keeps_only_a_few_examples_but_counts_all(tmp_path):
    n = 200
    directory = write_dataset(tmp_path / "d", offences_csv="person_id,offence_date,disposal_date\n"
                              + "P1,2014-05-01,2014-04-01\n" * n)
    problems = validate(directory, examples=3)
    assert [p.row for p in problems] == [2, 3, 4]
    assert {p.rows_in_all for p in problems} == {n}


# ---------------------------------------------------------------------------
# Reading cells: what each type accepts


def episodes_with(column: str, values: list[str]) -> str:
    """An episodes CSV with one row per value, every other cell valid."""
    frame = clean_text_frame("episodes").head(1)
    rows = pl.concat([frame] * len(values)).with_columns(
        pl.Series("episode_id", [f"E{i}" for i in range(len(values))]),
        pl.Series(column, values, dtype=pl.String),
    )
    return rows.write_csv()


@pytest.mark.parametrize(("column", "good", "bad"), [
    ("start_date", ["2014-12-31", "2016-02-29"], ["31/12/2014", "2014-1-5", "+2014-12-31", "2014-02-30", "20141231",
                                                  "2014-12-31T00:00"]),
    ("age", ["24", "042", "+30", "100"], ["24.0", " 24", "1e1", "thirty", "3000000000"]),
    ("ogrs", ["0", "41.5", "1e1", ".5", "100"], ["nan", "inf", "1,5", "41.5%"]),
    ("sex", ["M", "F"], ["m", "male", " M"]),
])
def test_cells_of_each_type(tmp_path, column, good, bad):
    directory = write_dataset(tmp_path / "d", episodes_csv=episodes_with(column, good + bad))
    problems = [p for p in validate(directory, examples=100) if p.column == column]
    assert sorted(p.value for p in problems) == sorted(bad)
    assert {p.rule for p in problems} == {TABLES["episodes"].column(column).rule_text()}


def test_booleans_accept_the_usual_words_in_any_case(tmp_path):
    words = ["true", "FALSE", "True", "yes", "No", "1", "0", "t", "F", "y", "n", "maybe", "2", "ja"]
    events = "episode_id,kind,due_date,complete\n" + "".join(f"E1,induction,2014-01-10,{w}\n" for w in words)
    problems = validate(write_dataset(tmp_path / "d", service_events_csv=events), examples=100)
    assert [(p.row, p.value, p.rule) for p in problems] == [
        (13, "maybe", "must be true or false"), (14, "2", "must be true or false"), (15, "ja", "must be true or false"),
    ]


def test_a_quoted_empty_cell_is_a_missing_value(tmp_path):
    offences = 'person_id,offence_date,disposal_date\n"",2014-05-01,2014-06-01\n'
    problems = validate(write_dataset(tmp_path / "d", offences_csv=offences))
    assert lines_of(problems) == ["offences:2: column 'person_id': required value is missing"]


def test_optional_columns_may_be_absent_or_empty_and_extra_columns_are_ignored(tmp_path):
    episodes = clean_text_frame("episodes").drop("ogrs", "prison_id").with_columns(
        pl.lit("anything at all").alias("notes"))
    directory = write_dataset(tmp_path / "d", episodes_csv=episodes.write_csv(),
                              service_events_csv="episode_id,kind,due_date,done_date,complete\n"
                                                 "E1,induction,2014-01-10,,\n")
    assert validate(directory) == []


def test_an_optional_table_with_a_header_only_is_fine(tmp_path):
    directory = write_dataset(tmp_path / "d", transfers_csv="episode_id,transfer_date,to_provider_id,reason\n")
    findings = validate_dataset(directory)
    assert findings.ok
    assert findings.rows["transfers"] == 0


def test_an_empty_optional_table_file_is_still_a_problem(tmp_path):
    directory = write_dataset(tmp_path / "d", transfers_csv="")
    assert lines_of(validate(directory)) == ["transfers: file is empty (no header row)"]


def test_a_tab_separated_file_is_named_as_such(tmp_path):
    text = (CLEAN / "offences.csv").read_text().replace(",", "\t")
    directory = write_dataset(tmp_path / "d", offences_csv=text)
    assert lines_of(validate(directory)) == [
        "offences: columns are separated by tabs, not commas: save the file as comma-separated CSV"]


def test_a_blank_first_line_is_not_taken_for_a_header(tmp_path):
    directory = write_dataset(tmp_path / "d", offences_csv="\n" + (CLEAN / "offences.csv").read_text())
    assert lines_of(validate(directory)) == ["offences: line 1 is blank: the header row must come first"]


def test_a_blank_line_between_rows_keeps_the_line_numbers_true(tmp_path):
    text = "person_id,offence_date,disposal_date\nP1,2014-05-01,2014-06-01\n\nP9,2014-05-01,2014-06-01\n"
    problems = validate(write_dataset(tmp_path / "d", offences_csv=text))
    assert "offences:4: column 'person_id' value 'P9': must exist in episodes.person_id" in lines_of(problems)


def test_text_that_is_really_utf8_replacement_characters_is_not_a_problem(tmp_path):
    text = (CLEAN / "episodes.csv").read_text().replace("HMP001", "HMP\ufffd01")
    assert validate(write_dataset(tmp_path / "d", episodes_csv=text)) == []


def test_rows_of_an_unknown_table_file_are_ignored(tmp_path):
    directory = write_dataset(tmp_path / "d", notes_csv="not,a;table\n")
    assert validate(directory) == []


def test_a_missing_directory_is_an_error_not_a_problem_list(tmp_path):
    with pytest.raises(FileNotFoundError):
        validate(tmp_path / "absent")


# ---------------------------------------------------------------------------
# Parquet: typed columns accepted when they convert without loss


def test_typed_parquet_columns_that_convert_without_loss_are_accepted(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    episodes = clean_typed_frame("episodes").with_columns(
        pl.col("age").cast(pl.UInt8),
        pl.col("prior_offences").cast(pl.Float64),  # as pandas writes an integer column with gaps
        pl.col("ogrs").cast(pl.Float32),
        pl.col("sentence").cast(pl.String).cast(pl.Categorical),
        pl.col("sex").cast(pl.String),
        pl.col("start_date").cast(pl.Datetime("ms")),
    )
    episodes.write_parquet(directory / "episodes.parquet")
    clean_typed_frame("offences").write_parquet(directory / "offences.parquet")
    clean_text_frame("service_events").with_columns(pl.col("complete").replace("", None)).write_parquet(
        directory / "service_events.parquet")
    assert validate(directory) == []


def test_parquet_whole_numbers_must_be_whole(tmp_path):
    directory = write_dataset(tmp_path / "d")
    (directory / "episodes.csv").unlink()
    clean_typed_frame("episodes").with_columns(
        pl.Series("age", [24.0, 31.5, 45.0, 25.0]),
    ).write_parquet(directory / "episodes.parquet")
    assert lines_of(validate(directory)) == ["episodes:2: column 'age' value '31.5': must be a whole number"]


def test_a_parquet_enum_outside_the_standard_is_reported(tmp_path):
    directory = write_dataset(tmp_path / "d")
    (directory / "episodes.csv").unlink()
    clean_typed_frame("episodes").with_columns(
        pl.Series("risk_tier", ["low", "medium", "very high", "low"], dtype=pl.Enum(["low", "medium", "very high"])),
    ).write_parquet(directory / "episodes.parquet")
    assert lines_of(validate(directory)) == [
        "episodes:3: column 'risk_tier' value 'very high': must be one of low, medium, high"]


def test_a_nested_parquet_column_is_reported_once(tmp_path):
    directory = write_dataset(tmp_path / "d")
    (directory / "offences.csv").unlink()
    clean_typed_frame("offences").with_columns(pl.col("person_id").map_elements(lambda p: [p], return_dtype=pl.List(
        pl.String))).write_parquet(directory / "offences.parquet")
    assert lines_of(validate(directory)) == [
        "offences: column 'person_id': must be text (the Parquet column holds List(String))"]


def test_a_column_name_differing_only_in_case_or_spaces_is_pointed_out(tmp_path):
    text = (CLEAN / "episodes.csv").read_text().replace(",sex,", ", Sex,", 1)
    assert lines_of(validate(write_dataset(tmp_path / "d", episodes_csv=text))) == [
        "episodes: column 'sex': required column is missing (the header has ' Sex': "
        "names are lower case, without spaces)"]


def test_an_empty_parquet_file_is_reported_without_talk_of_headers(tmp_path):
    directory = write_dataset(tmp_path / "d", transfers_parquet=b"")
    assert lines_of(validate(directory)) == ["transfers: file is empty"]


def test_a_file_that_is_not_parquet_is_reported_not_raised(tmp_path):
    directory = write_dataset(tmp_path / "d", transfers_parquet=b"episode_id,transfer_date\n")
    [problem] = validate(directory)
    assert problem.line().startswith("transfers: file could not be read as PARQUET: ")
