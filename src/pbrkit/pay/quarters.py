"""Quarters as whole numbers, so contract years and maturity are arithmetic.

`quarter_index("2015Q1")` is `2015 * 4 + 0`; consecutive quarters differ by
one, so "the contract's n-th quarter" and "four quarters later" need no
calendar code.
"""

from __future__ import annotations

import datetime as dt
import re

from pbrkit.measure.periods import MATURITY_DAYS

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_index(label: str) -> int:
    m = _QUARTER.match(label)
    if not m:
        raise ValueError(f"not a quarter: {label!r} (expected e.g. 2016Q1)")
    return int(m.group(1)) * 4 + int(m.group(2)) - 1


def quarter_label(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def first_day(index: int) -> dt.date:
    return dt.date(index // 4, 3 * (index % 4) + 1, 1)


def last_day(index: int) -> dt.date:
    return first_day(index + 1) - dt.timedelta(days=1)


def quarter_of(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def maturity_quarter(cohort: int) -> int:
    """The quarter in which a cohort becomes mature, and so its outcome is paid:
    the one holding its last day + 547 days (12 months' follow-up and 6 for the
    courts)."""
    return quarter_of(last_day(cohort) + dt.timedelta(days=MATURITY_DAYS))

