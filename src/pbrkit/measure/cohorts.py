"""Cohorts and their proven reoffences, exactly as the data standard defines them.

A cohort is the set of episodes of one group (provider, area or everyone) whose
start date falls in one period, with each person counted once: at their
earliest episode in the cohort, ties broken by the smallest episode_id. The
group is read from the episode itself (`provider_id`, `area_id`), so an episode
stays with the provider responsible at its start whatever transfers follow.

An offence of the person is a proven reoffence of an episode when it was
committed 0 to 364 days after the start and disposed of at most 547 days after
it.

People are matched between episodes and offences through a dense integer
`person` code (see `person_codes`): the national dataset has millions of rows,
and integer keys make the counting several times faster than string keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from pbrkit.measure.periods import DISPOSAL_LAST_DAY, FOLLOW_UP_LAST_DAY, period_key

BY_CHOICES: tuple[str, ...] = ("provider", "area", "all")

# Episode columns the measures read; everything else in the table is ignored.
CASE_COLUMNS = ("sex", "age", "sentence", "risk_tier", "prior_offences", "ogrs")


def group_of(by: str) -> pl.Expr:
    """The group an episode is attributed to: its provider or area at the start, or `all`."""
    if by == "provider":
        return pl.col("provider_id").cast(pl.String)
    if by == "area":
        return pl.col("area_id").cast(pl.String)
    if by == "all":
        return pl.lit("all", dtype=pl.String)
    raise ValueError(f"by must be one of {', '.join(BY_CHOICES)}, not {by!r}")


def _person_hash(person_id: pl.Expr) -> pl.Expr:
    """A 64-bit hash of the person id (a seam: tests force collisions through it)."""
    return person_id.hash()


def person_codes(episodes: pl.DataFrame, offences: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add a dense integer `person` code to episodes and offences.

    Offences of people with no episode are dropped: they cannot be a reoffence
    of anything. The codes come from a 64-bit hash of person_id, which is far
    cheaper to join on than the string; the join then checks every matched
    string, so a hash collision can never merge two people. In the
    (astronomically unlikely) event of one, the codes are rebuilt from the
    strings themselves.
    """
    h = _person_hash(pl.col("person_id")).alias("person_hash")
    persons = (
        episodes.select(h, "person_id")
        .unique(subset="person_hash", keep="any")
        .sort("person_hash")
        .with_row_index("person")
    )
    codes = persons.select("person_hash", "person")
    # Join on the integer hash only (cheap), then compare the strings row by row.
    person = episodes.select(h).join(codes, on="person_hash", how="left", maintain_order="left")["person"]
    if (persons["person_id"].gather(person) != episodes["person_id"]).any():  # two people, one hash
        return _person_codes_exact(episodes, offences)
    ep = episodes.with_columns(person)
    off = offences.with_row_index("_row").select("_row", h).join(codes, on="person_hash", how="inner")
    same = persons["person_id"].gather(off["person"]) == offences["person_id"].gather(off["_row"])
    off = off.filter(same)  # drops an offender with no episode whose hash clashes
    off = offences.select("offence_date", "disposal_date").gather(off["_row"]).with_columns(off["person"])
    return ep, off


