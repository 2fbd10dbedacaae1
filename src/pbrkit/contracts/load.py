"""Read contract designs and contracts from TOML, with errors a person can act on.

Every error names the file and the key path (`outcomes.binary.price: must be
>= 0`), so whoever wrote the contract can find the line to fix. The shipped
design library lives next to this module, in `library/`.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pbrkit.contracts.schema import Contract, Design


class ContractError(ValueError):
    """A contract or design file that cannot be used; `problems` lists each one."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    plain = {
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}",
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "missing": lambda: "is required",
        "extra_forbidden": lambda: "is not a known key",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "decimal_parsing": lambda: "must be a number",
        "decimal_type": lambda: "must be a number",
        "int_parsing": lambda: "must be a whole number",
        "int_type": lambda: "must be a whole number",
        "int_from_float": lambda: "must be a whole number",
        "bool_type": lambda: "must be true or false",
        "bool_parsing": lambda: "must be true or false",
        "string_type": lambda: "must be text",
        "list_type": lambda: "must be a list",
        "dict_type": lambda: "must be a table",
        "model_type": lambda: "must be a table",
        "finite_number": lambda: "must be a finite number",
    }
    if kind in plain:
        return plain[kind]()
    msg = error["msg"]
    return msg.removeprefix("Value error, ")


def _path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if part == "[key]":  # a bad key of a table: the key itself is the last part
            continue
        if isinstance(part, int) and parts:
            parts[-1] = f"{parts[-1]}[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def problems_of(error: ValidationError) -> list[str]:
    """Each validation problem as `key.path: rule`."""
    out = []
    for e in error.errors():
        path = _path(tuple(e["loc"]))
        out.append(f"{path}: {_message(e)}" if path else _message(e))
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(str(path), ["no such file"]) from None
    except UnicodeDecodeError:
        raise ContractError(str(path), ["is not UTF-8 text"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(str(path), [f"is not valid TOML: {exc}"]) from None


def parse(table: dict[str, Any], source: str) -> Design | Contract:
    """A contract when the table names a provider, otherwise a design."""
    model = Contract if "provider_id" in table else Design
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        raise ContractError(source, problems_of(exc)) from None


def load_file(path: str | Path) -> Design | Contract:
    """One design or contract from a TOML file."""
    path = Path(path)
    return parse(_read(path), str(path))


def load_contracts(directory: str | Path) -> list[Contract]:
    """Every contract (`*.toml` naming a provider) in a directory, sorted by id.

    All files are read before any is used: one bad file stops the run before
    anything is paid. Two contracts with one id are an error.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError(str(directory), ["is not a directory"])
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise ContractError(str(directory), ["has no *.toml contract files"])
    contracts: list[Contract] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for f in files:
        try:
            item = load_file(f)
        except ContractError as exc:
            problems.extend(f"{f.name}: {p}" for p in exc.problems)
            continue
        if not isinstance(item, Contract):
            problems.append(f"{f.name}: is a design, not a contract (it has no provider_id)")
            continue
        if item.id in seen:
            problems.append(f"{f.name}: id {item.id!r} is also used by {seen[item.id].name}")
            continue
        seen[item.id] = f
        contracts.append(item)
    if problems:
        raise ContractError(str(directory), problems)
    return sorted(contracts, key=lambda c: c.id)


def _library_files() -> dict[str, tuple[str, Design]]:
    """Each shipped design by name, with its TOML source. Two files with one
    name are an error, not a silent choice of one."""
    found: dict[str, tuple[str, Design]] = {}
    files: dict[str, str] = {}
    problems: list[str] = []
    for entry in sorted(resources.files("pbrkit.contracts").joinpath("library").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        text = entry.read_text(encoding="utf-8")
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ContractError(f"library/{entry.name}", [f"is not valid TOML: {exc}"]) from None
        item = parse(table, f"library/{entry.name}")
        if item.name in found:
            problems.append(f"{entry.name}: name {item.name!r} is also used by {files[item.name]}")
            continue
        found[item.name] = (text, item)
        files[item.name] = entry.name
    if problems:
        raise ContractError("design library", problems)
    return found


def library() -> dict[str, Design]:
    """The designs shipped with pbrkit, by name."""
    return {name: item for name, (_, item) in _library_files().items()}


def _known(name: str, names) -> None:
    if name not in names:
        raise ContractError("design library", [f"no design named {name!r}; choose from {', '.join(names)}"])


def design(name: str) -> Design:
    """A shipped design by name, with the list of names when it is unknown."""
    designs = library()
    _known(name, designs)
    return designs[name]


def design_source(name: str) -> str:
    """The TOML text of a shipped design, as written (comments included)."""
    files = _library_files()
    _known(name, files)
    return files[name][0]
