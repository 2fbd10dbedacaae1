"""Simulation results a person reads: sentences, tables and the compare report.

Everything here works from the metrics frame (one row per replicate, as in
`metrics.csv`) and the summary (`summary.json`), never from the kernel, so a
report can be made from saved runs and tested on made-up metrics.

The verdict flags a behaviour when its mean over replicates crosses a stated
threshold: parking when the top risk quintile gets less than `PARKING` (0.9)
times the effort per person of the bottom quintile; a cliff edge when effort
after a first reoffence is less than `CLIFF_EDGE` (0.9) times effort before;
service-level gaming when reported compliance exceeds true quality by more
than `GAMING` (5 percentage points); a failure risk when at least one provider
failed in `FAILURE_RISK` (10%) or more of the replicates.

The page is one HTML file: the Vega, Vega-Lite and Vega-Embed scripts are
inlined from vl-convert (as `pbrkit.report.charts.save_html` does), so it
opens without a network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pbrkit.report.page import script_json, vega_bundle, write_atomic
from pbrkit.simulate.record import METRICS

PARKING = 0.9
CLIFF_EDGE = 0.9
GAMING = 0.05
FAILURE_RISK = 0.10

#: How each metric is written: a count, money (pounds), a share (shown as %) or a ratio.
KIND: dict[str, str] = {
    "reoffences_avoided": "count", "reoffenders_avoided": "count", "provider_failures": "decimal",
    "subcontractor_failures": "decimal", "episodes": "count", "forecast_episodes": "count",
    "commissioner_cost": "money", "counterfactual_cost": "money", "cost_per_reoffence_avoided": "money",
    "provider_margin_mean": "share", "provider_margin_p05": "share", "provider_failure_any": "share",
    "sl_reported_compliance": "share", "sl_true_quality": "share", "binary_rate": "share",
    "counterfactual_binary_rate": "share",
    "parking_index": "ratio", "post_reoffence_effort_ratio": "ratio", "frequency_per_reoffender": "ratio",
    "counterfactual_frequency_per_reoffender": "ratio", "mean_intensity": "ratio",
    "counterfactual_episodes": "count",
}

#: One line per metric, for tables and the report's notes.
MEANING: dict[str, str] = {
    "reoffences_avoided": "proven reoffences under the status quo minus under the design, same random numbers",
    "reoffenders_avoided": "people who reoffended under the status quo minus under the design",
    "commissioner_cost": "everything the commissioner paid providers, plus re-procurement after failures",
    "counterfactual_cost": "what the status quo (fee-only public provision) cost on the same world",
    "cost_per_reoffence_avoided": "extra cost over the status quo per reoffence avoided (blank if none avoided)",
    "provider_margin_mean": "mean over providers of (income - costs) / income over the run",
    "provider_margin_p05": "5th percentile over providers of the same margin",
    "provider_failures": "providers (primes and subcontractors) whose reserves went below zero",
    "provider_failure_any": "1 if any provider failed; its mean is the probability of a failure",
    "subcontractor_failures": "subcontractors that failed",
    "parking_index": "effort per person in the top risk quintile / the bottom quintile (below 1: parking)",
    "post_reoffence_effort_ratio": "effort after a first reoffence / before it (below 1: a cliff edge)",
    "sl_reported_compliance": "share of service events reported done on time",
    "sl_true_quality": "share of service events done properly (not filed empty)",
    "frequency_per_reoffender": "proven reoffences per reoffender under the design",
    "binary_rate": "share of people who reoffended under the design",
    "counterfactual_binary_rate": "the same under the status quo",
    "counterfactual_frequency_per_reoffender": "proven reoffences per reoffender under the status quo",
    "episodes": "new episodes over the run under the design (success lowers future volumes)",
    "forecast_episodes": "the volumes providers priced on",
    "mean_intensity": "mean service intensity per person",
    "counterfactual_episodes": "new episodes over the run under the status quo",
}


# --- numbers in words ----------------------------------------------------------


def money(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign, v = ("-" if value < 0 else ""), abs(value)
    if v >= 1e9:
        return f"{sign}£{v / 1e9:.2f}bn"
    if v >= 1e6:
        return f"{sign}£{v / 1e6:.1f}m"
    return f"{sign}£{v:,.0f}"


def percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if 0 < value < 0.005:
        return "under 1%"
    return f"{100 * value:.0f}%"


def fmt(metric: str, value: float | None) -> str:
    """A metric's value as a person reads it."""
    if value is None or not math.isfinite(value):
        return "n/a"
    kind = KIND.get(metric) or ("count" if abs(value) >= 1000 else "ratio")
    if kind == "money":
        return money(value)
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "decimal":
        return f"{value:,.1f}"
    return f"{value:.2f}"


