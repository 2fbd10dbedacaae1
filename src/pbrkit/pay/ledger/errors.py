"""The one error a ledger caller has to handle.

The CLI exits 2 on it and the portal shows it; both need a sentence a finance
officer can act on, not a driver traceback, so every failure to reach or use
the ledger database is raised as a `LedgerError` with the cause chained.
"""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger cannot be opened, reached or written: the message says which and why."""
