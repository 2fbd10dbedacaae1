"""Check a dataset directory against data standard v1, rule by rule.

The rules come from `schema.py` (tables, columns, types, ranges, references,
date orders); this module only knows how to look for breaches in files. Files
from a national provider can be gigabytes, so nothing here reads a table into
Python objects: every check is a lazy Polars query run on the streaming engine,
and what comes back is a count per rule plus a few example rows. Value rules of
one table share a single pass over its file; uniqueness is a group-by, and
references are anti-joins between lazy scans.

Rows are numbered as the sender sees them: the line number in a CSV file (the
header is line 1; a value with an embedded line break would shift later lines,
which no spreadsheet export produces), and the 1-based row in a Parquet file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from pbrkit.standard.problems import EXAMPLES_SHOWN, Problem, clean_summary, summary
from pbrkit.standard.schema import (
    DATE_ORDERS,
    REFERENCES,
    TABLES,
    Column,
    DateOrder,
    Reference,
    Table,
)
from pbrkit.standard.values import (
    cell_breaks_type,
    cell_text,
    filled_cell,
    readable,
    standard_value,
)

_BOM = b"\xef\xbb\xbf"
_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_LONGEST_HEADER = 1 << 20
_ROW = "__pbrkit_row"
_KEY = "__pbrkit_key"
_REPLACEMENT_CHARACTER = "\ufffd"

MISSING_VALUE = "required value is missing"
NOT_UTF8 = "text is not UTF-8: save the file as UTF-8"
DUPLICATE = "must be unique in the table"


@dataclass(frozen=True)
class TableFile:
    """The one file that holds a table of the dataset."""

    table: Table
    path: Path

    @property
    def format(self) -> Literal["csv", "parquet"]:
        return "csv" if self.path.suffix == ".csv" else "parquet"

    @property
    def first_row(self) -> int:
        """The number the sender would give the first data row (CSV: line 2, under the header)."""
        return 2 if self.format == "csv" else 1

    def problem(self, rule: str, *, row: int | None = None, column: str | None = None, value: str | None = None,
                rows_in_all: int = 1) -> Problem:
        return Problem(self.table.name, row, column, value, rule, path=str(self.path), rows_in_all=rows_in_all)


@dataclass(frozen=True)
class OpenTable:
    """A table file whose header has been read: a lazy scan and the types of its columns."""

    file: TableFile
    scan: pl.LazyFrame
    dtypes: dict[str, pl.DataType]

    @property
    def usable(self) -> dict[str, Column]:
        """The standard columns present in the file with values that can be read."""
        return {
            c.name: c for c in self.file.table.columns
            if c.name in self.dtypes and readable(self.dtypes[c.name])
        }

    @property
    def extra(self) -> list[str]:
        return [n for n in self.dtypes if n not in self.file.table.names]

    def value(self, name: str) -> pl.Expr:
        return standard_value(self.file.table.column(name), self.dtypes[name])

    def text(self, name: str) -> pl.Expr:
        return cell_text(name, self.dtypes[name])

    def strictly(self) -> OpenTable:
        """The same table read strictly, so that text which is not UTF-8 is an error."""
        return OpenTable(self.file, scan_table_file(self.file, lossy=False), self.dtypes)

    def numbered(self) -> pl.LazyFrame:
        """The scan with each row's number as the sender would count it."""
        return self.scan.with_row_index(_ROW, offset=self.file.first_row)


