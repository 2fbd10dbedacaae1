"""A payment statement as a printable HTML page, with every line's basis.

The basis under each line is what a provider's finance team checks against
its own records, so it is printed, not hidden behind a link.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pbrkit.pay.statement import Statement, format_pence

#: Statement sections, in reading order, by the start of a line's kind.
SECTIONS = (
    ("fee", "Fees"),
    ("at_risk.withheld", "Money held at risk"),
    ("service_level", "Service-level deductions"),
    ("termination", "Termination"),
    ("outcome.foundation_advance", "Foundation payments"),
    ("outcome", "Results"),
    ("at_risk", "Results: money at risk earned back"),
)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def sections(statement: Statement) -> list[dict[str, Any]]:
    """The lines grouped under their section titles, each with a subtotal."""
    grouped: dict[str, list] = {title: [] for _, title in SECTIONS}
    for line in statement.lines:
        title = next((t for prefix, t in SECTIONS if line.kind.startswith(prefix)), "Other")
        grouped.setdefault(title, []).append({
            "description": line.description, "quantity": line.quantity, "unit": line.unit,
            "rate_text": line.rate_text,
            "amount": line.amount, "basis_items": [(k, _plain(v)) for k, v in json.loads(
                json.dumps(line.basis, default=str)).items()],
        })
    return [
        {"title": title, "lines": lines, "total": sum(x["amount"] for x in lines)}
        for title, lines in grouped.items() if lines
    ]


def statement_html(statement: Statement) -> str:
    env = Environment(loader=PackageLoader("pbrkit.report", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("statement.html").render(
        s=statement, sentence=statement.sentence(), sections=sections(statement), money=format_pence,
    )
