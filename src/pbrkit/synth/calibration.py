"""Calibration targets of the synthetic population, and how close it comes.

Each target names its source in `shared/domain.md` (or the issue that set it).
Reoffending figures are computed with `pbrkit.measure`, the same code that
measures live data, so the synthetic data is calibrated to the published
definition and not to a private re-implementation of it.

`python -m pbrkit.synth.calibration docs/synthetic.md` regenerates the table in
that document from a fresh national dataset.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pbrkit.standard.schema import Dataset


@dataclass(frozen=True)
class Target:
    name: str
    source: str
    low: float
    high: float
    unit: str  # "count", "share" (shown as percent), "number"
    achieved: Callable[[Figures], float]

    def met(self, value: float) -> bool:
        return self.low <= value <= self.high

    def show(self, value: float) -> str:
        if self.unit == "share":
            return f"{100 * value:.1f}%"
        if self.unit == "count":
            return f"{value:,.0f}"
        return f"{value:.2f}"

    def band(self) -> str:
        return f"{self.show(self.low)} to {self.show(self.high)}"


class Figures:
    """The measured figures the targets read, computed once per dataset."""

    def __init__(self, data: Dataset):
        from pbrkit.measure import measure

        self.data = data
        episodes = data.episodes
        self.as_of = episodes.get_column("start_date").max()
        self.by_provider = measure(data, by="provider", period="year", as_of=self.as_of)
        self.by_sentence = measure(data, by="all", period="year", segment="sentence", as_of=self.as_of)
        self.by_prior = measure(data, by="all", period="year", segment="prior_band", as_of=self.as_of)
        self.yearly = episodes.group_by(year=pl.col("start_date").dt.year()).agg(
            episodes=pl.len(), short=(pl.col("sentence") == "custody_short").sum()
        )

    def pooled(self, year: int, crc: bool) -> tuple[float, float]:
        """Binary rate and frequency pooled over the CRCs (or the NPS) for an annual cohort."""
        rows = self.by_provider.filter(
            (pl.col("period") == str(year)) & (pl.col("group").str.starts_with("crc-") == crc)
        )
        offenders, reoffenders, reoffences = (rows.get_column(c).sum() for c in
                                              ("offenders", "reoffenders", "reoffences"))
        return reoffenders / offenders, reoffences / reoffenders

    def segment_rate(self, table: pl.DataFrame, year: int, segment: str) -> float:
        row = table.filter((pl.col("period") == str(year)) & (pl.col("segment") == segment))
        return row.get_column("binary_rate").item()

    def episodes_per_year(self, first: int, last: int) -> float:
        rows = self.yearly.filter(pl.col("year").is_between(first, last))
        return rows.get_column("episodes").mean()

    def short_custody_in(self, year: int) -> float:
        return self.yearly.filter(pl.col("year") == year).get_column("short").item()

    def low_medium_share(self) -> float:
        return (self.data.episodes.get_column("risk_tier") != "high").mean()

    def long_delay_share(self) -> float:
        o = self.data.offences
        return ((o.get_column("disposal_date") - o.get_column("offence_date")).dt.total_days() > 182).mean()

    def escalation_share(self) -> float:
        """Share of CRC episodes (those a full year before the end) escalated within a year."""
        e = self.data.episodes.filter(
            (pl.col("provider_id") != "nps") & (pl.col("start_date") <= self.as_of - dt.timedelta(days=366))
        )
        t = self.data.transfers if self.data.transfers is not None else pl.DataFrame(
            schema={"episode_id": pl.String, "transfer_date": pl.Date})
        j = e.join(t.select("episode_id", "transfer_date"), on="episode_id", how="left")
        within = (j.get_column("transfer_date") - j.get_column("start_date")).dt.total_days() <= 365
        return within.fill_null(False).mean()


TARGETS: tuple[Target, ...] = (
    Target("Episodes a year at scale 1, 2011-2014", "issue 2; domain.md s.2 (about 200,000 offenders)",
           200_000, 240_000, "count", lambda f: f.episodes_per_year(2011, 2014)),
    Target("Short-custody releases supervised in 2016 (ORA step)", "domain.md s.2 (40,000-50,000 a year)",
           40_000, 50_000, "count", lambda f: f.short_custody_in(2016)),
    Target("Episodes low or medium risk (CRC caseload)", "domain.md s.2 (CRCs about 70%)",
           0.65, 0.75, "share", lambda f: f.low_medium_share()),
    Target("2011 cohort, CRC: binary rate", "domain.md s.2 (2011 CRC baseline 47.5%)",
           0.45, 0.50, "share", lambda f: f.pooled(2011, True)[0]),
    Target("2011 cohort, CRC: reoffences per reoffender", "domain.md s.2 (2011 CRC baseline 4.2)",
           4.0, 4.5, "number", lambda f: f.pooled(2011, True)[1]),
    Target("2011 cohort, NPS: binary rate", "domain.md s.2 (NPS 34.1%, 2019/20)",
           0.32, 0.37, "share", lambda f: f.pooled(2011, False)[0]),
    Target("2011 cohort, NPS: reoffences per reoffender", "domain.md s.2 (NPS 3.93, 2019/20)",
           3.7, 4.2, "number", lambda f: f.pooled(2011, False)[1]),
    Target("2015 cohort, short custody: binary rate", "domain.md s.1 (custody under 12 months 60-64%)",
           0.55, 0.65, "share", lambda f: f.segment_rate(f.by_sentence, 2015, "custody_short")),
    Target("2011 cohort, no previous offence: binary rate", "domain.md s.1 (no previous offence about 10.5%)",
           0.10, 0.25, "share", lambda f: f.segment_rate(f.by_prior, 2011, "0")),
    Target("2011 cohort, 15-29 previous offences: binary rate", "domain.md s.1 (11+ previous about 47%)",
           0.55, 0.85, "share", lambda f: f.segment_rate(f.by_prior, 2011, "15-29")),
    Target("Proven offences disposed more than 6 months after the offence", "issue 2 (a real tail; [U])",
           0.10, 0.25, "share", lambda f: f.long_delay_share()),
    Target("CRC episodes escalated to the NPS within a year", "issue 2 (a stated yearly rate, 4%)",
           0.03, 0.05, "share", lambda f: f.escalation_share()),
)


def calibration_table(data: Dataset) -> pl.DataFrame:
    """Every target with its band, the achieved value and whether it is met."""
    figures = Figures(data)
    rows = []
    for t in TARGETS:
        value = float(t.achieved(figures))
        rows.append({"target": t.name, "band": t.band(), "achieved": t.show(value),
                     "met": t.met(value), "value": value, "source": t.source})
    return pl.DataFrame(rows)


def markdown(table: pl.DataFrame, command: str) -> str:
    lines = [f"<!-- calibration:begin (regenerate: {command}) -->",
             "| target | band | achieved | met | source |", "|---|---|---|---|---|"]
    for r in table.iter_rows(named=True):
        lines.append(f"| {r['target']} | {r['band']} | {r['achieved']} | {'yes' if r['met'] else 'NO'} "
                     f"| {r['source']} |")
    met = table.get_column("met").sum()
    lines.append("")
    lines.append(f"{met} of {table.height} targets met.")
    lines.append("<!-- calibration:end -->")
    return "\n".join(lines)


def update_document(path: Path, seed: int = 1, scale: float = 1.0) -> pl.DataFrame:
    """Regenerate the calibration table between the markers in a Markdown file."""
    from pbrkit.synth import generate

    data = generate(start="2011-01-01", years=7, scale=scale, seed=seed)
    table = calibration_table(data)
    command = f"python -m pbrkit.synth.calibration {path} --seed {seed} --scale {scale:g}"
    text = path.read_text()
    block = markdown(table, command)
    new, n = re.subn(r"<!-- calibration:begin.*?<!-- calibration:end -->", lambda _: block, text, flags=re.DOTALL)
    if n != 1:
        raise SystemExit(f"{path}: no calibration markers found")
    path.write_text(new)
    return table


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("document", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    result = update_document(args.document, args.seed, args.scale)
    print(markdown(result, "(printed)"))
    sys.exit(0 if result.get_column("met").all() else 1)
