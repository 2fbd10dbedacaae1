"""Charts of the measures: a funnel plot and actual-against-expected time series.

A funnel plot is the standard fair comparison of providers in public-sector
performance: each provider's difference from its case-mix expected rate,
plotted against its cohort size, inside control limits that narrow as cohorts
grow. A point outside the 99.8% limits is very unlikely to be chance; a big
difference from a small cohort often is.

The limits use the overall expected rate `p` of the points plotted (their
expected reoffenders over their offenders): for a cohort of `n`, the standard
error of a rate is `sqrt(p (1 - p) / n)`, and the limits are at +/-1.96 (95%)
and +/-3.09 (99.8%) standard errors around a difference of 0, drawn in
percentage points.

Charts are Vega-Lite, built with Altair, and saved as one self-contained HTML
file with the Vega libraries inlined, so they open without a network.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import polars as pl

from pbrkit.measure.periods import period_bounds

LIMITS = ((1.96, "95%"), (3.09, "99.8%"))


def _labelled(results: pl.DataFrame) -> pl.DataFrame:
    """Results with a `label` per plotted unit (group, or group and segment)."""
    if "segment" in results.columns:
        return results.with_columns(label=pl.format("{} · {}", pl.col("group"), pl.col("segment")))
    return results.with_columns(label=pl.col("group"))


def funnel_points(results: pl.DataFrame, pooled: bool = False) -> tuple[pl.DataFrame, str]:
    """One point per group: the latest mature period, or pooled over every
    mature period; with a subtitle saying which."""
    mature = _labelled(results.filter(pl.col("mature")))
    if mature.height == 0:
        return mature.select("label", "offenders", "rate_diff_pp", "expected_rate").clear(), "no mature cohorts"
    if pooled:
        periods = sorted(mature["period"].unique().to_list())
        points = mature.group_by("label").agg(
            offenders=pl.col("offenders").sum(),
            reoffenders=pl.col("reoffenders").sum(),
            expected=(pl.col("expected_rate") * pl.col("offenders")).sum(),
        ).with_columns(
            binary_rate=pl.col("reoffenders") / pl.col("offenders"),
            expected_rate=pl.col("expected") / pl.col("offenders"),
        ).with_columns(rate_diff_pp=100 * (pl.col("binary_rate") - pl.col("expected_rate")))
        subtitle = f"pooled over the mature periods {periods[0]} to {periods[-1]}"
    else:
        latest = mature["period"].max()
        points = mature.filter(pl.col("period") == latest)
        subtitle = f"latest mature period, {latest}"
    points = points.select("label", "offenders", "binary_rate", "expected_rate", "rate_diff_pp").sort("label")
    return points.with_columns(position=_position(points)), subtitle


def overall_expected_rate(points: pl.DataFrame) -> float | None:
    """The funnel's centre: expected reoffenders over offenders, all points together."""
    total = points["offenders"].sum()
    if points.height == 0 or not total:
        return None
    return float((points["expected_rate"] * points["offenders"]).sum() / total)


def _position(points: pl.DataFrame) -> pl.Series:
    """Where each point lies: inside the 95% limits, or outside the 95% or 99.8% ones."""
    p = overall_expected_rate(points)
    if p is None:
        return pl.Series("position", [], dtype=pl.String)
    se_pp = 100.0 * np.sqrt(p * (1.0 - p) / points["offenders"].cast(pl.Float64).to_numpy())
    z = np.abs(points["rate_diff_pp"].to_numpy()) / np.where(se_pp > 0, se_pp, np.nan)
    where = np.where(z > LIMITS[1][0], "outside 99.8%", np.where(z > LIMITS[0][0], "outside 95%", "inside 95%"))
    return pl.Series("position", where, dtype=pl.String)


def control_limits(points: pl.DataFrame, steps: int = 200) -> pl.DataFrame:
    """The funnel's limit curves over the plotted range of cohort sizes."""
    p = overall_expected_rate(points)
    if p is None:
        return pl.DataFrame(schema={"offenders": pl.Float64, "limit_pp": pl.Float64, "limit": pl.String,
                                    "side": pl.String})
    lo = max(1.0, 0.5 * float(points["offenders"].min()))
    hi = 1.1 * float(points["offenders"].max())
    n = np.geomspace(lo, hi, steps)
    se_pp = 100.0 * np.sqrt(p * (1.0 - p) / n)
    frames = []
    for z, name in LIMITS:
        for side, sign in (("upper", 1.0), ("lower", -1.0)):
            frames.append(pl.DataFrame({"offenders": n, "limit_pp": sign * z * se_pp,
                                        "limit": [name] * steps, "side": [side] * steps}))
    return pl.concat(frames)


