"""A payment statement: lines of integer pence, each with the basis it came from.

A statement is what a provider's finance director reads and what the ledger
records. Every line carries its `basis` (the cohort, the measure row or the
service-event counts it was computed from), so any pound can be traced back to
the rows and the rule that produced it. Amounts are integer pence; quantities
and rates are `Decimal`, so nothing on a statement is a binary float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

#: Bump when a payment rule changes what a statement says for the same inputs,
#: so the ledger sees new inputs and writes adjustments instead of skipping.
RULES_VERSION = 1


def pence(amount: Decimal) -> int:
    """Round a Decimal number of pence to whole pence, half to even (banker's
    rounding, so repeated rounding has no upward drift)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_pence(pounds: Decimal) -> int:
    """Pounds (whole pence, from a contract) as integer pence."""
    return pence(pounds * 100)


def decimal(value: float | Decimal, places: int = 4) -> Decimal:
    """A measured figure as a Decimal with fixed places.

    Floats from the measure (expected reoffenders, rates) are rounded here, once,
    so the same inputs give the same Decimal on every machine.
    """
    if isinstance(value, Decimal):
        d = value
    else:
        d = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def format_pence(amount: int) -> str:
    """`-123456` as `-£1,234.56`."""
    sign = "-" if amount < 0 else ""
    pounds, p = divmod(abs(amount), 100)
    return f"{sign}£{pounds:,}.{p:02d}"


def format_rate(unit: str, rate: Decimal) -> str:
    """A line's rate as a person reads it: a share as a percentage (for units
    counted in pence, like "pence of fees"), otherwise pounds per unit."""
    if unit.startswith("pence"):
        return f"{rate.normalize():%}"
    sign = "-" if rate < 0 else ""
    pounds = abs(rate) / 100
    return f"{sign}£{pounds:,.2f}" if pounds == pounds.quantize(Decimal("0.01")) else f"{sign}£{pounds:,}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def canonical_json(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, Decimals and dates as text."""
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Line:
    """One line of a statement.

    `key` identifies the line within its contract and period across runs (for
    example `outcome.binary:2015Q1`), so the ledger can tell a corrected figure
    from a new one. `rate` is in pence per unit unless `unit` says it is a share.
    """

    kind: str
    key: str
    description: str
    quantity: Decimal
    unit: str
    rate: Decimal
    amount: int
    basis: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError(f"line {self.key}: amount must be integer pence, not {type(self.amount).__name__}")

    @property
    def rate_text(self) -> str:
        return format_rate(self.unit, self.rate)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "rate": str(self.rate),
            "amount": self.amount,
            "basis": _jsonable(self.basis),
        }


@dataclass(frozen=True)
class Statement:
    """A provider's payment statement for one contract and one quarter."""

    contract_id: str
    provider_id: str
    design: str
    period: str
    as_of: dt.date
    lines: tuple[Line, ...]
    #: The contract's terms, as canonical JSON: part of what the digest covers.
    contract_terms: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = [line.key for line in self.lines]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"statement {self.contract_id} {self.period}: duplicate line keys {dupes}")

    @property
    def total(self) -> int:
        """Net amount in pence: exactly the sum of the lines."""
        return sum(line.amount for line in self.lines)

    def subtotal(self, prefix: str) -> int:
        """Sum of the lines whose kind starts with `prefix` (`fee`, `outcome`...)."""
        return sum(line.amount for line in self.lines if line.kind.startswith(prefix))

    @property
    def input_digest(self) -> str:
        """SHA-256 of everything the statement was computed from: the contract's
        terms, the rules version, and every line's key, figures and basis.

        The basis holds the exact counts and measure rows each line read, so the
        digest changes exactly when an input that matters to this statement
        changes (a late conviction in this provider's cohort, a corrected
        service event), and stays the same when the same run is repeated. The
        as-of date is left out on purpose: re-running later on unchanged data
        is the same run.
        """
        payload = {
            "rules_version": RULES_VERSION,
            "contract": self.contract_terms,
            "period": self.period,
            # Descriptions are wording, not inputs: rewording a line in a new
            # pbrkit release must not restate every statement ever paid.
            "lines": [{k: v for k, v in line.as_dict().items() if k != "description"} for line in self.lines],
        }
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

    def frame(self) -> pl.DataFrame:
        """The lines as a table (amount in pence; basis as JSON text)."""
        return pl.DataFrame(
            {
                "kind": [line.kind for line in self.lines],
                "key": [line.key for line in self.lines],
                "description": [line.description for line in self.lines],
                "quantity": [str(line.quantity) for line in self.lines],
                "unit": [line.unit for line in self.lines],
                "rate": [str(line.rate) for line in self.lines],
                "amount_pence": [line.amount for line in self.lines],
                "basis": [canonical_json(line.basis) for line in self.lines],
            },
            schema={
                "kind": pl.String, "key": pl.String, "description": pl.String, "quantity": pl.String,
                "unit": pl.String, "rate": pl.String, "amount_pence": pl.Int64, "basis": pl.String,
            },
        )

    def sentence(self) -> str:
        """The statement in one plain-English sentence."""
        fees = self.subtotal("fee")
        outcomes = self.subtotal("outcome") + self.subtotal("at_risk")
        deductions = self.subtotal("service_level")
        return (
            f"{self.provider_id} is due {format_pence(self.total)} for {self.period} under "
            f"contract {self.contract_id}: fees {format_pence(fees)}, results and money at risk "
            f"{format_pence(outcomes)}, service-level deductions {format_pence(deductions)}."
        )
