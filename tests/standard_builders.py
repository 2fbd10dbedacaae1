"""Datasets for the data-standard tests: the committed CSV corpus and Parquet cases built on demand.

The corpus under `tests/corpus/` is literal CSV, one directory per broken
rule, each with an `expected.txt` holding the exact problem line(s) the
validator must print. Parquet is binary, so its cases are written into a test's
tmp_path by `write_parquet_case` instead of being committed.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl

from pbrkit.standard.schema import TABLES, conform

CORPUS = Path(__file__).parent / "corpus"
CLEAN = CORPUS / "clean"

#: The committed broken datasets (every corpus directory but the clean one).
CSV_CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p.name != "clean")


def expected_lines(case_dir: Path) -> list[str]:
    return (case_dir / "expected.txt").read_text(encoding="utf-8").splitlines()


def clean_text_frame(table: str) -> pl.DataFrame:
    """A clean corpus table exactly as written, every cell as text."""
    return pl.read_csv(CLEAN / f"{table}.csv", infer_schema=False)


def clean_typed_frame(table: str) -> pl.DataFrame:
    """A clean corpus table in the standard types (what a careful Parquet producer writes).

    Built with plain Polars rather than the loader, so the tests do not grade
    the loader with its own work.
    """
    frame = clean_text_frame(table)
    for column in TABLES[table].columns:
        if column.name in frame.columns and column.kind == "date":
            frame = frame.with_columns(pl.col(column.name).str.to_date("%Y-%m-%d"))
        if column.name in frame.columns and column.kind == "boolean":
            frame = frame.with_columns(pl.col(column.name).str.to_lowercase() == "true")
    return conform(table, frame)


def _copy_clean(directory: Path, tables: tuple[str, ...] = ("episodes", "offences")) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for table in tables:
        shutil.copy(CLEAN / f"{table}.csv", directory / f"{table}.csv")


def _replace(frame: pl.DataFrame, column: str, row: int, value) -> pl.DataFrame:
    """The frame with one cell (0-based row) replaced, the column keeping its type."""
    values = frame[column].to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame[column].dtype))


def _parquet_age_out_of_range(directory: Path) -> list[str]:
    _copy_clean(directory, ("offences",))
    episodes = clean_typed_frame("episodes").with_columns(pl.col("age").cast(pl.Int64))
    _replace(episodes, "age", 2, 9).write_parquet(directory / "episodes.parquet")
    # Row 3 of a Parquet file is its third row (in a CSV file, line 3 is the second row).
    return ["episodes:3: column 'age' value '9': must be between 10 and 100"]


def _parquet_date_as_text(directory: Path) -> list[str]:
    _copy_clean(directory, ("episodes",))
    offences = clean_text_frame("offences")  # dates left as text: checked like CSV cells
    _replace(offences, "offence_date", 1, "31/12/2014").write_parquet(directory / "offences.parquet")
    return ["offences:2: column 'offence_date' value '31/12/2014': must be a date YYYY-MM-DD"]


def _parquet_date_with_time_of_day(directory: Path) -> list[str]:
    _copy_clean(directory, ("offences",))
    episodes = clean_typed_frame("episodes").with_columns(pl.col("start_date").cast(pl.Datetime("us")))
    episodes = _replace(episodes, "start_date", 3, datetime(2014, 9, 15, 13, 30))
    episodes.write_parquet(directory / "episodes.parquet")
    return ["episodes:4: column 'start_date' value '2014-09-15 13:30:00.000000': must be a date YYYY-MM-DD"]


def _csv_and_parquet(directory: Path) -> list[str]:
    _copy_clean(directory)
    clean_typed_frame("episodes").write_parquet(directory / "episodes.parquet")
    return ["episodes: both episodes.csv and episodes.parquet are present: keep only one"]


PARQUET_CASES = {
    "parquet_age_out_of_range": _parquet_age_out_of_range,
    "parquet_date_as_text": _parquet_date_as_text,
    "parquet_date_with_time_of_day": _parquet_date_with_time_of_day,
    "csv_and_parquet": _csv_and_parquet,
}


def write_parquet_case(name: str, directory: Path) -> list[str]:
    """Write a Parquet case into `directory`; return the problem line(s) it must give."""
    return PARQUET_CASES[name](directory)


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under `root`, with a digest of each file's bytes."""
    snapshot: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        snapshot[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return snapshot
