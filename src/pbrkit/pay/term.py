"""Where a quarter sits in a contract: its year, and whether fees are due.

Kept apart so the fee, result and service-level rules all agree on what
"contract year 3" and "in term" mean.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Any

from pbrkit.contracts.schema import Contract
from pbrkit.pay.quarters import quarter_index
from pbrkit.pay.statement import Line, pence


def first_quarter(contract: Contract) -> int:
    return _quarter(contract.start)


def last_quarter(contract: Contract) -> int:
    """The last quarter fees are paid: the term's end, or the early termination."""
    end = first_quarter(contract) + 4 * contract.years - 1
    if contract.terminated is not None:
        end = min(end, _quarter(contract.terminated))
    return end


@lru_cache(maxsize=1024)
def _quarter(label: str) -> int:
    """`quarter_index`, remembered: nearly every line of every statement asks
    where its contract's term starts, and a simulated replicate writes over a
    thousand statements."""
    return quarter_index(label)


def in_term(contract: Contract, q: int) -> bool:
    return first_quarter(contract) <= q <= last_quarter(contract)


def contract_year(contract: Contract, q: int) -> int:
    """1 for the contract's first four quarters, and so on."""
    return (q - first_quarter(contract)) // 4 + 1


def line(
    kind: str, key: str, description: str, quantity: Decimal, unit: str, rate: Decimal, basis: dict[str, Any]
) -> Line:
    """A line whose amount is `quantity x rate` in pence, rounded half to even.

    Every line obeys this one rule, so a reader can check any line with a
    calculator, and a test can check every line at once.
    """
    return Line(kind, key, description, quantity, unit, rate, pence(quantity * rate), basis)


def ratio(numerator: Decimal | int, denominator: Decimal | int, places: int = 4) -> Decimal:
    """numerator / denominator as a Decimal with fixed places (0 when the denominator is 0)."""
    if not denominator:
        return Decimal(0)
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
