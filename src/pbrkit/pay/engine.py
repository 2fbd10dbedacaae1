"""The payment engine: a contract, the data and a quarter in; a statement out.

Pure: no files, no database. The same function pays live data and simulated
data, and the ledger records what it returns.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pbrkit.contracts.schema import Contract
from pbrkit.measure.periods import parse_date
from pbrkit.pay.fees import fee_lines, quarter_fees, reconciliation_line
from pbrkit.pay.inputs import PaymentInputs, prepare
from pbrkit.pay.quarters import last_day, maturity_quarter, quarter_index, quarter_label
from pbrkit.pay.results import at_risk_line, cohort_lines, foundation_line
from pbrkit.pay.service_levels import service_level_lines
from pbrkit.pay.statement import Line, Statement, canonical_json
from pbrkit.pay.term import first_quarter, in_term, last_quarter, line
from pbrkit.standard.schema import Dataset


#: id(contract) -> (a weak reference to it, its canonical terms)
_TERMS: dict[int, tuple[weakref.ref, str]] = {}


def _terms(contract: Contract) -> str:
    """The contract's terms as canonical JSON, written once per contract object:
    contracts are frozen, and a run pays the same contract every quarter (a
    simulated replicate asks for them over a thousand times). Pydantic models
    with list fields cannot be hashed, so the cache is keyed by identity and
    an entry leaves with its contract."""
    key = id(contract)
    held = _TERMS.get(key)
    if held is not None and held[0]() is contract:
        return held[1]
    text = canonical_json(contract.model_dump(mode="json"))

    def forget(ref: weakref.ref) -> None:
        if _TERMS.get(key, (None,))[0] is ref:
            del _TERMS[key]

    _TERMS[key] = (weakref.ref(contract, forget), text)
    return text


def maturing_cohorts(contract: Contract, q: int) -> list[int]:
    """The contract's cohorts (quarters in term) whose results fall due in quarter q."""
    first, last = first_quarter(contract), last_quarter(contract)
    return [c for c in range(max(first, q - 8), min(last, q) + 1) if _maturity(c) == q]


#: `maturity_quarter` remembered: each statement asks it of the nine quarters before its own.
_maturity = lru_cache(maxsize=1024)(maturity_quarter)


def _termination_line(contract: Contract, inputs: PaymentInputs, q: int) -> Line | None:
    if contract.termination is None or contract.terminated is None or quarter_index(contract.terminated) != q:
        return None
    fees = quarter_fees(contract, inputs, q)
    n = contract.termination.compensation_quarters
    return line(
        "termination.compensation", "termination.compensation",
        f"Compensation for early termination: {n} quarters of this quarter's fees",
        n, "quarters of fees", Decimal(fees), {"quarter": quarter_label(q), "fees_pence": fees, "quarters": n},
    )


def _notes(contract: Contract, q: int) -> tuple[str, ...]:
    notes = []
    if contract.reserves is not None:
        notes.append(
            f"The provider may carry forward up to {contract.reserves.carry_forward_share:%} of a year's income as reserves."
        )
    if not in_term(contract, q):
        notes.append("This quarter is after the contract's term: only results of cohorts in the term are paid.")
    return tuple(notes)


def statement(
    contract: Contract,
    data: Dataset | None,
    period: str,
    as_of: Any,
    inputs: PaymentInputs | None = None,
) -> Statement:
    """The statement for one contract and one quarter, as the data stand at `as_of`.

    `inputs` (from `pbrkit.pay.inputs.prepare`) lets a run over many contracts
    and quarters measure the data once; without it the data are measured here.
    The quarter must be over by the as-of date, so every fee and every
    maturing cohort in it is known.
    """
    as_of = parse_date(as_of, "as-of date")
    q = quarter_index(period)
    if last_day(q) > as_of:
        raise ValueError(f"{period} is not over at the as-of date {as_of}: it ends on {last_day(q)}")
    if inputs is None:
        if data is None:
            raise ValueError("give the data or prepared inputs")
        inputs = prepare(data, as_of, [contract])
    elif inputs.as_of != as_of:
        raise ValueError(f"the inputs were prepared as at {inputs.as_of}, not {as_of}")

    lines: list[Line] = []
    if in_term(contract, q):
        lines += fee_lines(contract, inputs, q)
        for extra in (reconciliation_line(contract, inputs, q), at_risk_line(contract, inputs, q),
                      foundation_line(contract, q), _termination_line(contract, inputs, q)):
            if extra is not None:
                lines.append(extra)
        lines += service_level_lines(contract, inputs, q)
    if contract.outcomes or contract.at_risk or contract.renewal:
        for cohort in maturing_cohorts(contract, q):
            lines += cohort_lines(contract, inputs, cohort)
    return Statement(
        contract_id=contract.id,
        provider_id=contract.provider_id,
        design=contract.name,
        period=quarter_label(q),
        as_of=as_of,
        lines=tuple(lines),
        contract_terms=_terms(contract),
        notes=_notes(contract, q),
    )


def payable_quarters(contract: Contract, through: str) -> list[str]:
    """The quarters with something to pay, from the contract's start to `through`:
    the term, then the quarters in which the term's last cohorts mature."""
    end = quarter_index(through)
    last = max(last_quarter(contract), maturity_quarter(last_quarter(contract)))
    return [quarter_label(k) for k in range(first_quarter(contract), min(end, last) + 1)]


def statements(
    contracts: Iterable[Contract],
    data: Dataset,
    through: str,
    as_of: Any,
    progress: Callable[[str], None] | None = None,
    inputs: PaymentInputs | None = None,
) -> Iterator[Statement]:
    """Every statement of every contract from its start to `through`, measuring
    the data once. `progress` is told what is being done (for a progress bar)."""
    contracts = list(contracts)
    as_of = parse_date(as_of, "as-of date")
    if last_day(quarter_index(through)) > as_of:
        raise ValueError(f"{through} is not over at the as-of date {as_of}")
    if inputs is None:
        if progress:
            progress("measuring")
        inputs = prepare(data, as_of, contracts)
    for contract in contracts:
        for period in payable_quarters(contract, through):
            s = statement(contract, None, period, as_of, inputs=inputs)
            if progress:
                progress(f"{contract.id} {period}")
            yield s

