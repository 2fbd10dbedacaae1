"""The pbrkit data standard, version 1, as data.

This module is the single place where the tables, columns, types and rules of
`data-standard.md` are written down. The loader, the validator, the synthetic
generator and the measures all read it, so a change to the standard is a change
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

STANDARD_VERSION = "1"

Kind = Literal["string", "date", "enum", "integer", "number", "boolean"]

SENTENCES = ("custody_short", "custody_long", "community_order", "suspended_sentence")
RISK_TIERS = ("low", "medium", "high")
SEXES = ("M", "F")
CUSTODY_SENTENCES = ("custody_short", "custody_long")


@dataclass(frozen=True)
class Column:
    """One column of a table: its type and the rules its values must keep.

    `required` means the column must be present *and* every value filled in;
    an optional column may be absent, and where present may hold empty cells.
    """

    name: str
    kind: Kind
    required: bool = True
    values: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unique: bool = False
    description: str = ""

    @property
    def dtype(self) -> pl.DataType:
        """The Polars type a loaded column has."""
        if self.kind == "enum":
            assert self.values is not None
            return pl.Enum(list(self.values))
        return _KIND_DTYPES[self.kind]

    def rule_text(self) -> str:
        """The rule in the words an error message uses."""
        if self.kind == "enum":
            return "must be one of " + ", ".join(self.values or ())
        if self.kind == "date":
            return "must be a date YYYY-MM-DD"
        if self.kind == "integer":
            return "must be a whole number"
        if self.kind == "number":
            return "must be a number"
        if self.kind == "boolean":
            return "must be true or false"
        return "must be text"

    def range_text(self) -> str | None:
        """The range rule in the words an error message uses (None when unbounded)."""

        def shown(x: float) -> str:
            return f"{x:g}"

        if self.minimum is not None and self.maximum is not None:
            return f"must be between {shown(self.minimum)} and {shown(self.maximum)}"
        if self.minimum is not None:
            return f"must be {shown(self.minimum)} or more"
        if self.maximum is not None:
            return f"must be {shown(self.maximum)} or less"
        return None


_KIND_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "date": pl.Date(),
    "integer": pl.Int32(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
}


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    description: str = ""

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


@dataclass(frozen=True)
class Reference:
    """A value in one table that must exist in another (a foreign key)."""

    table: str
    column: str
    ref_table: str
    ref_column: str

    def rule_text(self) -> str:
        return f"must exist in {self.ref_table}.{self.ref_column}"


@dataclass(frozen=True)
class DateOrder:
    """A date that must not come before another date of the same (or a referenced) row."""

    table: str
    column: str
    not_before_table: str
    not_before_column: str
    join_on: str | None = None  # column linking the two tables, when they differ

    def rule_text(self) -> str:
        if self.join_on is None:
            return f"must not be before {self.not_before_column}"
        return f"must not be before the {self.not_before_table[:-1]}'s {self.not_before_column}"


EPISODES = Table(
    "episodes",
    required=True,
    description="One row per start of supervision; the unit a cohort counts.",
    columns=(
        Column("episode_id", "string", unique=True, description="unique in the table"),
        Column("person_id", "string", description="pseudonymised person"),
        Column("start_date", "date", description="release date, or order start date"),
        Column("area_id", "string", description="contract package area"),
        Column("provider_id", "string", description="provider responsible at the start"),
        Column("sentence", "enum", values=SENTENCES),
        Column("risk_tier", "enum", values=RISK_TIERS, description="risk of serious harm"),
        Column("age", "integer", minimum=10, maximum=100, description="age at start"),
        Column("sex", "enum", values=SEXES),
        Column("prior_offences", "integer", minimum=0, description="previous proven offences"),
        Column("ogrs", "number", required=False, minimum=0, maximum=100,
               description="predicted 2-year proven reoffending, percent"),
        Column("prison_id", "string", required=False, description="releasing prison, custody only"),
    ),
)

OFFENCES = Table(
    "offences",
    required=True,
    description="One row per proven offence.",
    columns=(
        Column("person_id", "string", description="must exist in episodes"),
        Column("offence_date", "date", description="when the offence was committed"),
        Column("disposal_date", "date", description="conviction or caution date"),
    ),
)

SERVICE_EVENTS = Table(
    "service_events",
    required=False,
    description="One row per contractual service requirement of an episode.",
    columns=(
        Column("episode_id", "string"),
        Column("kind", "string", description="e.g. release_recorded, resettlement_plan, induction"),
        Column("due_date", "date"),
        Column("done_date", "date", required=False, description="missing = not done"),
        Column("complete", "boolean", required=False,
               description="false where a quality audit found the work empty or unusable"),
    ),
)

TRANSFERS = Table(
    "transfers",
    required=False,
    columns=(
        Column("episode_id", "string"),
        Column("transfer_date", "date"),
        Column("to_provider_id", "string"),
        Column("reason", "string", description="e.g. risk_escalation"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (EPISODES, OFFENCES, SERVICE_EVENTS, TRANSFERS)}

REFERENCES: tuple[Reference, ...] = (
    Reference("offences", "person_id", "episodes", "person_id"),
    Reference("service_events", "episode_id", "episodes", "episode_id"),
    Reference("transfers", "episode_id", "episodes", "episode_id"),
)

DATE_ORDERS: tuple[DateOrder, ...] = (
    DateOrder("offences", "disposal_date", "offences", "offence_date"),
    DateOrder("transfers", "transfer_date", "episodes", "start_date", join_on="episode_id"),
)

# Spellings accepted for booleans in CSV files (case-insensitive).
TRUE_WORDS = ("true", "1", "yes", "t", "y")
FALSE_WORDS = ("false", "0", "no", "f", "n")


@dataclass
class Dataset:
    """A loaded dataset: one typed Polars frame per table present."""

    episodes: pl.DataFrame
    offences: pl.DataFrame
    service_events: pl.DataFrame | None = None
    transfers: pl.DataFrame | None = None
    source: str | None = field(default=None, compare=False)

    def tables(self) -> dict[str, pl.DataFrame]:
        out = {"episodes": self.episodes, "offences": self.offences}
        if self.service_events is not None:
            out["service_events"] = self.service_events
        if self.transfers is not None:
            out["transfers"] = self.transfers
        return out


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the table's standard schema."""
    return pl.DataFrame(schema=TABLES[table].polars_schema)


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Cast an in-memory frame to the standard types, in standard column order.

    Used by producers (the synthetic generator, the simulator) so that what they
    hand to `measure` and `pay` is exactly what the loader would give for files.
    Missing optional columns are added as nulls; extra columns are kept at the end.
    """
    spec = TABLES[table]
    cols = []
    for c in spec.columns:
        if c.name in frame.columns:
            cols.append(pl.col(c.name).cast(c.dtype))
        elif c.required:
            raise ValueError(f"{table}: required column {c.name!r} is missing")
        else:
            cols.append(pl.lit(None, dtype=c.dtype).alias(c.name))
    extra = [pl.col(n) for n in frame.columns if n not in spec.names]
    return frame.select(cols + extra)
