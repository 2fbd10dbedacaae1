"""What is wrong with a dataset, and how to say it to the person who sent it.

A commissioner's first question is "will my data load, and if not, what exactly
is wrong with it?". Each answer is a `Problem` that prints as one greppable line,
`table:row: column 'x' value 'y': rule`, so that a data manager can find the cell
in the file they sent. Parts that do not apply are dropped: a missing file has no
row, a missing column has no value.

A broken export often breaks one rule on millions of rows. The validator keeps
only a few example rows per rule (never millions of Python objects), and each
example carries how many rows break that rule in all, so the report can say
"… and 12,345 more rows" without holding them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pbrkit.standard.schema import STANDARD_VERSION

#: Example lines shown per broken rule before the "… and N more" line.
EXAMPLES_SHOWN = 5

_LONGEST_VALUE = 60


@dataclass(frozen=True)
class Problem:
    """One way the dataset breaks the standard, located as precisely as it can be.

    `row` is the line number in a CSV file (the header is line 1, so the first
    data row is line 2), or the 1-based row number in a Parquet file; it is
    None for problems with a whole file or column. `rows_in_all` is how many rows
    break the same rule of the same column: a problem is one example of its rule,
    and the count lets a report say how many more there are without listing them.
    """

    table: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    path: str | None = None
    rows_in_all: int = 1

    @property
    def rule_key(self) -> tuple[str, str | None, str]:
        return (self.table, self.column, self.rule)

    def line(self) -> str:
        """The problem as one line in the documented format."""
        where = self.table if self.row is None else f"{self.table}:{self.row}"
        if self.column is None:
            return f"{where}: {self.rule}"
        cell = f"column '{self.column}'"
        if self.value is not None:
            cell += f" value '{_shown(self.value)}'"
        return f"{where}: {cell}: {self.rule}"


def _shown(value: str) -> str:
    """A value as it can sit on one line: control characters escaped, long text cut."""
    text = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
    if len(text) > _LONGEST_VALUE:
        text = text[: _LONGEST_VALUE - 1] + "…"
    return text


def grouped_lines(problems: Iterable[Problem], examples: int = EXAMPLES_SHOWN) -> list[str]:
    """Problem lines grouped by broken rule, in the order rules were first met.

    When a rule fails on more rows than are shown, a closing line says how many
    more, so a file with a million bad dates gives six lines, not a million.
    """
    lines: list[str] = []
    for members in _by_rule(problems).values():
        shown = members[:examples]
        lines.extend(p.line() for p in shown)
        in_all = _rows_in_all(members)
        more = in_all - len(shown)
        if more > 0:
            noun = "row fails" if more == 1 else "rows fail"
            lines.append(f"  … and {more:,} more {noun} this rule ({in_all:,} in all)")
    return lines


def problem_count(problems: Iterable[Problem]) -> int:
    """How many rows break a rule, summed over the rules (file-level problems excluded).

    A row that breaks two rules counts twice: the count measures how much needs
    fixing, and keeping it exact would mean holding every bad row number.
    """
    return sum(_rows_in_all(members) for members in _by_rule(problems, row_level_only=True).values())


def _by_rule(problems: Iterable[Problem], *, row_level_only: bool = False) -> dict[tuple, list[Problem]]:
    groups: dict[tuple[str, str | None, str], list[Problem]] = {}
    for p in problems:
        if p.row is not None or not row_level_only:
            groups.setdefault(p.rule_key, []).append(p)
    return groups


def _rows_in_all(members: list[Problem]) -> int:
    return max(max(p.rows_in_all for p in members), len(members))


def summary(problems: Sequence[Problem]) -> str:
    """One plain-English sentence on how badly the dataset breaks the standard."""
    rules = {p.rule_key for p in problems}
    tables = {p.table for p in problems}
    sentence = (
        f"The dataset does not meet data standard v{STANDARD_VERSION}: "
        f"{_count(len(rules), 'rule')} broken in {_count(len(tables), 'table')}"
    )
    in_rows = problem_count(problems)
    if in_rows:
        sentence += f"; {_count(in_rows, 'row problem')}"
    return sentence + "."


def clean_summary(rows: dict[str, int]) -> str:
    """The sentence for a dataset that meets the standard, with its size."""
    return (
        f"The dataset meets data standard v{STANDARD_VERSION}: "
        f"{_count(len(rows), 'table')}, {_count(sum(rows.values()), 'row')}."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def report(problems: Sequence[Problem]) -> str:
    """The grouped problem lines followed by the summary sentence."""
    return "\n".join([*grouped_lines(problems), summary(problems)])


class DataStandardError(Exception):
    """A dataset that breaks data standard v1; nothing from it was loaded.

    Carries every problem found, so a caller can show them, count them, or
    write them out, rather than parse a message.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__(report(self.problems) + " Nothing was loaded.")
