"""Data standard v1: schemas (one place), loading and validation."""

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

__all__ = [
    "DATE_ORDERS",
    "REFERENCES",
    "STANDARD_VERSION",
    "TABLES",
    "Column",
    "Dataset",
    "Table",
    "conform",
    "empty_frame",
]
