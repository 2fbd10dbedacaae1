"""The evaluation report: sentences first, then the outcome and balance charts, then the tables.

Laid out like a Justice Data Lab summary: what the service is estimated to
have done, how sure we can be, then the evidence that the comparison group is
a fair one (balance), so a reader can judge the estimate, not just quote it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pbrkit.evaluate import Evaluation
from pbrkit.evaluate.balance import THRESHOLD
from pbrkit.evaluate.text import OUTCOMES
from pbrkit.report.page import chart_specs, vega_bundle, write_atomic

#: Each outcome's title in the report. Its scale (a rate in percent), decimals and
#: the unit of a difference come from `evaluate.text.OUTCOMES`, as the sentences do.
TITLES = {
    "binary_rate": "One-year proven reoffending rate",
    "frequency": "Proven reoffences per person",
    "days_to_first": "Days to first proven reoffence (reoffenders only)",
}


def _show(value: float | None, outcome: str) -> str:
    """A level (not a difference): the rate as a percentage, the others as numbers."""
    if value is None:
        return "–"
    _, _, scale, digits = OUTCOMES[outcome]
    return f"{value * scale:,.{digits}f}" + ("%" if outcome == "binary_rate" else "")


def _difference_unit(outcome: str) -> str:
    return OUTCOMES[outcome][1] or "reoffences per person"


def outcome_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for name, est in evaluation.outcomes.items():
        _, _, scale, digits = OUTCOMES[name]
        rows.append({
            "outcome": TITLES[name],
            "treated": _show(est.treated, name),
            "comparison": _show(est.comparison, name),
            "difference": "–" if est.difference is None else f"{est.difference * scale:+,.{digits}f}",
            "interval": "–" if est.ci_low is None else
            f"{est.ci_low * scale:+,.{digits}f} to {est.ci_high * scale:+,.{digits}f}",
            "unit": OUTCOMES[name][1],
            "p_value": "–" if est.p_value is None else ("< 0.001" if est.p_value < 0.001 else f"{est.p_value:.3f}"),
            "n": f"{est.n_treated:,} / {est.n_comparison:,}",
        })
    return rows


def outcome_chart(evaluation: Evaluation, name: str):
    """The difference (treated minus comparison) with its 95% interval, against zero."""
    import altair as alt

    est = evaluation.outcomes[name]
    title, (_, _, scale, digits) = TITLES[name], OUTCOMES[name]
    unit = _difference_unit(name)
    values = [] if est.difference is None else [{
        "outcome": title, "difference": est.difference * scale, "low": est.ci_low * scale, "high": est.ci_high * scale,
    }]
    base = alt.Chart(alt.Data(values=values))
    x = alt.X("low:Q", title=f"treated minus comparison ({unit}), 95% interval", scale=alt.Scale(zero=True))
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="#333", strokeDash=[4, 3]).encode(x="x:Q")
    bar = base.mark_rule(strokeWidth=3, color="#1d70b8").encode(x=x, x2="high:Q", y=alt.Y("outcome:N", title=None, axis=None))
    dot = base.mark_point(filled=True, size=90, color="#1d70b8").encode(
        x="difference:Q", y="outcome:N",
        tooltip=[alt.Tooltip("difference:Q", format=f".{digits}f"), alt.Tooltip("low:Q", format=f".{digits}f"),
                 alt.Tooltip("high:Q", format=f".{digits}f")])
    return alt.layer(zero, bar, dot).properties(width=520, height=50, title=title)


def balance_chart(evaluation: Evaluation):
    """Standardised mean differences before and after matching (a Love plot)."""
    import altair as alt

    rows = []
    for r in evaluation.balance.iter_rows(named=True):
        rows.append({"covariate": r["covariate"], "stage": "before matching", "smd": r["smd_before"]})
        rows.append({"covariate": r["covariate"], "stage": "after matching", "smd": r["smd_after"]})
    order = evaluation.balance["covariate"].to_list()
    limits = alt.Chart(alt.Data(values=[{"x": -THRESHOLD}, {"x": THRESHOLD}])).mark_rule(
        color="#d4351c", strokeDash=[4, 3]).encode(x="x:Q")
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="#333").encode(x="x:Q")
    points = alt.Chart(alt.Data(values=rows)).mark_point(filled=True, size=60).encode(
        x=alt.X("smd:Q", title="standardised mean difference (treated minus comparison)"),
        y=alt.Y("covariate:N", sort=order, title=None),
        color=alt.Color("stage:N", scale=alt.Scale(domain=["before matching", "after matching"],
                                                   range=["#b1b4b6", "#1d70b8"]), title=None),
        shape=alt.Shape("stage:N", scale=alt.Scale(domain=["before matching", "after matching"],
                                                   range=["circle", "diamond"]), title=None),
        tooltip=["covariate:N", "stage:N", alt.Tooltip("smd:Q", format=".3f")])
    return alt.layer(limits, zero, points).properties(width=520, height=max(120, 18 * len(order)))


def evaluation_html(evaluation: Evaluation, title: str = "Service evaluation") -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pbrkit.report", "templates"), autoescape=select_autoescape(["html"]))
    charts = {f"outcome-{name}": outcome_chart(evaluation, name) for name in evaluation.outcomes}
    charts["balance"] = balance_chart(evaluation)
    return env.get_template("evaluation.html").render(
        title=title,
        e=evaluation,
        settings=evaluation.settings,
        sentences=evaluation.sentences,
        outcomes=outcome_rows(evaluation),
        outcome_names=list(evaluation.outcomes),
        balance=evaluation.balance.to_dicts(),
        threshold=THRESHOLD,
        specs=chart_specs(charts),
        vega=vega_bundle(),
    )


def write_evaluation(out: str | Path, evaluation: Evaluation) -> tuple[Path, Path]:
    """`results.json` and `report.html` in `out`, each written whole or not at all."""
    out = Path(out)
    results = json.dumps(evaluation.to_dict(), indent=2, allow_nan=False)
    page = evaluation_html(evaluation)
    return write_atomic(out / "results.json", results + "\n"), write_atomic(out / "report.html", page)
