"""Data standard v1: schemas (one place), loading and validation.

The functions `load` and `validate` live in the submodules of the same names
and are deliberately not re-exported here: binding them in this package would
hide the submodules (`pbrkit.standard.validate` would become the function), so
`import pbrkit.standard.validate` and `mock.patch` targets would break. Call
`pbrkit.load(...)`, or import from the submodules.
"""

from pbrkit.standard.problems import DataStandardError, Problem
from pbrkit.standard.schema import (
    DATE_ORDERS,
    REFERENCES,
    STANDARD_VERSION,
    TABLES,
    Column,
    Dataset,
    Table,
    conform,
    empty_frame,
)
from pbrkit.standard.validate import Findings, validate_dataset

__all__ = [
    "DATE_ORDERS",
    "REFERENCES",
    "STANDARD_VERSION",
    "TABLES",
    "Column",
    "DataStandardError",
    "Dataset",
    "Findings",
    "Problem",
    "Table",
    "conform",
    "empty_frame",
    "validate_dataset",
]
