"""Pay providers under contract designs: statements (pure) and the ledger (SQL).

    >>> from pbrkit.pay import statement
    >>> s = statement(contract, data, "2016Q1", as_of="2017-12-31")
    >>> s.total, s.frame(), s.sentence()
"""

from pbrkit.pay.engine import payable_quarters, statement, statements
from pbrkit.pay.inputs import PaymentInputs, prepare
from pbrkit.pay.statement import Line, Statement, format_pence

__all__ = [
    "Line", "PaymentInputs", "Statement", "format_pence", "payable_quarters", "prepare", "statement", "statements",
]