def _stat(group: Mapping[str, Any], metric: str, key: str = "mean") -> float | None:
    s = group.get("metrics", {}).get(metric)
    if not s:
        return None
    v = s.get(key)
    return None if v is None else float(v)


def interval_text(group: Mapping[str, Any], metric: str) -> str:
    """`mean (90% interval lo to hi)` for one metric of one design and scenario."""
    mean, lo, hi = (_stat(group, metric, k) for k in ("mean", "p05", "p95"))
    if mean is None:
        return "n/a"
    return f"{fmt(metric, mean)} (90% interval {fmt(metric, lo)} to {fmt(metric, hi)})"


def cell(group: Mapping[str, Any], metric: str) -> str:
    mean, lo, hi = (_stat(group, metric, k) for k in ("mean", "p05", "p95"))
    if mean is None:
        return "n/a"
    return f"{fmt(metric, mean)} ({fmt(metric, lo)} to {fmt(metric, hi)})"


def label(group: Mapping[str, Any]) -> str:
    return f"{group['design']} ({group['scenario']})"


# --- sentences -------------------------------------------------------------------


def _failure_clause(group: Mapping[str, Any]) -> str | None:
    p = group.get("provider_failure_probability")
    if p is None:
        return None
    n = group.get("providers")
    if p == 0:
        return f"none of the {n} providers failed in any replicate" if n else "no provider failed in any replicate"
    who = f"at least one of the {n} providers" if n else "at least one provider"
    mean = _stat(group, "provider_failures")
    extra = f" ({fmt('provider_failures', mean)} failed on average)" if mean is not None else ""
    return f"{who} failed in {percent(p)} of replicates{extra}"


def _value_clause(group: Mapping[str, Any]) -> str:
    avoided = _stat(group, "reoffences_avoided")
    lo, hi = _stat(group, "reoffences_avoided", "p05"), _stat(group, "reoffences_avoided", "p95")
    cost, base = _stat(group, "commissioner_cost"), _stat(group, "counterfactual_cost")
    if avoided is None:
        return "no replicate reported reoffences avoided"
    interval = f"(90% interval {fmt('reoffences_avoided', lo)} to {fmt('reoffences_avoided', hi)})"
    difference = None if cost is None or base is None else cost - base
    if avoided > 0:
        text = f"providers avoided {fmt('reoffences_avoided', avoided)} reoffences {interval}"
        extra = group.get("extra_cost_per_reoffence_avoided")
        if difference is None:
            return text
        if difference > 0 and extra is not None:
            return f"{text} at an extra {money(extra)} each over the status quo"
        return f"{text} while costing {money(-difference)} less than the status quo"
    text = (f"there were {fmt('reoffences_avoided', -avoided)} more reoffences than under the status quo "
            f"(reoffences avoided: 90% interval {fmt('reoffences_avoided', lo)} to {fmt('reoffences_avoided', hi)})")
    if difference is None:
        return text
    return f"{text}, at {money(abs(difference))} {'more' if difference > 0 else 'less'} than the status quo"


def run_sentence(group: Mapping[str, Any]) -> str:
    """One plain-English sentence for one design under one scenario."""
    parts = [_value_clause(group)]
    failure = _failure_clause(group)
    if failure:
        parts.append(failure)
    return f"Under {group['design']} ({group['scenario']}), " + "; ".join(parts) + "."


def run_sentences(summary: Mapping[str, Any]) -> list[str]:
    return [run_sentence(g) for g in summary["results"]]