def funnel_chart(results: pl.DataFrame, pooled: bool = False, model: str = "default") -> alt.LayerChart:
    """Difference from the expected rate (points) against cohort size."""
    points, subtitle = funnel_points(results, pooled)
    limits = control_limits(points)
    x = alt.X("offenders:Q", title="cohort size (offenders)", scale=alt.Scale(zero=False))
    curves = alt.Chart(alt.Data(values=limits.to_dicts())).mark_line(strokeWidth=1).encode(
        x=x,
        y=alt.Y("limit_pp:Q", title="reoffended minus expected (percentage points)"),
        detail="side:N",
        strokeDash=alt.StrokeDash("limit:N", title="control limit",
                                  scale=alt.Scale(domain=["95%", "99.8%"], range=[[4, 3], [1, 0]])),
        color=alt.value("#888"),
    )
    zero = alt.Chart(alt.Data(values=[{"y": 0}])).mark_rule(color="#333").encode(y="y:Q")
    dots = alt.Chart(alt.Data(values=points.to_dicts())).mark_circle(size=70, opacity=0.9).encode(
        x=x,
        y="rate_diff_pp:Q",
        color=alt.Color("position:N", title="point", scale=alt.Scale(
            domain=["inside 95%", "outside 95%", "outside 99.8%"], range=["#1d70b8", "#f47738", "#d4351c"])),
        tooltip=[
            alt.Tooltip("label:N", title="group"),
            alt.Tooltip("offenders:Q", title="offenders", format=","),
            alt.Tooltip("binary_rate:Q", title="reoffended", format=".1%"),
            alt.Tooltip("expected_rate:Q", title="expected", format=".1%"),
            alt.Tooltip("rate_diff_pp:Q", title="difference (points)", format="+.1f"),
        ],
    )
    # Name only the points outside the 95% limits; the rest are in the tooltips.
    names = alt.Chart(alt.Data(values=points.filter(pl.col("position") != "inside 95%").to_dicts())).mark_text(
        align="left", dx=6, fontSize=10).encode(x=x, y="rate_diff_pp:Q", text="label:N")
    basis = "case mix" if model == "default" else "OGRS"
    return alt.layer(curves, zero, dots, names).properties(
        width=640, height=380,
        title=alt.TitleParams(
            "Proven reoffending against the rate expected for each cohort's " + basis,
            subtitle=[f"One point per group, {subtitle}.",
                      "Control limits at 95% and 99.8% around the overall expected rate; "
                      "groups outside the 95% limits are named."],
        ),
    )


def _period_start(label: str) -> str:
    return period_bounds(label)[0].isoformat()


def rate_series_chart(results: pl.DataFrame, columns: int = 4) -> alt.FacetChart:
    """Actual against expected reoffending rate over time, one panel per group."""
    mature = _labelled(results.filter(pl.col("mature")))
    rows = []
    for r in mature.iter_rows(named=True):
        start = _period_start(r["period"])
        rows.append({"label": r["label"], "period": r["period"], "start": start, "series": "reoffended",
                     "rate": r["binary_rate"]})
        rows.append({"label": r["label"], "period": r["period"], "start": start, "series": "expected",
                     "rate": r["expected_rate"]})
    base = alt.Chart(alt.Data(values=rows)).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("start:T", title="cohort period (start)"),
        y=alt.Y("rate:Q", title="rate", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["reoffended", "expected"],
                                                                  range=["#1d70b8", "#f47738"])),
        strokeDash=alt.StrokeDash("series:N", title=None, scale=alt.Scale(domain=["reoffended", "expected"],
                                                                            range=[[1, 0], [4, 3]])),
        tooltip=["label:N", "period:N", "series:N", alt.Tooltip("rate:Q", format=".1%")],
    ).properties(width=180, height=120)
    return base.facet(facet=alt.Facet("label:N", title=None), columns=columns).properties(
        title=alt.TitleParams("Reoffending rate against expected, mature cohorts", anchor="start")
    )


def measure_chart(results: pl.DataFrame, pooled: bool = False, model: str = "default") -> alt.VConcatChart:
    """The funnel plot above the time series: the page `--chart` writes."""
    return alt.vconcat(funnel_chart(results, pooled, model), rate_series_chart(results)).resolve_scale(
        color="independent", strokeDash="independent"
    )


def save_html(chart: alt.TopLevelMixin, path: str | Path) -> Path:
    """Write one self-contained HTML file: the Vega, Vega-Lite and Vega-Embed
    scripts are inlined (by vl-convert), so the page works offline."""
    path = Path(path)
    chart.save(str(path), format="html", inline=True)
    return path


__all__ = [
    "control_limits",
    "funnel_chart",
    "funnel_points",
    "measure_chart",
    "rate_series_chart",
    "save_html",
]
