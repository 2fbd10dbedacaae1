"""What the pages show, shaped from what the services return: statement sections,
dashboard charts and the tables beside them.

Nothing here changes anything, and who may see what is decided by `access`, as
the services decide it. These functions arrange the services' answers for a
person to read: money in pounds, a statement's lines under their section
titles, and each dashboard chart as a Vega-Lite spec with a table of the same
numbers (a chart alone is no use to someone who cannot see it). Shown
dashboards are kept until the data under them change (`Dashboards`).
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections import OrderedDict, defaultdict
from typing import Any

import altair as alt
import polars as pl
from sqlalchemy.orm import Session

from pbrkit.pay.ledger import Ledger
from pbrkit.pay.statement import Statement, format_pence
from pbrkit.report.charts import control_limits
from pbrkit.report.page import script_json
from pbrkit.report.statement import SECTIONS
from pbrkit.web import statements
from pbrkit.web.access import Action, Principal, require, require_provider
from pbrkit.web.portal import Portal

#: GOV.UK colours, so the charts match the pages.
OWN_COLOUR, OTHERS_COLOUR, EXPECTED_COLOUR = "#1d70b8", "#505a5f", "#f47738"
THIS_PROVIDER, OTHER_PROVIDERS = "this provider", "other providers"


def pounds(pence: int | None) -> str:
    return "" if pence is None else format_pence(int(pence))


def percent(rate: float | None, places: int = 1) -> str:
    return "" if rate is None else f"{100 * rate:.{places}f}%"


def points(value: float | None, places: int = 1) -> str:
    return "" if value is None else f"{value:+.{places}f}"


def _plain(value: Any) -> str:
    """A basis value as a sentence fragment; nested values as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return "none" if value is None else str(value)


def statement_sections(statement: Statement) -> list[dict[str, Any]]:
    """The statement's lines under the printed statement's section titles, each
    line with its key (a query is raised on a line) and its basis."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in statement.lines:
        title = next((t for prefix, t in SECTIONS if line.kind.startswith(prefix)), "Other")
        grouped[title].append({
            "key": line.key, "kind": line.kind, "description": line.description, "quantity": line.quantity,
            "unit": line.unit, "rate_text": line.rate_text, "amount": line.amount,
            "basis": [(name, _plain(value)) for name, value in line.basis.items()],
        })
    order = [title for _, title in SECTIONS] + ["Other"]
    return [{"title": title, "lines": grouped[title], "total": sum(x["amount"] for x in grouped[title])}
            for title in dict.fromkeys(order) if grouped.get(title)]


# -- the provider dashboard ------------------------------------------------------
#
# Each chart's shape is built with Altair once per title and kept; its rows are
# added as named datasets on each request. Building the charts with the rows in
# them costs Altair about 100 ms a page (it copies and checks every row), and a
# dashboard is the page providers open most.

#: Points per control-limit curve: smooth at the page's width.
LIMIT_STEPS = 60


def _with_rows(spec: dict[str, Any], **rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A kept chart spec with this request's rows as its named datasets (the kept spec is not changed)."""
    return {**spec, "datasets": {**spec.get("datasets", {}), **rows}}


