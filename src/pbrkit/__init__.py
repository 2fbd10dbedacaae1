"""pbrkit: payment-by-results commissioning of rehabilitation services.

A small public facade: the functions a commissioner's analyst calls first.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pbrkit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"


def load(path):
    """Load a data-standard directory into typed Polars frames (a `Dataset`)."""
    from pbrkit.standard.load import load as _load

    return _load(path)


__all__ = ["__version__", "load"]
