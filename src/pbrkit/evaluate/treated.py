"""Reading the list of episodes a service worked with (an edge: this module does I/O).

A service usually sends a spreadsheet export: a CSV with an `episode_id`
column (other columns are ignored), or a plain list with one id per line and
no header. Parquet with an `episode_id` column works too. Every problem is
named by file, row, column and rule, in the data standard's format, so the
person who made the list can find the cell; rows count as the standard
counts them (in a CSV the header is row 1).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

COLUMN = "episode_id"


class TreatedFileError(ValueError):
    """The treated list cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TreatedList:
    path: Path
    ids: list[str]
    rows: dict[str, int]  # id -> the row it is on

    def unknown(self, ids: list[str], limit: int = 5) -> TreatedFileError:
        """The error for ids that are not in the episodes table."""
        lines = [f"{self.path}:{self.rows[i]}: column '{COLUMN}' value '{i}': must be an episode_id in "
                 f"the episodes table" for i in ids[:limit]]
        if len(ids) > limit:
            lines.append(f"… and {len(ids) - limit:,} more ids not in the episodes table")
        return TreatedFileError(lines)


def _values(path: Path) -> list[tuple[int, str | None]]:
    """(row, value) for each listed row, rows numbered as the standard counts them.

    Blank lines are skipped (spreadsheets leave them at the end); an empty
    cell in a non-blank CSV row is a problem.
    """
    if path.suffix.lower() == ".parquet":
        frame = pl.read_parquet(path)
        if COLUMN not in frame.columns:
            raise TreatedFileError([f"{path}: column '{COLUMN}' is missing: the list needs a column named {COLUMN}"])
        return [(row, None if v is None else v.strip() or None)
                for row, v in enumerate(frame[COLUMN].cast(pl.String).to_list(), start=1)]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        names = [h.strip() for h in header]
        if COLUMN in names:
            at = names.index(COLUMN)
            return [(reader.line_num, (row[at].strip() or None) if at < len(row) else None)
                    for row in reader if any(cell.strip() for cell in row)]
        if len(header) > 1:
            raise TreatedFileError([
                f"{path}:1: column '{COLUMN}' is missing: a CSV list needs a header with a column named "
                f"{COLUMN} (or give one episode_id per line and no header)"
            ])
        rows = [(1, header[0].strip())] if header and header[0].strip() else []
        return rows + [(reader.line_num, row[0].strip()) for row in reader if row and row[0].strip()]


def read_treated(path: str | Path) -> TreatedList:
    """The episode ids in the file, checked for blanks and repeats."""
    path = Path(path)
    if not path.is_file():
        raise TreatedFileError([f"{path}: cannot read the treated list: no such file"])
    try:
        values = _values(path)
    except (UnicodeDecodeError, csv.Error, pl.exceptions.PolarsError, OSError) as exc:
        raise TreatedFileError([f"{path}: cannot read the treated list: {exc}"]) from None
    problems: list[str] = []
    rows: dict[str, int] = {}
    for row, value in values:
        if value is None:
            problems.append(f"{path}:{row}: column '{COLUMN}': must not be empty")
        elif value in rows:
            problems.append(f"{path}:{row}: column '{COLUMN}' value '{value}': is listed twice (first on row "
                            f"{rows[value]})")
        else:
            rows[value] = row
    if not rows and not problems:
        problems.append(f"{path}: the treated list is empty: it must list at least one episode_id")
    if problems:
        raise TreatedFileError(problems[:20] + ([f"… and {len(problems) - 20:,} more problems"]
                                                if len(problems) > 20 else []))
    return TreatedList(path, list(rows), rows)