@functools.lru_cache(maxsize=256)
def _funnel_spec(period: str) -> dict[str, Any]:
    x = alt.X("offenders:Q", title="cohort size (offenders)", scale=alt.Scale(zero=False))
    curves = alt.Chart(alt.Data(name="limits")).mark_line(strokeWidth=1, color="#888").encode(
        x=x, y=alt.Y("limit_pp:Q", title="reoffended minus expected (percentage points)"), detail="side:N",
        strokeDash=alt.StrokeDash("limit:N", title="control limit",
                                  scale=alt.Scale(domain=["95%", "99.8%"], range=[[4, 3], [1, 0]])))
    zero = alt.Chart(alt.Data(values=[{"y": 0}])).mark_rule(color="#333").encode(y="y:Q")
    dots = alt.Chart(alt.Data(name="points")).mark_point(filled=True, size=80, opacity=0.9).encode(
        x=x, y="rate_diff_pp:Q",
        color=alt.Color("who:N", title=None, scale=alt.Scale(domain=[THIS_PROVIDER, OTHER_PROVIDERS],
                                                              range=[OWN_COLOUR, OTHERS_COLOUR])),
        shape=alt.Shape("who:N", title=None, scale=alt.Scale(domain=[THIS_PROVIDER, OTHER_PROVIDERS],
                                                              range=["diamond", "circle"])),
        tooltip=[alt.Tooltip("who:N", title="provider"), alt.Tooltip("offenders:Q", format=","),
                 alt.Tooltip("binary_rate:Q", title="reoffended", format=".1%"),
                 alt.Tooltip("expected_rate:Q", title="expected", format=".1%"),
                 alt.Tooltip("rate_diff_pp:Q", title="difference (points)", format="+.1f")])
    return alt.layer(curves, zero, dots).properties(
        width="container", height=320,
        description=f"Funnel plot for {period}: each provider's reoffending rate minus its expected rate "
                    "against its cohort size, with 95% and 99.8% control limits. The table below gives the numbers.",
        title=alt.TitleParams(f"Reoffending against expected, {period}", anchor="start")).to_dict()


def funnel(dashboard: dict[str, Any]) -> dict[str, Any] | None:
    """The funnel plot of the latest mature quarter: this provider among the
    others (unnamed), inside control limits around the overall expected rate."""
    rows = [{"who": THIS_PROVIDER if p["own"] else OTHER_PROVIDERS, **{k: p[k] for k in (
        "offenders", "binary_rate", "expected_rate", "rate_diff_pp")}} for p in dashboard["funnel"]]
    if not rows:
        return None
    limits = control_limits(pl.DataFrame(rows), steps=LIMIT_STEPS)
    return _with_rows(_funnel_spec(dashboard["funnel_period"]), points=rows, limits=limits.to_dicts())


def funnel_table(dashboard: dict[str, Any]) -> list[dict[str, str]]:
    ordered = sorted(dashboard["funnel"], key=lambda p: (not p["own"], -p["offenders"]))
    return [{"who": THIS_PROVIDER if p["own"] else "another provider", "offenders": f"{p['offenders']:,}",
             "reoffended": percent(p["binary_rate"]), "expected": percent(p["expected_rate"]),
             "difference": points(p["rate_diff_pp"])} for p in ordered]


@functools.cache
def _actual_spec() -> dict[str, Any]:
    domain = ["reoffended", "expected"]
    chart = alt.Chart(alt.Data(name="rates")).mark_line(point=True).encode(
        x=alt.X("period:O", title="cohort quarter"),
        y=alt.Y("rate:Q", title="proven reoffending rate", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=domain, range=[OWN_COLOUR, EXPECTED_COLOUR])),
        strokeDash=alt.StrokeDash("series:N", title=None, scale=alt.Scale(domain=domain, range=[[1, 0], [4, 3]])),
        tooltip=["period:N", "series:N", alt.Tooltip("rate:Q", format=".1%")])
    return chart.properties(
        width="container", height=260,
        description="Line chart of the provider's proven reoffending rate and its expected rate for each mature "
                    "cohort quarter. The table below gives the numbers.",
        title=alt.TitleParams("Actual against expected, per quarter", anchor="start")).to_dict()


def actual_against_expected(dashboard: dict[str, Any]) -> dict[str, Any] | None:
    """The provider's reoffending rate against its expected rate, per mature quarter."""
    rows = [{"period": m["period"], "series": series, "rate": m[column]}
            for m in dashboard["measures"] if m.get("mature")
            for series, column in (("reoffended", "binary_rate"), ("expected", "expected_rate"))]
    return _with_rows(_actual_spec(), rates=rows) if rows else None


def measures_table(dashboard: dict[str, Any]) -> list[dict[str, str]]:
    return [{"period": m["period"], "mature": "yes" if m.get("mature") else "not yet",
             "offenders": f"{m['offenders']:,}", "reoffended": percent(m.get("binary_rate")),
             "expected": percent(m.get("expected_rate")), "difference": points(m.get("rate_diff_pp")),
             "significant": "yes" if m.get("significant") else "no"}
            for m in dashboard["measures"]]