@dataclass
class Findings:
    """The outcome of validating a dataset: its problems, and the size of what was read."""

    problems: list[Problem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return clean_summary(self.rows) if self.ok else summary(self.problems)


def validate(path: str | Path, *, examples: int = EXAMPLES_SHOWN) -> list[Problem]:
    """Every way the dataset at `path` breaks data standard v1 (empty when it meets it).

    Each row-level problem is one of at most `examples` example rows of its
    rule and carries the count of rows that break the rule in all.
    Raises FileNotFoundError / NotADirectoryError when there is no dataset
    directory to look at, which is a wrong path rather than bad data.
    """
    return validate_dataset(path, examples=examples).problems


def validate_dataset(path: str | Path, *, examples: int = EXAMPLES_SHOWN) -> Findings:
    """Like `validate`, but also counts the rows of each table, for the all-clear message."""
    findings = Findings()
    files, problems = find_table_files(dataset_directory(path))
    findings.problems += problems
    opened: dict[str, OpenTable] = {}
    for name, table_file in files.items():
        table, problems = open_table(table_file)
        findings.problems += problems
        if table is None:
            continue
        rows, problems = check_values(table, examples)
        findings.problems += problems
        if rows is None:
            continue
        findings.rows[name] = rows
        opened[name] = table
        findings.problems += check_unique(table, examples)
    for reference in REFERENCES:
        findings.problems += check_reference(reference, opened, examples)
    for order in DATE_ORDERS:
        findings.problems += check_date_order(order, opened, examples)
    return findings


# ---------------------------------------------------------------------------
# Files and headers


def dataset_directory(path: str | Path) -> Path:
    directory = Path(path)
    if not directory.exists():
        raise FileNotFoundError(f"there is no dataset directory at {directory}")
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file; a dataset is a directory of table files")
    return directory


def find_table_files(directory: Path) -> tuple[dict[str, TableFile], list[Problem]]:
    """The file of each table present, and the tables that are missing or ambiguous."""
    files: dict[str, TableFile] = {}
    problems: list[Problem] = []
    for table in TABLES.values():
        csv_path, parquet_path = directory / f"{table.name}.csv", directory / f"{table.name}.parquet"
        found = [p for p in (csv_path, parquet_path) if p.is_file()]
        if len(found) == 2:
            problems.append(Problem(
                table.name, None, None, None,
                f"both {csv_path.name} and {parquet_path.name} are present: keep only one",
                path=str(directory),
            ))
        elif found:
            files[table.name] = TableFile(table, found[0])
        elif table.required:
            problems.append(Problem(
                table.name, None, None, None,
                f"required table is missing: expected {csv_path.name} or {parquet_path.name}",
                path=str(directory),
            ))
    return files, problems


def open_table(table_file: TableFile, *, lossy: bool = True) -> tuple[OpenTable | None, list[Problem]]:
    """Read a table file's header and check its shape; None when its rows cannot be read.

    `lossy` reads text that is not UTF-8 with replacement characters, so the
    validator can point at the bad rows instead of failing on the first one.
    """
    if table_file.path.stat().st_size == 0:
        return None, [table_file.problem("file is empty" + (" (no header row)" if table_file.format == "csv" else ""))]
    problems: list[Problem] = []
    if table_file.format == "csv":
        problems, header_ok = check_csv_header(table_file)
        if not header_ok:
            return None, problems
    scan = scan_table_file(table_file, lossy=lossy)
    try:
        dtypes = dict(scan.collect_schema())
    except (pl.exceptions.PolarsError, OSError) as error:
        return None, problems + [table_file.problem(_unreadable(table_file, error))]
    table = OpenTable(table_file, scan, dtypes)
    for column in table_file.table.columns:
        if column.name not in dtypes:
            if column.required:
                problems.append(table_file.problem(_missing_column(column, dtypes), column=column.name))
        elif not readable(dtypes[column.name]):
            problems.append(table_file.problem(
                f"{column.rule_text()} (the Parquet column holds {dtypes[column.name]})",
                column=column.name,
            ))
    return table, problems


def _missing_column(column: Column, present: dict[str, pl.DataType]) -> str:
    """The missing-column rule, pointing at a header name that differs only in case or spaces."""
    near = [name for name in present if name.strip().lower() == column.name]
    if near:
        return f"required column is missing (the header has {near[0]!r}: names are lower case, without spaces)"
    return "required column is missing"


def scan_table_file(table_file: TableFile, *, lossy: bool) -> pl.LazyFrame:
    """A lazy scan of a table file, every CSV cell as text (types are the standard's business)."""
    if table_file.format == "parquet":
        return pl.scan_parquet(table_file.path)
    return pl.scan_csv(table_file.path, infer_schema=False, encoding="utf8-lossy" if lossy else "utf8")


def check_csv_header(table_file: TableFile) -> tuple[list[Problem], bool]:
    """Problems with a CSV file's first line, and whether its rows can be read at all.

    These are the faults of a spreadsheet's "Save as": a byte order mark, another
    separator, a blank first line, a column copied twice. Polars would quietly
    work round some of them (renaming a second `age` to `age_duplicated_0`), so
    they are caught here, where the header is still the sender's own text.
    """
    with table_file.path.open("rb") as f:
        first_line = f.readline(_LONGEST_HEADER)
        rest = f.read(1)
    problems: list[Problem] = []
    if first_line.startswith(_BOM):
        problems.append(table_file.problem(
            "file starts with a UTF-8 byte order mark (BOM): save it as UTF-8 without BOM"
        ))
        first_line = first_line[len(_BOM):]
    if not first_line.strip():
        rule = "file is empty (no header row)" if not rest else "line 1 is blank: the header row must come first"
        return problems + [table_file.problem(rule)], False
    try:
        header = first_line.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(table_file.problem("header row " + NOT_UTF8))
        header = first_line.decode("utf-8", errors="replace")
    names = next(csv.reader([header.rstrip("\r\n")]))
    if len(names) == 1:
        for separator, plural in _OTHER_SEPARATORS.items():
            if separator in names[0]:
                return problems + [table_file.problem(
                    f"columns are separated by {plural}, not commas: save the file as comma-separated CSV"
                )], False
    for name in sorted(set(names), key=names.index):
        if names.count(name) > 1:
            problems.append(table_file.problem(
                f"column name appears {names.count(name)} times in the header: keep one", column=name,
            ))
    return problems, True


def _unreadable(table_file: TableFile, error: Exception) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"file could not be read as {table_file.format.upper()}: {reason}"


# ---------------------------------------------------------------------------
# Value rules: one pass over each table


@dataclass(frozen=True)
class ValueRule:
    """A rule each cell of a column must keep, as a test that is true on the bad cells.

    The test reads the cell's text and value from columns computed once per
    scan (`_cells`), so thirty rules do not parse each date thirty times.
    """

    column: str
    rule: str
    fails: pl.Expr
    shows_value: bool = True


def _cell_of(name: str) -> str:
    return f"__pbrkit_cell:{name}"


def _value_of(name: str) -> str:
    return f"__pbrkit_value:{name}"


def value_rules(table: OpenTable, *, utf8: bool) -> Iterator[ValueRule]:
    """The cell-by-cell rules of a table file, as the schema states them."""
    for name, column in table.usable.items():
        cell, value = pl.col(_cell_of(name)), pl.col(_value_of(name))
        if column.required:
            yield ValueRule(name, MISSING_VALUE, cell.is_null(), shows_value=False)
        if column.kind != "string":
            yield ValueRule(name, column.rule_text(), cell_breaks_type(cell, value))
        if column.range_text() is not None:
            outside = pl.lit(False)
            if column.minimum is not None:
                outside = outside | (value < column.minimum)
            if column.maximum is not None:
                outside = outside | (value > column.maximum)
            yield ValueRule(name, column.range_text(), outside)
    if utf8:
        for name, dtype in table.dtypes.items():
            if readable(dtype):
                contains = pl.col(_cell_of(name)).str.contains(_REPLACEMENT_CHARACTER, literal=True)
                yield ValueRule(name, NOT_UTF8, contains)


def _cells(table: OpenTable) -> pl.LazyFrame:
    """The numbered rows with each readable cell (null when empty) and each standard column's value.

    A typed Parquet cell is kept as it is rather than turned into text: text
    is what a problem line shows, and is made only for the example rows.
    """
    return table.numbered().with_columns(
        *[filled_cell(name, dtype).alias(_cell_of(name)) for name, dtype in table.dtypes.items() if readable(dtype)],
        *[table.value(name).alias(_value_of(name)) for name in table.usable],
    )


def check_values(table: OpenTable, examples: int) -> tuple[int | None, list[Problem]]:
    """Run every value rule of a table in one streaming pass; also count its rows.

    A CSV file is read strictly first, as UTF-8. Only if that fails is it read
    again leniently, to find the rows with bytes that are not UTF-8, or the
    rows with too many fields. Returns None for the row count when the rows
    cannot be read at all (which is itself reported).
    """
    if table.file.format == "csv":
        try:
            return _run_value_rules(table.strictly(), examples, utf8=False)
        except (pl.exceptions.PolarsError, OSError):
            pass
    try:
        return _run_value_rules(table, examples, utf8=table.file.format == "csv")
    except (pl.exceptions.PolarsError, OSError) as error:
        ragged = ragged_rows(table, examples) if table.file.format == "csv" else []
        return None, ragged or [table.file.problem(_unreadable(table.file, error))]


def _run_value_rules(table: OpenTable, examples: int, *, utf8: bool) -> tuple[int, list[Problem]]:
    """Count each rule's bad cells and note the first few rows, then fetch those rows' values.

    Two passes because Polars streams an aggregate of row numbers in little
    memory but buffers one of (row, text) pairs; the second pass runs only when
    some rule is broken, and keeps only the example rows.
    """
    rules = list(value_rules(table, utf8=utf8))
    aggregates = [pl.len().alias("rows")]
    for i in range(len(rules)):
        aggregates += [
            pl.col(f"fails{i}").sum().alias(f"count{i}"),
            pl.col(_ROW).filter(pl.col(f"fails{i}")).bottom_k(examples).implode().alias(f"rows{i}"),
        ]
    # Read every column, even those without rules: `load` keeps extra columns, and
    # Polars notices bad bytes or a row with too many fields only in columns it reads.
    aggregates += [pl.col(name).null_count().alias(f"read{i}") for i, name in enumerate(table.dtypes)]
    flags = [rule.fails.alias(f"fails{i}") for i, rule in enumerate(rules)]
    result = _cells(table).with_columns(flags).select(aggregates).collect(engine="streaming").row(0, named=True)
    broken = [(i, rule) for i, rule in enumerate(rules) if result[f"count{i}"]]
    example_rows = [row for i, _ in broken for row in result[f"rows{i}"]]
    texts = _texts_of_rows(table, {rule.column for _, rule in broken}, example_rows)
    problems: list[Problem] = []
    for i, rule in broken:
        if rule.rule == NOT_UTF8 and not _really_not_utf8(table.file, rule.column):
            continue
        found = [(row, texts[row][rule.column] if rule.shows_value else None) for row in result[f"rows{i}"]]
        problems += _examples(table.file, rule.column, rule.rule, result[f"count{i}"], found)
    rows = result["rows"]
    if rows == 0 and table.file.table.required:
        rule = "file has a header but no rows" if table.file.format == "csv" else "file has no rows"
        problems.append(table.file.problem(rule + f": {table.file.table.name} is a required table"))
    return rows, problems


def _texts_of_rows(table: OpenTable, columns: set[str], rows: list[int]) -> dict[int, dict[str, str | None]]:
    """The text of some columns in a few numbered rows (the examples of broken rules)."""
    if not rows:
        return {}
    found = (
        table.numbered()
        .filter(pl.col(_ROW).is_in(sorted(set(rows))))
        .select(_ROW, *[table.text(name).alias(name) for name in sorted(columns)])
        .collect(engine="streaming")
    )
    return {r[_ROW]: r for r in found.iter_rows(named=True)}


def ragged_rows(table: OpenTable, examples: int) -> list[Problem]:
    """Rows with more fields than the header, found by reading the file line by line.

    Polars refuses such a file without saying where, and dropping the extra
    fields would hide a shifted row, so the file is read once more, in Python,
    but only after it has failed: a good file never pays for this.
    """
    width = len(table.dtypes)
    found: list[tuple[int, int]] = []
    count = 0
    with table.file.path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        line = reader.line_num + 1
        for fields in reader:
            if len(fields) > width:
                count += 1
                if len(found) < examples:
                    found.append((line, len(fields)))
            line = reader.line_num + 1
    return [
        table.file.problem(f"row has {fields} fields but the header has {width}", row=line, rows_in_all=count)
        for line, fields in found
    ]


def _really_not_utf8(table_file: TableFile, column: str) -> bool:
    """Whether replacement characters came from bad bytes, not from the sender's own text.

    Checked only when some were found, so a clean file is read once.
    """
    try:
        (pl.scan_csv(table_file.path, infer_schema=False)
         .select(pl.col(column).str.len_bytes().sum()).collect(engine="streaming"))
    except pl.exceptions.ComputeError:
        return True
    return False


def _examples(table_file: TableFile, column: str, rule: str, count: int,
              examples: list[tuple[int, str | None]]) -> list[Problem]:
    """Problems for the example (row, value) pairs of one broken rule, each knowing the count in all."""
    return [
        table_file.problem(rule, row=row, column=column, value=value, rows_in_all=count)
        for row, value in sorted(examples, key=lambda e: e[0])
    ]


def _count_and_examples(table: OpenTable, column: str, rule: str, bad_rows: pl.LazyFrame,
                        examples: int) -> list[Problem]:
    """Count the numbered rows of a lazy frame of breaches, and report the first few."""
    result = bad_rows.select(
        pl.len().alias("count"), pl.col(_ROW).bottom_k(examples).implode().alias("rows"),
    ).collect(engine="streaming").row(0, named=True)
    if not result["count"]:
        return []
    texts = _texts_of_rows(table, {column}, result["rows"])
    return _examples(table.file, column, rule, result["count"], [(row, texts[row][column]) for row in result["rows"]])


# ---------------------------------------------------------------------------
# Rules between rows and between tables


def check_unique(table: OpenTable, examples: int) -> list[Problem]:
    """Every row whose value of a unique column is shared with another row.

    Grouping millions of ids as strings costs gigabytes, so the 64-bit hashes
    of the values are sorted instead, and repeats found next to each other;
    only the rows with a repeated hash (true duplicates and, rarely, a
    collision) are then grouped by the value itself.
    """
    problems: list[Problem] = []
    for name, column in table.usable.items():
        if not column.unique:
            continue
        key = table.value(name)
        hashes = table.scan.select(key.alias(_KEY)).drop_nulls().select(pl.col(_KEY).hash(seed=0).alias("hash"))
        repeated_hashes = (
            hashes.sort("hash").filter(pl.col("hash") == pl.col("hash").shift(1)).unique()
            .collect(engine="streaming")["hash"]
        )
        if repeated_hashes.is_empty():
            continue
        candidates = (
            table.numbered().select(_ROW, key.alias(_KEY)).drop_nulls(_KEY)
            .filter(pl.col(_KEY).hash(seed=0).is_in(repeated_hashes.implode()))
            .collect(engine="streaming")
        )
        duplicates = candidates.filter(pl.len().over(_KEY) > 1).lazy()
        problems += _count_and_examples(table, name, DUPLICATE, duplicates, examples)
    return problems


def check_reference(reference: Reference, opened: dict[str, OpenTable], examples: int) -> list[Problem]:
    """Rows whose key is not found in the table it refers to (an anti-join of two scans)."""
    table, target = opened.get(reference.table), opened.get(reference.ref_table)
    if table is None or target is None:
        return []
    if reference.column not in table.usable or reference.ref_column not in target.usable:
        return []
    known = target.scan.select(target.value(reference.ref_column).alias(_KEY)).drop_nulls()
    unknown = (
        table.numbered()
        .select(_ROW, table.value(reference.column).alias(_KEY))
        .drop_nulls(_KEY)
        .join(known, on=_KEY, how="anti")
    )
    return _count_and_examples(table, reference.column, reference.rule_text(), unknown, examples)


def check_date_order(order: DateOrder, opened: dict[str, OpenTable], examples: int) -> list[Problem]:
    """Rows whose date comes before the date it must not precede, in its own row or a linked one."""
    table, earlier = opened.get(order.table), opened.get(order.not_before_table)
    if table is None or earlier is None:
        return []
    needed = [(table, order.column), (earlier, order.not_before_column)]
    if order.join_on is not None:
        needed += [(table, order.join_on), (earlier, order.join_on)]
    if any(name not in t.usable for t, name in needed):
        return []
    rows = table.numbered().select(
        _ROW,
        table.value(order.column).alias("date"),
        *([table.value(order.join_on).alias(_KEY)] if order.join_on else []),
        *([] if order.join_on else [table.value(order.not_before_column).alias("not_before")]),
    )
    if order.join_on is not None:
        # If the linked row is duplicated (reported separately), the earliest date is used,
        # so a row is flagged only when it comes before every candidate.
        linked = (
            earlier.scan.select(
                earlier.value(order.join_on).alias(_KEY),
                earlier.value(order.not_before_column).alias("not_before"),
            )
            .drop_nulls()
            .group_by(_KEY)
            .agg(pl.col("not_before").min())
        )
        rows = rows.join(linked, on=_KEY, how="inner")
    too_early = rows.filter(pl.col("date") < pl.col("not_before"))
    return _count_and_examples(table, order.column, order.rule_text(), too_early, examples)
