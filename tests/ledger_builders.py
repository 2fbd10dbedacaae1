"""Hand-made statements for the ledger tests, independent of the payment engine.

A statement here is a fee line, an outcome line whose amount follows from the
reoffender count in its basis (so a "late conviction" changes both, as the
engine's would), and a zero-amount service-level line.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from pbrkit.pay.statement import Line, Statement

AS_OF = dt.date(2016, 12, 31)
TERMS = json.dumps({"design": "binary", "price_per_person_pence": 150000}, sort_keys=True)
#: Pence paid per cohort member who did not reoffend.
PRICE = 150000


def line(key: str, amount: int, *, kind: str = "fee.service", description: str | None = None,
         quantity: str = "1", unit: str = "quarter", rate: str | None = None, basis: dict | None = None) -> Line:
    return Line(kind=kind, key=key, description=description or f"line {key}", quantity=Decimal(quantity),
                unit=unit, rate=Decimal(rate if rate is not None else str(amount)), amount=amount,
                basis=basis if basis is not None else {"key": key})


def outcome(cohort: int = 40, reoffenders: int = 10, quarter: str = "2015Q1") -> Line:
    """The binary outcome line: PRICE per cohort member who did not reoffend."""
    succeeded = cohort - reoffenders
    return line(f"outcome.binary:{quarter}", succeeded * PRICE, kind="outcome.binary",
                description=f"{succeeded} of {cohort} did not reoffend", quantity=str(succeeded), unit="people",
                rate=str(PRICE), basis={"cohort": cohort, "reoffenders": reoffenders, "measure_row": quarter})


def statement(contract_id: str = "C1", period: str = "2015Q1", lines: list[Line] | None = None, *,
              provider_id: str = "north", design: str = "binary", as_of: dt.date = AS_OF,
              terms: str = TERMS, notes: tuple[str, ...] = ()) -> Statement:
    if lines is None:
        lines = standard_lines()
    return Statement(contract_id=contract_id, provider_id=provider_id, design=design, period=period, as_of=as_of,
                     lines=tuple(lines), contract_terms=terms, notes=notes)


def standard_lines(reoffenders: int = 10, quarter: str = "2015Q1") -> list[Line]:
    return [
        line("fee.service", 2500000, description="Service fee: £25,000 a quarter",
             basis={"months": 3, "monthly_pence": 833333, "note": "mobilisation “phase 2”"}),
        outcome(reoffenders=reoffenders, quarter=quarter),
        line("service_level.contact", 0, kind="service_level", quantity="0", unit="breaches", rate="-50000",
             basis={"breaches": 0}),
    ]


def market(contracts: int = 4, periods: tuple[str, ...] = ("2015Q1",), lines: int = 3,
           reoffenders: int = 10) -> list[Statement]:
    """A small market: every contract for every period, `lines` lines each."""
    out = []
    for c in range(contracts):
        for period in periods:
            body = [outcome(reoffenders=reoffenders + c, quarter=period)]
            body += [line(f"fee.part{i}", 10000 * (i + 1) + c, basis={"contract": c, "part": i})
                     for i in range(lines - 1)]
            out.append(statement(f"C{c:03d}", period, body, provider_id=f"provider{c % 3}"))
    return out