@functools.cache
def _payments_spec() -> dict[str, Any]:
    chart = alt.Chart(alt.Data(name="payments")).mark_bar().encode(
        x=alt.X("period:O", title="quarter"),
        y=alt.Y("sum(pounds):Q", title="paid (£)", axis=alt.Axis(format=",.0f")),
        color=alt.Color("kind:N", title="kind", scale=alt.Scale(scheme="tableau10")),
        tooltip=["period:N", "kind:N", alt.Tooltip("sum(pounds):Q", title="£", format=",.2f")])
    return chart.properties(
        width="container", height=260,
        description="Stacked bar chart of the money paid to the provider each quarter, by kind of payment. "
                    "The table below gives the amounts.",
        title=alt.TitleParams("Payments by kind, per quarter", anchor="start")).to_dict()


def payments_by_kind(dashboard: dict[str, Any]) -> dict[str, Any] | None:
    """Money paid per quarter, stacked by kind of payment (fees, results, deductions...)."""
    rows = [{"period": p["period"], "kind": p["kind"], "pounds": p["amount_pence"] / 100}
            for p in dashboard["payments_by_kind"]]
    return _with_rows(_payments_spec(), payments=rows) if rows else None


def payments_table(dashboard: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Quarters down, kinds across, with a total per quarter."""
    kinds = sorted({p["kind"] for p in dashboard["payments_by_kind"]})
    by_period: dict[str, dict[str, int]] = defaultdict(dict)
    for p in dashboard["payments_by_kind"]:
        by_period[p["period"]][p["kind"]] = p["amount_pence"]
    rows = [{"period": period, "amounts": [pounds(amounts.get(kind, 0)) for kind in kinds],
             "total": pounds(sum(amounts.values()))} for period, amounts in sorted(by_period.items())]
    return kinds, rows


def dashboard_view(dashboard: dict[str, Any]) -> dict[str, Any]:
    """Every chart that has something to plot (as one JSON text for the page) and its table."""
    kinds, payments = payments_table(dashboard)
    charts = {"funnel": funnel(dashboard), "actual": actual_against_expected(dashboard),
              "payments": payments_by_kind(dashboard)}
    drawn = {key: spec for key, spec in charts.items() if spec is not None}
    return {
        "dashboard": dashboard, "charts": drawn, "specs": script_json(drawn),
        "funnel_rows": funnel_table(dashboard), "measure_rows": measures_table(dashboard),
        "payment_kinds": kinds, "payment_rows": payments,
    }


class Dashboards:
    """Provider dashboards as shown, kept until the ledger or the latest payment run changes.

    A dashboard is what providers open most, and it changes only when a payment
    run is recorded: its figures come from the ledger (whose head hash changes
    with every run) and from the latest succeeded run's measures. So the shown
    dashboard is kept under (provider, ledger head, latest run), and asking
    costs two small queries. Who may see it is decided on every request, by the
    same rules as the service's (`access`); only a dashboard the service has
    answered is ever kept, so an unknown provider is still not found.
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._kept: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, session: Session, ledger: Ledger, principal: Principal | None, provider_id: str) -> dict[str, Any]:
        require(principal, Action.read_dashboard)
        require_provider(principal, provider_id, f"provider {provider_id}")
        latest_run = statements.latest_succeeded_job(session)
        key = (provider_id, ledger.head(), latest_run)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        shown = dashboard_view(statements.dashboard(session, ledger, principal, provider_id))
        with self._lock:
            self._kept[key] = shown
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return shown


_dashboards: weakref.WeakKeyDictionary[Portal, Dashboards] = weakref.WeakKeyDictionary()
_dashboards_lock = threading.Lock()


def dashboards(portal: Portal) -> Dashboards:
    """The kept dashboards of one running portal (each portal has its own database)."""
    with _dashboards_lock:
        return _dashboards.setdefault(portal, Dashboards())
