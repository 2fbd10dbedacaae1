"""Cohort periods, the baseline date range and the as-of date.

A cohort period is a calendar quarter (labelled `2015Q2`) or a calendar year
(`2015`). The labels sort in time order as plain strings, so the output table
needs no second, hidden date column to be sorted. Maturity is a property of the
period, not of any one episode: a period is mature when its last day plus the
full follow-up and waiting time (547 days) is on or before the as-of date, so
every episode in it has had its whole window observed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import polars as pl

Period = Literal["quarter", "year"]
PERIODS: tuple[str, ...] = ("quarter", "year")

#: An offence counts when committed 0..364 days after the start (12 months).
FOLLOW_UP_LAST_DAY = 364
#: ...and disposed of (convicted or cautioned) at most 547 days after the start
#: (the 12 months plus a 6-month wait for the court).
DISPOSAL_LAST_DAY = 547
#: A cohort is mature when its period's last day + this many days <= as-of.
MATURITY_DAYS = 547

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def period_key(period: str, start_date: str = "start_date") -> pl.Expr:
    """Each episode's period as a whole number that sorts in time order:
    `20152` for 2015Q2, `2015` for the year 2015.

    Cohorts are formed on this number rather than on the label: hashing and
    comparing integers over millions of episodes is several times cheaper
    than formatting and hashing strings. Labels are made once per cohort, by
    `key_label`, at the end.
    """
    d = pl.col(start_date)
    if period == "quarter":
        return d.dt.year().cast(pl.Int32) * 10 + d.dt.quarter().cast(pl.Int32)
    if period == "year":
        return d.dt.year().cast(pl.Int32)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def key_label(key: int, period: str) -> str:
    """The label (`2015Q2`, `2015`) of a `period_key` value."""
    if period == "quarter":
        return f"{key // 10}Q{key % 10}"
    return str(key)


def period_bounds(label: str) -> tuple[dt.date, dt.date]:
    """First and last day of the period a label names (`2015Q2` or `2015`)."""
    if m := _QUARTER.match(label):
        year, q = int(m.group(1)), int(m.group(2))
        first = dt.date(year, 3 * q - 2, 1)
        nxt = dt.date(year + 1, 1, 1) if q == 4 else dt.date(year, 3 * q + 1, 1)
        return first, nxt - dt.timedelta(days=1)
    if m := _YEAR.match(label):
        year = int(m.group(1))
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    raise ValueError(f"not a period label: {label!r} (expected e.g. 2015Q2 or 2015)")


def matures_on(label: str) -> dt.date:
    """The first as-of date at which the period's cohort is mature."""
    return period_bounds(label)[1] + dt.timedelta(days=MATURITY_DAYS)


def parse_date(value: str | dt.date | dt.datetime, what: str = "date") -> dt.date:
    """An ISO date (`YYYY-MM-DD`) or a date object, with a clear error otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} must be a date YYYY-MM-DD, not {value!r}") from None


def parse_baseline(
    baseline: str | int | tuple[str | dt.date, str | dt.date],
) -> tuple[dt.date, dt.date]:
    """The baseline date range, from `("2011-01-01", "2011-12-31")`,
    `"2011-01-01:2011-12-31"`, or a whole year `"2011"` / `2011`.

    Both ends are inclusive, like the cohort periods.
    """
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        baseline = str(baseline)
    if isinstance(baseline, str):
        text = baseline.strip()
        if _YEAR.match(text):
            first, last = period_bounds(text)
        elif ":" in text:
            a, b = text.split(":", 1)
            first = parse_date(a, "baseline start")
            last = parse_date(b, "baseline end")
        else:
            raise ValueError(
                f"baseline must be a year (2011) or a range START:END "
                f"(2011-01-01:2011-12-31), not {baseline!r}"
            )
    else:
        try:
            a, b = baseline
        except (TypeError, ValueError):
            raise ValueError(f"baseline must be a (start, end) pair, not {baseline!r}") from None
        first = parse_date(a, "baseline start")
        last = parse_date(b, "baseline end")
    if last < first:
        raise ValueError(f"baseline ends ({last}) before it starts ({first})")
    return first, last
