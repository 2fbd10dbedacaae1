"""Load a data-standard directory into typed Polars frames.

Loading is all or nothing: a dataset that breaks the standard raises
`DataStandardError` with every problem, rather than handing `measure` or `pay`
frames with holes where bad cells were. Cells become typed values through the
same expressions the validator checks (`values.py`), so whatever validates
loads, with the same values.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pbrkit.standard.problems import DataStandardError
from pbrkit.standard.schema import Dataset, conform
from pbrkit.standard.validate import (
    OpenTable,
    dataset_directory,
    find_table_files,
    open_table,
    validate,
)
from pbrkit.standard.values import breaks_type

_BREAKS_TYPE = "__pbrkit_breaks_type"


def load(path: str | Path, *, check: bool = True) -> Dataset:
    """The dataset at `path`, one typed frame per table in standard column order.

    Extra columns are kept, after the standard ones, as they were in the file.
    With `check` (the default) the whole standard is validated first. Without
    it, for trusted data such as pbrkit's own Parquet, ranges, uniqueness and
    references are not checked, but files, columns and types still are: a cell
    that would not convert to its type makes the load fail (with the full
    validation's problems), never turns quietly into a missing value.
    """
    if check:
        problems = validate(path)
        if problems:
            raise DataStandardError(problems)
    files, problems = find_table_files(dataset_directory(path))
    if problems:
        raise DataStandardError(problems)
    frames: dict[str, pl.DataFrame] = {}
    for name, table_file in files.items():
        table, problems = open_table(table_file, lossy=False)
        if table is None or problems:
            raise DataStandardError(problems)
        frames[name] = conform(name, _typed_frame(table, path, check_types=not check))
    return Dataset(**frames, source=str(path))


def _typed_frame(table: OpenTable, path: str | Path, *, check_types: bool) -> pl.DataFrame:
    """The table's columns converted to the standard types, in one streaming read."""
    columns = [table.value(name) for name in table.usable]
    columns += [pl.col(name) for name in table.extra]
    if check_types:
        flags = [breaks_type(column, table.dtypes[name]) for name, column in table.usable.items()]
        columns.append(pl.any_horizontal(pl.lit(False), *flags).alias(_BREAKS_TYPE))
    try:
        frame = table.scan.select(columns).collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _failed_load(path, table, error) from error
    if check_types:
        if frame[_BREAKS_TYPE].any():
            raise _failed_load(path, table, None)
        frame = frame.drop(_BREAKS_TYPE)
    return frame


def _failed_load(path: str | Path, table: OpenTable, error: Exception | None) -> DataStandardError:
    """The error for a table that would not convert: the validator's full account of why."""
    problems = validate(path)
    if not problems:  # the validator reads text leniently; say what the strict read met
        reason = str(error).strip().splitlines()[0] if error else "values do not convert to the standard types"
        problems = [table.file.problem(f"file could not be loaded: {reason}")]
    return DataStandardError(problems)