def behaviour_flags(group: Mapping[str, Any]) -> list[str]:
    """The behaviours the design brought out, each as a clause (empty if none).
    Failures are in the run sentence already."""
    flags = []
    margin05 = _stat(group, "provider_margin_p05")
    if margin05 is not None and margin05 < 0:
        flags.append(f"losses for the worst-placed providers ({fmt('provider_margin_p05', margin05)} margin "
                     "at the 5th percentile)")
    parking = _stat(group, "parking_index")
    if parking is not None and parking < PARKING:
        flags.append(f"parking: the highest-risk fifth got {percent(1 - parking)} less effort per person than "
                     f"the lowest-risk fifth (index {parking:.2f})")
    cliff = _stat(group, "post_reoffence_effort_ratio")
    if cliff is not None and cliff < CLIFF_EDGE:
        flags.append(f"a cliff edge: effort fell by {percent(1 - cliff)} once a person had reoffended "
                     f"(ratio {cliff:.2f})")
    reported, true = _stat(group, "sl_reported_compliance"), _stat(group, "sl_true_quality")
    if reported is not None and true is not None and reported - true > GAMING:
        flags.append(f"service-level gaming: {percent(reported)} of service events reported on time, "
                     f"{percent(true)} done properly")
    return flags


def design_verdict(group: Mapping[str, Any]) -> str:
    """The run sentence plus the behaviours flagged, for one design under one scenario."""
    flags = behaviour_flags(group)
    tail = (" It shows " + "; ".join(flags) + ".") if flags else (
        " No parking, cliff edge, service-level gaming or provider losses appeared.")
    return run_sentence(group) + tail


