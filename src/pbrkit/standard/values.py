"""How a cell in a sent file becomes a value of the standard's type.

The loader and the validator must agree exactly on which cells are good: a
dataset that validates must load, and a cell the loader would turn into a
missing value must be reported. So both build their columns from the
expressions here, and each expression gives the typed value, or null where the
cell is empty or does not hold a value of the column's type.

What is accepted, and why:

* **CSV** cells are text. Dates must be exactly `YYYY-MM-DD` (Polars alone would
  also take `2014-1-5` or `+2014-12-31`; a sender's `31/12/2014` must fail, not
  be guessed). Whole numbers are digits with an optional sign (`42.0` is not a
  whole number; `042` is 42). Numbers are anything Polars reads as a finite
  float (`1e3`, `.5`), never `nan` or `inf`. Booleans are the words in
  `TRUE_WORDS` / `FALSE_WORDS`, in any case. Enum values match exactly, case
  included, because they are codes. An empty cell, quoted or not, is missing.
  Nothing is trimmed: ` 24` is not a whole number, since a stray space often
  means a shifted or hand-edited cell that the sender should look at.
* **Parquet** columns may already be typed. A typed column is taken as it is
  when it converts to the standard type without loss: any integer type for
  `integer` (out of Int32 range fails), and floats holding whole numbers (what
  pandas writes for an integer column with gaps); any integer or float type for
  `number`; `Date` for `date`, and `Datetime` where the time is midnight (a time
  of day would be lost); `Boolean` for `boolean`; text, `Categorical` or `Enum`
  for strings and enums. Any other type is read as its text and checked like a
  CSV cell, so a date stored as text is checked as text.
"""

from __future__ import annotations

from datetime import time

import polars as pl

from pbrkit.standard.schema import FALSE_WORDS, TRUE_WORDS, Column

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_WHOLE_NUMBER = r"^[+-]?\d+$"


def readable(file_dtype: pl.DataType) -> bool:
    """Whether a file's column can be read as values at all (nested types cannot)."""
    return not (file_dtype.is_nested() or file_dtype == pl.Object)


def cell_text(name: str, file_dtype: pl.DataType) -> pl.Expr:
    """The cell as text, null when empty: what a problem line shows as the value."""
    text = pl.col(name) if file_dtype == pl.String else pl.col(name).cast(pl.String, strict=False)
    return pl.when(text != "").then(text)


def standard_value(column: Column, file_dtype: pl.DataType) -> pl.Expr:
    """The cell as the standard type; null where it is empty or breaks the type."""
    native = _native_value(column, file_dtype)
    if native is not None:
        return native.alias(column.name)
    return _value_from_text(column, cell_text(column.name, file_dtype)).alias(column.name)


def filled_cell(name: str, file_dtype: pl.DataType) -> pl.Expr:
    """The cell as stored, null when empty: enough to tell a missing value from a bad one.

    Cheaper than `cell_text` for typed Parquet columns, which need not be
    turned into text on every row just to be tested for emptiness.
    """
    if file_dtype == pl.String or isinstance(file_dtype, (pl.Categorical, pl.Enum)):
        return cell_text(name, file_dtype)
    return pl.col(name)


def breaks_type(column: Column, file_dtype: pl.DataType) -> pl.Expr:
    """Whether a filled-in cell holds no value of the column's type."""
    return cell_breaks_type(filled_cell(column.name, file_dtype), standard_value(column, file_dtype))


def cell_breaks_type(cell: pl.Expr, value: pl.Expr) -> pl.Expr:
    """The same test on a filled cell and value already computed (so a scan computes them once)."""
    return cell.is_not_null() & value.is_null()


def _native_value(column: Column, file_dtype: pl.DataType) -> pl.Expr | None:
    """A typed Parquet column converted without loss, or None to read it as text."""
    col = pl.col(column.name)
    kind = column.kind
    if kind == "integer" and file_dtype.is_integer():
        return col.cast(pl.Int32, strict=False)
    if kind == "integer" and file_dtype.is_float():
        whole = col.is_finite() & (col == col.floor())
        return pl.when(whole).then(col).cast(pl.Int32, strict=False)
    if kind == "number" and (file_dtype.is_integer() or file_dtype.is_float()):
        as_float = col.cast(pl.Float64)
        return pl.when(as_float.is_finite()).then(as_float)
    if kind == "date" and file_dtype == pl.Date:
        return col
    if kind == "date" and isinstance(file_dtype, pl.Datetime):
        return pl.when(col.dt.time() == pl.lit(time(0))).then(col.dt.date())
    if kind == "boolean" and file_dtype == pl.Boolean:
        return col
    if kind == "enum" and isinstance(file_dtype, (pl.Enum, pl.Categorical)):
        return col.cast(column.dtype, strict=False)  # a category outside the standard's becomes null
    return None


def _value_from_text(column: Column, text: pl.Expr) -> pl.Expr:
    kind = column.kind
    if kind == "string":
        return text
    if kind == "enum":
        return text.cast(column.dtype, strict=False)  # exact match, case included; others become null
    if kind == "date":
        return pl.when(text.str.contains(_ISO_DATE)).then(text.str.to_date("%Y-%m-%d", strict=False))
    if kind == "integer":
        return pl.when(text.str.contains(_WHOLE_NUMBER)).then(text.cast(pl.Int32, strict=False))
    if kind == "number":
        number = text.cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number)
    if kind == "boolean":
        word = text.str.to_lowercase()
        return (
            pl.when(word.is_in(list(TRUE_WORDS)))
            .then(pl.lit(True))
            .when(word.is_in(list(FALSE_WORDS)))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, dtype=pl.Boolean))
        )
    raise ValueError(f"no reading for column kind {kind!r}")
