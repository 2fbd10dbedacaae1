"""The payment ledger: append-only, hash-chained, one transaction per payment run.

    >>> from pbrkit.pay.ledger import Ledger
    >>> ledger = Ledger("ledger.db")                  # or "postgresql://user@host/db"
    >>> summary = ledger.record_run(statements)        # new / adjusted / unchanged
    >>> ledger.verify().ok, ledger.statement_lines(provider_id="north", period="2016Q1")

See docs/ledger.md for what is stored, what each hash covers and why.
"""

from pbrkit.pay.ledger.book import Ledger, ledger_url
from pbrkit.pay.ledger.chain import GENESIS
from pbrkit.pay.ledger.errors import LedgerError
from pbrkit.pay.ledger.record import (
    ADJUSTED,
    NEW,
    REMOVED,
    UNCHANGED,
    RunSummary,
    StatementOutcome,
)
from pbrkit.pay.ledger.verify import Verification

__all__ = [
    "ADJUSTED", "GENESIS", "NEW", "REMOVED", "UNCHANGED", "Ledger", "LedgerError", "RunSummary",
    "StatementOutcome", "Verification", "ledger_url",
]
