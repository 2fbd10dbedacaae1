"""Contract designs as data: the schema, the TOML loader and the shipped library."""

from pbrkit.contracts.load import (
    ContractError,
    design,
    design_source,
    library,
    load_contracts,
    load_file,
)
from pbrkit.contracts.schema import Contract, Design

__all__ = ["Contract", "ContractError", "Design", "design", "design_source", "library", "load_contracts", "load_file"]