def _rank_value(groups: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Designs that avoided reoffences, best value first: those cheaper than the
    status quo (most avoided first), then by extra cost per reoffence avoided."""
    good = [g for g in groups if (_stat(g, "reoffences_avoided") or 0) > 0]

    def cheaper(g) -> bool:
        cost, base = _stat(g, "commissioner_cost"), _stat(g, "counterfactual_cost")
        return cost is not None and base is not None and cost <= base

    dominating = sorted((g for g in good if cheaper(g)), key=lambda g: -_stat(g, "reoffences_avoided"))
    rest = sorted((g for g in good if not cheaper(g) and g.get("extra_cost_per_reoffence_avoided") is not None),
                  key=lambda g: g["extra_cost_per_reoffence_avoided"])
    return dominating + rest


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def scenario_verdict(scenario: str, groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences comparing the designs under one scenario."""
    out = []
    ranked = _rank_value(groups)
    if not ranked:
        out.append(f"Under {scenario}, no design avoided reoffences against the status quo on average.")
    else:
        best = ranked[0]
        cost, base = _stat(best, "commissioner_cost"), _stat(best, "counterfactual_cost")
        if cost is not None and base is not None and cost <= base:
            out.append(f"Under {scenario}, {best['design']} gives the most for the money: it avoids "
                       f"{fmt('reoffences_avoided', _stat(best, 'reoffences_avoided'))} reoffences and costs "
                       f"{money(base - cost)} less than the status quo.")
        else:
            text = (f"Under {scenario}, {best['design']} avoids the most reoffences per pound: "
                    f"{money(best['extra_cost_per_reoffence_avoided'])} of extra spending per reoffence avoided")
            if len(ranked) > 1 and ranked[1].get("extra_cost_per_reoffence_avoided") is not None:
                text += (f", against {money(ranked[1]['extra_cost_per_reoffence_avoided'])} under "
                         f"{ranked[1]['design']}")
            out.append(text + ".")
        most = max(ranked, key=lambda g: _stat(g, "reoffences_avoided"))
        if most is not best:
            out.append(f"{most['design']} avoids the most reoffences "
                       f"({fmt('reoffences_avoided', _stat(most, 'reoffences_avoided'))}), but at a higher "
                       "cost per reoffence avoided.")
        losers = [g["design"] for g in groups if g not in ranked]
        if losers:
            out.append(f"{_names(losers)} did not avoid reoffences against the status quo on average.")
    risky = [g for g in groups if (g.get("provider_failure_probability") or 0) >= FAILURE_RISK]
    if risky:
        worst = max(risky, key=lambda g: g["provider_failure_probability"])
        out.append(f"{worst['design']} carries the greatest risk of provider failure: at least one provider "
                   f"failed in {percent(worst['provider_failure_probability'])} of replicates"
                   + (f"; {_names([g['design'] for g in risky if g is not worst])} also "
                      f"{'risks' if len(risky) == 2 else 'risk'} failures" if len(risky) > 1 else "") + ".")
    elif groups:
        out.append(f"No design put providers at material risk: at least one failed in under "
                   f"{percent(FAILURE_RISK)} of replicates under each.")
    for metric, threshold, what in (
        ("parking_index", PARKING, "Parking (less effort for the highest-risk cases)"),
        ("post_reoffence_effort_ratio", CLIFF_EDGE, "A cliff edge (effort dropped after a first reoffence)"),
    ):
        hit = [g for g in groups if (v := _stat(g, metric)) is not None and v < threshold]
        if hit:
            out.append(f"{what} appears under " + _names(
                [f"{g['design']} ({_stat(g, metric):.2f})" for g in sorted(hit, key=lambda g: _stat(g, metric))])
                + ".")
        elif groups:
            out.append(f"{what.split(' (')[0]} does not appear under any design.")
    gamed = [g for g in groups if (r := _stat(g, "sl_reported_compliance")) is not None
             and (t := _stat(g, "sl_true_quality")) is not None and r - t > GAMING]
    if gamed:
        out.append("Service levels are gamed (reported on time but not done properly) under " + _names(
            [f"{g['design']} ({percent(_stat(g, 'sl_reported_compliance'))} reported, "
             f"{percent(_stat(g, 'sl_true_quality'))} done properly)" for g in gamed]) + ".")
    return out


def verdicts(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per scenario: the comparative sentences, and per design its verdict row and sentence."""
    scenarios: dict[str, list[Mapping[str, Any]]] = {}
    for g in summary["results"]:
        scenarios.setdefault(g["scenario"], []).append(g)
    out = []
    for scenario, groups in scenarios.items():
        rows = []
        for g in groups:
            reported, true = _stat(g, "sl_reported_compliance"), _stat(g, "sl_true_quality")
            rows.append({
                "design": g["design"],
                "avoided": cell(g, "reoffences_avoided"),
                "cost": cell(g, "commissioner_cost"),
                "per_avoided": money(g.get("extra_cost_per_reoffence_avoided")),
                "failure": percent(g.get("provider_failure_probability")),
                "margin": f"{fmt('provider_margin_mean', _stat(g, 'provider_margin_mean'))} / "
                          f"{fmt('provider_margin_p05', _stat(g, 'provider_margin_p05'))}",
                "parking": fmt("parking_index", _stat(g, "parking_index")),
                "cliff": fmt("post_reoffence_effort_ratio", _stat(g, "post_reoffence_effort_ratio")),
                "gaming": f"{percent(reported)} / {percent(true)}",
                "sentence": design_verdict(g),
            })
        out.append({"scenario": scenario, "sentences": scenario_verdict(scenario, groups), "rows": rows})
    return out


def settings_sentence(settings: Mapping[str, Any]) -> str:
    """The run's settings in one sentence (one per source for combined runs)."""
    if "sources" in settings:
        return " ".join(f"From {src}: {settings_sentence(s)}" for src, s in settings["sources"].items())
    if not settings.get("replicates"):
        return "Run settings not recorded."
    text = (f"{settings['replicates']} replicates of each design under each scenario over "
            f"{settings.get('years')} years at scale {settings.get('scale')} (1 = national volumes), "
            f"seed {settings.get('seed')}")
    overrides = settings.get("overrides") or {}
    if overrides:
        text += "; overrides " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in overrides.items())
    return text + f"; pbrkit {settings.get('pbrkit', '?')}."


def metric_table(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every metric (rows) for every design and scenario (columns): `mean (5% to 95%)`."""
    groups = summary["results"]
    header = ["metric"] + [label(g) for g in groups]
    rows = []
    for m in METRICS:
        if not any(m in g.get("metrics", {}) for g in groups):
            continue
        if m == "provider_failure_any":  # a 0/1 per replicate: its mean is the probability, no interval
            rows.append(["provider_failure_any (probability)"]
                        + [percent(g.get("provider_failure_probability")) for g in groups])
        else:
            rows.append([m] + [cell(g, m) for g in groups])
    rows.append(["replicates"] + [str(g["n"]) for g in groups])
    return header, rows


# --- charts ----------------------------------------------------------------------


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _group_rows(summary: Mapping[str, Any], metrics: Sequence[str], scale: float = 1.0) -> list[dict[str, Any]]:
    rows = []
    for g in summary["results"]:
        row = {"label": label(g), "design": g["design"], "scenario": g["scenario"]}
        for m in metrics:
            for key in ("mean", "p05", "p95"):
                v = _stat(g, m, key)
                row[f"{m}_{key}"] = None if v is None else v / scale if KIND.get(m) == "money" else v
        row["failure_probability"] = g.get("provider_failure_probability")
        rows.append(row)
    return rows


def _height(n: int) -> int:
    return max(80, 26 * n)


def _design_color(designs: list[str]):
    import altair as alt

    return alt.Color("design:N", title="design", scale=alt.Scale(domain=designs))


def _interval_chart(rows, metric: str, title: str, axis_format: str = ".2f", rule_at: float | None = None,
                    designs: list[str] | None = None):
    """Points at the mean with 90% interval bars, one row per design and scenario."""
    import altair as alt

    labels = [r["label"] for r in rows]
    y = alt.Y("label:N", title=None, sort=labels)
    base = alt.Chart(alt.Data(values=rows))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(f"{metric}_p05:Q", title=title, axis=alt.Axis(format=axis_format), scale=alt.Scale(zero=False)),
        x2=f"{metric}_p95:Q", y=y, color=_design_color(designs or []))
    dots = base.mark_point(filled=True, size=70).encode(
        x=f"{metric}_mean:Q", y=y, color=_design_color(designs or []),
        tooltip=[alt.Tooltip("label:N", title="design (scenario)"),
                 alt.Tooltip(f"{metric}_mean:Q", title="mean", format=axis_format),
                 alt.Tooltip(f"{metric}_p05:Q", title="5th percentile", format=axis_format),
                 alt.Tooltip(f"{metric}_p95:Q", title="95th percentile", format=axis_format)])
    layers = [bars, dots]
    if rule_at is not None:
        layers.insert(0, alt.Chart(alt.Data(values=[{"x": rule_at}])).mark_rule(color="#333", strokeDash=[4, 3])
                      .encode(x="x:Q"))
    return alt.layer(*layers).properties(width=300, height=_height(len(rows)))


def cost_chart(summary: Mapping[str, Any]):
    """Commissioner cost against reoffences avoided, means with 90% intervals both ways;
    the status quo (no reoffences avoided, its own cost) as a grey diamond per scenario."""
    import altair as alt

    rows = _group_rows(summary, ("reoffences_avoided", "commissioner_cost", "counterfactual_cost"), scale=1e6)
    designs = list(dict.fromkeys(r["design"] for r in rows))
    base = alt.Chart(alt.Data(values=rows))
    color = _design_color(designs)
    x = alt.X("reoffences_avoided_mean:Q", title="reoffences avoided against the status quo (mean, 90% interval)")
    y = alt.Y("commissioner_cost_mean:Q", title="commissioner cost, £m (mean, 90% interval)",
              scale=alt.Scale(zero=False))
    xbar = base.mark_rule().encode(x="reoffences_avoided_p05:Q", x2="reoffences_avoided_p95:Q",
                                   y="commissioner_cost_mean:Q", color=color)
    ybar = base.mark_rule().encode(y="commissioner_cost_p05:Q", y2="commissioner_cost_p95:Q",
                                   x="reoffences_avoided_mean:Q", color=color)
    dots = base.mark_point(filled=True, size=110).encode(
        x=x, y=y, color=color, shape=alt.Shape("scenario:N", title="scenario"),
        tooltip=[alt.Tooltip("label:N", title="design (scenario)"),
                 alt.Tooltip("reoffences_avoided_mean:Q", title="reoffences avoided", format=",.0f"),
                 alt.Tooltip("commissioner_cost_mean:Q", title="cost £m", format=",.1f"),
                 alt.Tooltip("counterfactual_cost_mean:Q", title="status quo cost £m", format=",.1f")])
    status_quo = {}
    for r in rows:
        if r["counterfactual_cost_mean"] is not None:
            status_quo.setdefault(r["scenario"], []).append(r["counterfactual_cost_mean"])
    sq_rows = [{"scenario": s, "x": 0.0, "cost": float(np.mean(v)), "text": f"status quo ({s})"}
               for s, v in status_quo.items()]
    sq = alt.Chart(alt.Data(values=sq_rows)).mark_point(shape="diamond", filled=True, size=110, color="#505a5f")
    sq_points = sq.encode(x="x:Q", y="cost:Q", tooltip=["text:N", alt.Tooltip("cost:Q", title="£m", format=",.1f")])
    sq_text = alt.Chart(alt.Data(values=sq_rows)).mark_text(align="left", dx=8, fontSize=10, color="#505a5f").encode(
        x="x:Q", y="cost:Q", text="text:N")
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="#b1b4b6").encode(x="x:Q")
    return alt.layer(zero, xbar, ybar, dots, sq_points, sq_text).properties(width=620, height=380)


def _quantile_rows(values_by_label: dict[str, tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    rows = []
    for lab, (design, values) in values_by_label.items():
        v = values[np.isfinite(values)]
        if v.size == 0:
            continue
        q = np.percentile(v, [5, 25, 50, 75, 95])
        rows.append({"label": lab, "design": design, "p05": q[0], "p25": q[1], "p50": q[2], "p75": q[3],
                     "p95": q[4], "mean": float(v.mean()), "n": int(v.size)})
    return rows


def margin_chart(summary: Mapping[str, Any], metrics: pl.DataFrame, providers: pl.DataFrame | None):
    """The distribution of provider margins: per provider per replicate when the run
    wrote providers.csv, otherwise each replicate's mean provider margin. Box from
    the 25th to the 75th percentile, whiskers from the 5th to the 95th, tick at the median."""
    import altair as alt

    groups = summary["results"]
    wanted = {(g["design"], g["scenario"]): label(g) for g in groups}
    use_providers = (providers is not None and {"design", "scenario", "margin"} <= set(providers.columns)
                     and all(providers.filter((pl.col("design") == d) & (pl.col("scenario") == s)).height
                             for d, s in wanted))
    values: dict[str, tuple[str, np.ndarray]] = {}
    source = providers if use_providers else metrics
    column = "margin" if use_providers else "provider_margin_mean"
    for (d, s), lab in wanted.items():
        sub = source.filter((pl.col("design") == d) & (pl.col("scenario") == s))
        values[lab] = (d, sub[column].cast(pl.Float64).to_numpy())
    rows = _quantile_rows(values)
    what = ("each provider's margin in each replicate" if use_providers
            else "each replicate's mean margin over providers")
    designs = list(dict.fromkeys(g["design"] for g in groups))
    labels = [label(g) for g in groups]
    y = alt.Y("label:N", title=None, sort=labels)
    base = alt.Chart(alt.Data(values=rows))
    color = _design_color(designs)
    fmt_ = ".0%"
    whisker = base.mark_rule().encode(x=alt.X("p05:Q", title=f"provider margin: {what}",
                                              axis=alt.Axis(format=fmt_)), x2="p95:Q", y=y, color=color)
    box = base.mark_bar(size=14, opacity=0.6).encode(x="p25:Q", x2="p75:Q", y=y, color=color, tooltip=[
        alt.Tooltip("label:N", title="design (scenario)"), alt.Tooltip("p05:Q", format=".1%", title="5th"),
        alt.Tooltip("p50:Q", format=".1%", title="median"), alt.Tooltip("p95:Q", format=".1%", title="95th"),
        alt.Tooltip("n:Q", title="values")])
    median = base.mark_tick(color="#0b0c0c", thickness=2, size=16).encode(x="p50:Q", y=y)
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="#d4351c", strokeDash=[4, 3]).encode(x="x:Q")
    return alt.layer(zero, whisker, box, median).properties(width=620, height=_height(len(rows)))


def failure_chart(summary: Mapping[str, Any]):
    """The probability that any provider failed, and how many failed (mean, 90% interval)."""
    import altair as alt

    rows = _group_rows(summary, ("provider_failures",))
    designs = list(dict.fromkeys(r["design"] for r in rows))
    labels = [r["label"] for r in rows]
    y = alt.Y("label:N", title=None, sort=labels)
    prob = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("failure_probability:Q", title="probability that any provider failed",
                axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])),
        y=y, color=_design_color(designs),
        tooltip=[alt.Tooltip("label:N", title="design (scenario)"),
                 alt.Tooltip("failure_probability:Q", title="probability", format=".0%")],
    ).properties(width=300, height=_height(len(rows)))
    count = _interval_chart(rows, "provider_failures", "providers failed (mean, 90% interval)", ".1f",
                            designs=designs)
    return alt.hconcat(prob, count)


def behaviour_chart(summary: Mapping[str, Any]):
    """The parking index and the post-reoffence effort ratio; 1 means no parking and no cliff edge."""
    import altair as alt

    rows = _group_rows(summary, ("parking_index", "post_reoffence_effort_ratio"))
    designs = list(dict.fromkeys(r["design"] for r in rows))
    return alt.hconcat(
        _interval_chart(rows, "parking_index", "parking index (top / bottom risk quintile)", ".2f", 1.0, designs),
        _interval_chart(rows, "post_reoffence_effort_ratio", "effort after / before a first reoffence", ".2f",
                        1.0, designs),
    )


def gaming_chart(summary: Mapping[str, Any]):
    """Reported service-level compliance against the true quality of the work, per design."""
    import altair as alt

    rows = _group_rows(summary, ("sl_reported_compliance", "sl_true_quality"))
    labels = [r["label"] for r in rows]
    long = []
    for r in rows:
        for metric, name in (("sl_reported_compliance", "reported on time"), ("sl_true_quality", "done properly")):
            long.append({"label": r["label"], "design": r["design"], "measure": name, "mean": r[f"{metric}_mean"],
                         "p05": r[f"{metric}_p05"], "p95": r[f"{metric}_p95"]})
    y = alt.Y("label:N", title=None, sort=labels)
    gap = alt.Chart(alt.Data(values=rows)).mark_rule(color="#b1b4b6", strokeWidth=6).encode(
        x="sl_true_quality_mean:Q", x2="sl_reported_compliance_mean:Q", y=y)
    color = alt.Color("measure:N", title=None, scale=alt.Scale(domain=["reported on time", "done properly"],
                                                               range=["#f47738", "#1d70b8"]))
    base = alt.Chart(alt.Data(values=long))
    bars = base.mark_rule().encode(x="p05:Q", x2="p95:Q", y=y, color=color)
    dots = base.mark_point(filled=True, size=80).encode(
        x=alt.X("mean:Q", title="share of service events (mean, 90% interval)", axis=alt.Axis(format=".0%")),
        y=y, color=color,
        tooltip=[alt.Tooltip("label:N", title="design (scenario)"), "measure:N",
                 alt.Tooltip("mean:Q", format=".1%")])
    return alt.layer(gap, bars, dots).properties(width=620, height=_height(len(rows)))


def compare_charts(metrics: pl.DataFrame, summary: Mapping[str, Any],
                   providers: pl.DataFrame | None = None) -> dict[str, Any]:
    """The report's charts, by section id."""
    return {
        "cost": cost_chart(summary),
        "margins": margin_chart(summary, metrics, providers),
        "failures": failure_chart(summary),
        "behaviour": behaviour_chart(summary),
        "gaming": gaming_chart(summary),
    }


# --- the page --------------------------------------------------------------------


def _specs(charts: Mapping[str, Any]) -> dict[str, Any]:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return _clean(v)

    return {key: clean(chart.to_dict()) for key, chart in charts.items()}


def compare_html(metrics: pl.DataFrame, summary: Mapping[str, Any], providers: pl.DataFrame | None = None,
                 title: str = "Contract designs compared") -> str:
    """The compare report: verdicts, charts and every metric, as one offline HTML page."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    if not summary.get("results"):
        raise ValueError("nothing to report: the metrics have no rows")
    env = Environment(loader=PackageLoader("pbrkit.report", "templates"), autoescape=select_autoescape(["html"]))
    header, rows = metric_table(summary)
    designs = list(dict.fromkeys(g["design"] for g in summary["results"]))
    scenarios = list(dict.fromkeys(g["scenario"] for g in summary["results"]))
    return env.get_template("compare.html").render(
        title=title,
        designs=designs,
        scenarios=scenarios,
        settings=settings_sentence(summary.get("settings", {})),
        verdicts=verdicts(summary),
        header=header,
        rows=rows,
        meaning=[(m, MEANING.get(m, "")) for m in METRICS],
        thresholds={"parking": PARKING, "cliff": CLIFF_EDGE, "gaming": percent(GAMING),
                    "failure": percent(FAILURE_RISK)},
        specs=script_json(_specs(compare_charts(metrics, summary, providers))),
        vega=vega_bundle(),
    )


def write_report(path: str | Path, metrics: pl.DataFrame, summary: Mapping[str, Any],
                 providers: pl.DataFrame | None = None) -> Path:
    """Write the compare report atomically (a temporary file renamed into place)."""
    return write_atomic(path, compare_html(metrics, summary, providers))


__all__ = [
    "CLIFF_EDGE",
    "FAILURE_RISK",
    "GAMING",
    "MEANING",
    "PARKING",
    "compare_charts",
    "compare_html",
    "design_verdict",
    "fmt",
    "metric_table",
    "money",
    "run_sentence",
    "run_sentences",
    "scenario_verdict",
    "settings_sentence",
    "verdicts",
    "write_report",
]