def _person_codes_exact(episodes: pl.DataFrame, offences: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`person_codes` by joining on the person_id strings (the slow, sure way)."""
    persons = episodes.select(pl.col("person_id").unique().sort()).with_row_index("person")
    ep = episodes.join(persons, on="person_id", how="left", maintain_order="left")
    off = offences.join(persons, on="person_id", how="inner")
    return ep, off


def _first_per_person(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Keep each person's earliest episode within each cohort (`keys` + person);
    ties on the start date go to the smallest episode_id.

    Window minima, not a sort: a multi-column sort of the national table costs
    several times more, and ties (same person, same cohort, same start date)
    are rare, so the string comparison runs only on them.
    """
    per_person = [*keys, "person"]
    earliest = frame.filter(pl.col("start_date") == pl.col("start_date").min().over(per_person))
    earliest = earliest.with_columns(_tied=pl.len().over(per_person) > 1)
    tied = earliest.filter(pl.col("_tied"))
    if tied.height:
        tied = tied.filter(pl.col("episode_id") == pl.col("episode_id").min().over(per_person))
        earliest = pl.concat([earliest.filter(~pl.col("_tied")), tied])
    return earliest.drop("_tied")


def _episode_columns(episodes: pl.DataFrame) -> list[str]:
    return ["episode_id", "person", "start_date"] + [c for c in CASE_COLUMNS if c in episodes.columns]


def counted_episodes(episodes: pl.DataFrame, by: str = "provider", period: str = "quarter") -> pl.DataFrame:
    """Every cohort's counted episodes: one row per (group, period, person).

    `episodes` carries the `person` code from `person_codes`. Columns: `group`,
    `period` (as a `period_key` number), then the episode's id, person, start
    date and case-mix columns. Row order is not meaningful.
    """
    frame = episodes.select(
        group_of(by).alias("group"),
        period_key(period).alias("period"),
        *_episode_columns(episodes),
    )
    return _first_per_person(frame, ["group", "period"])


def reference_cohort(episodes: pl.DataFrame, first: dt.date, last: dt.date) -> pl.DataFrame:
    """The baseline's reference cohort: each person once, at their earliest
    episode starting between `first` and `last` (inclusive), whatever the group.

    This is the cohort of the group `all` over the baseline range, so the
    baseline rate is measured exactly like every other cohort.
    """
    frame = episodes.select(_episode_columns(episodes)).filter(
        pl.col("start_date").is_between(first, last, closed="both")
    )
    return _first_per_person(frame, [])


@dataclass(frozen=True)
class ReoffenceWindows:
    """Every offence as the window of episode start dates it is a proven
    reoffence of, sorted for counting.

    An offence is a proven reoffence of an episode exactly when the episode
    started on a day `lo <= start <= hi`, where `hi = offence_date` and
    `lo = max(offence_date - 364, disposal_date - 547)`: committed 0 to 364 days
    after the start, disposed of at most 547 days after it. So an episode's
    count is the number of its person's windows containing its start date:
    the windows opened on or before the start, less those closed before it.
    Both are binary searches in the sorted keys below.

    Why not join episodes to offences on person and filter? A prolific person
    with many episodes and many offences makes that join quadratic; this stays
    linear in episodes + offences, so the national dataset fits in memory. The
    windows are built once and serve the reference cohort and every cohort.

    Keys put all people on one line: person `p`, day `d` has key
    `p * span + (d - base + 1)`. Window days fall in `1 .. span - 3`; start
    days are clipped to `0 .. span - 2` (a start before every window, or after
    every one, contains none either way), so no key of one person reaches
    another's, even at `start - 1`.
    """

    opened: pl.Series  # window start keys, sorted
    closed: pl.Series  # window end keys, sorted
    base: int
    span: int

    @classmethod
    def of(cls, offences: pl.DataFrame) -> ReoffenceWindows:
        """The windows of offences carrying the `person` code."""
        windows = offences.select(
            pl.col("person").cast(pl.Int64),
            lo=pl.max_horizontal(
                pl.col("offence_date") - pl.duration(days=FOLLOW_UP_LAST_DAY),
                pl.col("disposal_date") - pl.duration(days=DISPOSAL_LAST_DAY),
            ).cast(pl.Int64),
            hi=pl.col("offence_date").cast(pl.Int64),
        ).filter(pl.col("lo") <= pl.col("hi"))
        if windows.height == 0:
            return cls(pl.Series([], dtype=pl.Int64), pl.Series([], dtype=pl.Int64), 0, 4)
        base, top = windows["lo"].min(), windows["hi"].max()
        span = top - base + 4

        def key(day: str) -> pl.Series:
            return (windows["person"] * span + (windows[day] - base + 1)).sort()

        return cls(key("lo"), key("hi"), base, span)

    def count(self, cohort: pl.DataFrame) -> pl.DataFrame:
        """Add `reoffences` and `reoffended` to episodes carrying `person`."""
        day = (cohort["start_date"].cast(pl.Int64) - self.base + 1).clip(0, self.span - 2)
        start_key = cohort["person"].cast(pl.Int64) * self.span + day
        # Searching in sorted query order keeps the binary searches in cache:
        # several times faster than random-order queries on millions of keys.
        order = start_key.arg_sort()
        sorted_key = start_key.gather(order)
        n_opened = self.opened.search_sorted(sorted_key, side="right").cast(pl.Int64)
        n_closed = self.closed.search_sorted(sorted_key - 1, side="right").cast(pl.Int64)
        counts = np.empty(cohort.height, dtype=np.int64)
        counts[order.to_numpy()] = (n_opened - n_closed).to_numpy()
        reoffences = pl.Series("reoffences", counts, dtype=pl.Int64)
        return cohort.with_columns(reoffences, reoffended=reoffences > 0)


def count_reoffences(cohort: pl.DataFrame, offences: pl.DataFrame) -> pl.DataFrame:
    """Add `reoffences` (proven reoffences of each episode) and `reoffended`
    to a cohort; both frames carry the `person` code (see `ReoffenceWindows`)."""
    return ReoffenceWindows.of(offences).count(cohort)
