"""pbrkit: payment-by-results commissioning of rehabilitation services.

A small public facade: the functions a commissioner's analyst calls first.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pbrkit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"


def load(path, *, check: bool = True):
    """Load a data-standard directory into typed Polars frames (a `Dataset`).

    With `check=True` (the default) every rule of the standard is validated
    first and a `DataStandardError` lists the problems; `check=False` skips the
    cross-table rules for trusted data such as our own Parquet output.
    """
    from pbrkit.standard.load import load as _load

    return _load(path, check=check)


__all__ = ["__version__", "load"]
