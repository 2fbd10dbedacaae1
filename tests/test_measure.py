"""Hand-computed cohorts at every boundary of the data standard's "Measures".

Expected values are worked out in the comments from the definitions, never
copied from the code's output. The reference cohort (see measure_builders)
gives p = 0.5, mu = 1 and phi = 2 for every offender.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from measure_builders import (
    AS_OF,
    BASELINE,
    MU_BASE,
    P_BASE,
    PHI_BASE,
    after,
    dataset,
    episode,
    offence,
    row,
)

from pbrkit.measure import OUTPUT_COLUMNS, measure

# The shared reference cohort has one case mix, so most levels are absent from
# it: the model warns about that every time. Those warnings are tested in
# test_measure_model.py.
pytestmark = pytest.mark.filterwarnings("ignore::pbrkit.measure.BaselineModelWarning")

START = "2013-04-10"  # in 2013Q2


def single(d_off: int, d_disp: int) -> dict:
    """The north 2013Q2 row for one offender with one offence at these day offsets."""
    data = dataset([episode("e1", "P1", START)], [offence("P1", after(START, d_off), after(START, d_disp))])
    return row(measure(data, baseline=BASELINE, as_of=AS_OF), "north", "2013Q2")


@pytest.mark.parametrize(
    ("d_off", "d_disp", "counts"),
    [
        (0, 10, True),      # committed on the start day: 0 <= d_off
        (364, 400, True),   # the last day of the 12-month follow-up
        (365, 400, False),  # one day after it
        (100, 547, True),   # disposed of on the last day of the 6-month wait
        (100, 548, False),  # one day too late for the court
        (-1, 30, False),    # committed the day before the start
        (-200, 100, False), # committed long before, disposed of during the follow-up
    ],
)
def test_follow_up_and_waiting_period_boundaries(d_off, d_disp, counts):
    r = single(d_off, d_disp)
    assert r["mature"] is True
    assert r["offenders"] == 1
    assert r["reoffenders"] == (1 if counts else 0)
    assert r["reoffences"] == (1 if counts else 0)
    assert r["binary_rate"] == (1.0 if counts else 0.0)
    # frequency is 0, not missing, when nobody reoffended
    assert r["frequency"] == (1.0 if counts else 0.0)


def test_a_group_with_a_single_offender_is_measured_and_tested():
    # One offender, reoffended once. p = 0.5, mu = 1, phi = 2.
    r = single(0, 10)
    assert r["expected_rate"] == pytest.approx(P_BASE, abs=1e-9)
    assert r["rate_diff_pp"] == pytest.approx(100 * (1 - 0.5), abs=1e-7)
    # z = (1 - 0.5) / sqrt(0.5 * 0.5) = 1; two-sided p = erfc(1 / sqrt 2)
    assert r["z"] == pytest.approx(1.0, abs=1e-8)
    assert r["p_value"] == pytest.approx(math.erfc(1 / math.sqrt(2)), abs=1e-8)
    assert r["significant"] is False
    assert r["expected_reoffences"] == pytest.approx(MU_BASE, abs=1e-9)
    assert r["expected_frequency"] == pytest.approx(MU_BASE / P_BASE, abs=1e-8)
    # z_frequency = (1 - 1) / sqrt(2 * 1) = 0
    assert r["z_frequency"] == pytest.approx(0.0, abs=1e-8)


def test_a_cohort_counts_offenders_reoffenders_and_reoffences():
    people = {  # person: offences as (d_off, d_disp) from the start
        "A": [(0, 10)],                         # 1
        "B": [(364, 400)],                      # 1
        "C": [(365, 400)],                      # 0
        "D": [(100, 547)],                      # 1
        "E": [(100, 548)],                      # 0
        "F": [(-1, 30)],                        # 0
        "G": [(5, 40), (50, 90), (400, 420)],   # 2
        "H": [],                                # 0
    }
    eps = [episode(f"e{p}", p, START) for p in people]
    offs = [offence(p, after(START, a), after(START, b)) for p, os in people.items() for a, b in os]
    r = row(measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF), "north", "2013Q2")
    assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (8, 4, 5)
    assert r["binary_rate"] == 4 / 8
    assert r["frequency"] == 5 / 4
    assert r["reoffences_per_offender"] == 5 / 8
    # Sum p = 4, sum p(1-p) = 2: z = (4 - 4) / sqrt 2 = 0, p-value 1.
    assert r["z"] == pytest.approx(0.0, abs=1e-8)
    assert r["p_value"] == pytest.approx(1.0, abs=1e-8)
    # Sum mu = 8: expected frequency 8 / 4 = 2; z_freq = (5 - 8) / sqrt(2 * 8) = -0.75
    assert r["expected_reoffences"] == pytest.approx(8.0, abs=1e-8)
    assert r["expected_frequency"] == pytest.approx(2.0, abs=1e-8)
    assert r["z_frequency"] == pytest.approx(-0.75, abs=1e-8)


def test_z_and_p_value_by_hand_significant_case():
    # Four offenders in north 2013Q3, all reoffend, 6 reoffences in all.
    # Sum p = 2, sum p(1-p) = 1: z = (4 - 2) / 1 = 2, p = erfc(2 / sqrt 2) = 0.0455 < 0.05.
    # Sum mu = 4: z_freq = (6 - 4) / sqrt(2 * 4).
    start = "2013-08-01"
    eps = [episode(f"e{i}", f"Q{i}", start) for i in range(4)]
    offs = [offence(f"Q{i}", "2013-09-01", "2013-10-01") for i in range(4)]
    offs += [offence("Q0", "2013-11-01", "2013-12-01"), offence("Q1", "2014-01-01", "2014-02-01")]
    r = row(measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF), "north", "2013Q3")
    assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (4, 4, 6)
    assert r["expected_rate"] == pytest.approx(0.5, abs=1e-9)
    assert r["rate_diff_pp"] == pytest.approx(50.0, abs=1e-7)
    assert r["z"] == pytest.approx(2.0, abs=1e-8)
    assert r["p_value"] == pytest.approx(math.erfc(2 / math.sqrt(2)), abs=1e-8)
    assert r["significant"] is True
    assert r["z_frequency"] == pytest.approx(2 / math.sqrt(PHI_BASE * 4), abs=1e-8)


def test_two_episodes_in_one_quarter_count_once_at_the_earliest():
    # P's episodes start 2013-04-15 (e2) and 2013-05-01 (e1, listed first).
    # The offence of 2013-04-20 is 5 days after the earliest start (counts) but
    # before the later one; the offence of 2014-04-20 is 370 days after the
    # earliest (too late) but 354 after the later one. Counted at the earliest:
    # one offender, one reoffence.
    eps = [episode("e1", "P", "2013-05-01"), episode("e2", "P", "2013-04-15")]
    offs = [offence("P", "2013-04-20", "2013-06-01"), offence("P", "2014-04-20", "2014-05-01")]
    r = row(measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF), "north", "2013Q2")
    assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (1, 1, 1)


def test_tie_on_start_date_goes_to_the_smallest_episode_id_as_text():
    # Two episodes of P on the same day: "e10" < "e9" as text (not as numbers),
    # so P is counted at e10, whose risk tier is high.
    eps = [episode("e9", "P", START, risk_tier="low"), episode("e10", "P", START, risk_tier="high")]
    out = measure(dataset(eps, []), baseline=BASELINE, as_of=AS_OF, segment="risk_tier")
    north = out.filter(pl.col("group") == "north")
    assert north.select("period", "segment", "offenders").rows() == [("2013Q2", "high", 1)]
    assert row(measure(dataset(eps, []), baseline=BASELINE, as_of=AS_OF), "north", "2013Q2")["offenders"] == 1


def test_episodes_in_two_quarters_are_counted_in_both():
    # R starts 2013-06-20 (Q2) and 2013-07-05 (Q3); the offence of 2013-07-10 is
    # 20 and 5 days after the starts, a reoffence of both.
    eps = [episode("e1", "R", "2013-06-20"), episode("e2", "R", "2013-07-05")]
    offs = [offence("R", "2013-07-10", "2013-08-01")]
    out = measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF)
    for period in ("2013Q2", "2013Q3"):
        r = row(out, "north", period)
        assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (1, 1, 1)


def test_same_person_with_two_providers_in_one_quarter_is_counted_by_each():
    eps = [episode("e1", "R", "2013-04-20", provider="north"), episode("e2", "R", "2013-05-20", provider="south")]
    out = measure(dataset(eps, []), baseline=BASELINE, as_of=AS_OF)
    assert row(out, "north", "2013Q2")["offenders"] == 1
    assert row(out, "south", "2013Q2")["offenders"] == 1
    # ...but once in the cohort of everyone, at the earliest episode.
    everyone = measure(dataset(eps, []), by="all", baseline=BASELINE, as_of=AS_OF)
    assert row(everyone, "all", "2013Q2")["offenders"] == 1


def test_a_cohort_with_no_reoffenders_has_frequency_zero():
    eps = [episode("e1", "P1", START), episode("e2", "P2", START)]
    offs = [offence("P1", after(START, -30), after(START, 10))]  # before the start
    r = row(measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF), "north", "2013Q2")
    assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (2, 0, 0)
    assert r["binary_rate"] == 0.0
    assert r["frequency"] == 0.0
    assert r["reoffences_per_offender"] == 0.0
    # z = (0 - 1) / sqrt(0.5) ; z_freq = (0 - 2) / sqrt(2 * 2) = -1
    assert r["z"] == pytest.approx(-1 / math.sqrt(0.5), abs=1e-8)
    assert r["z_frequency"] == pytest.approx(-1.0, abs=1e-8)


def test_maturity_exactly_at_the_as_of_date_and_one_day_short():
    # 2013Q2 ends 2013-06-30; + 547 days = 2014-12-29 (2014 is not a leap year:
    # 2013-06-30 + 365 = 2014-06-30, + 182 = 2014-12-29).
    data = dataset([episode("e1", "P1", START)], [offence("P1", START, after(START, 10))])
    on_the_day = row(measure(data, baseline=BASELINE, as_of="2014-12-29"), "north", "2013Q2")
    assert on_the_day["mature"] is True
    assert on_the_day["reoffenders"] == 1
    short = row(measure(data, baseline=BASELINE, as_of="2014-12-28"), "north", "2013Q2")
    assert short["mature"] is False
    assert short["offenders"] == 1
    assert all(short[c] is None for c in OUTPUT_COLUMNS[4:]), short


def test_yearly_periods_and_their_maturity():
    # 2013 ends 2013-12-31; + 547 = 2015-07-01 (2014 and 2015 not leap years).
    data = dataset([episode("e1", "P1", START), episode("e2", "P2", "2013-11-30")], [])
    assert row(measure(data, period="year", baseline=BASELINE, as_of="2015-07-01"), "north", "2013")["mature"]
    r = row(measure(data, period="year", baseline=BASELINE, as_of="2015-06-30"), "north", "2013")
    assert (r["mature"], r["offenders"]) == (False, 2)


def test_transfers_never_move_a_counted_episode():
    eps = [episode("e1", "P1", START, provider="north")]
    transfers = [{"episode_id": "e1", "transfer_date": after(START, 20), "to_provider_id": "south",
                  "reason": "risk_escalation"}]
    out = measure(dataset(eps, [], transfers=transfers), baseline=BASELINE, as_of=AS_OF)
    assert row(out, "north", "2013Q2")["offenders"] == 1
    assert out.filter(pl.col("group") == "south").height == 0


def test_output_columns_order_and_sorting():
    eps = [episode("e1", "P1", "2014-02-01", provider="south"), episode("e2", "P2", START, provider="north"),
           episode("e3", "P3", "2012-12-01", provider="north")]
    out = measure(dataset(eps, []), baseline=BASELINE, as_of=AS_OF)
    assert out.columns == list(OUTPUT_COLUMNS)
    assert out.select("group", "period").rows() == [
        ("base", "2011Q1"), ("north", "2012Q4"), ("north", "2013Q2"), ("south", "2014Q1"),
    ]
    dtypes = dict(zip(out.columns, out.dtypes, strict=True))
    assert dtypes["mature"] == pl.Boolean and dtypes["significant"] == pl.Boolean
    assert dtypes["offenders"].is_integer() and dtypes["binary_rate"] == pl.Float64


def test_by_area_and_all():
    eps = [episode("e1", "P1", START, provider="north", area="a1"),
           episode("e2", "P2", START, provider="south", area="a1"),
           episode("e3", "P3", START, provider="south", area="a2")]
    by_area = measure(dataset(eps, []), by="area", baseline=BASELINE, as_of=AS_OF)
    assert row(by_area, "a1", "2013Q2")["offenders"] == 2
    assert row(by_area, "a2", "2013Q2")["offenders"] == 1
    everyone = measure(dataset(eps, []), by="all", baseline=BASELINE, as_of=AS_OF)
    assert set(everyone["group"]) == {"all"}
    # the baseline people (4, in 2011Q1) are everyone too
    assert row(everyone, "all", "2011Q1")["offenders"] == 4
    assert row(everyone, "all", "2013Q2")["offenders"] == 3


def test_reference_cohort_outcomes_are_the_baseline_rate():
    # Measuring the baseline period itself with the model fitted on it gives
    # observed = expected for everyone: 2 of 4 reoffended against p = 0.5 each.
    out = measure(dataset([], []), by="all", baseline=BASELINE, as_of=AS_OF)
    r = row(out, "all", "2011Q1")
    assert (r["offenders"], r["reoffenders"], r["reoffences"]) == (4, 2, 4)
    assert r["expected_rate"] == pytest.approx(0.5, abs=1e-9)
    assert r["expected_reoffences"] == pytest.approx(4.0, abs=1e-8)


def test_a_baseline_not_yet_mature_is_refused():
    # 2011-12-31 + 547 days = 2013-06-30 (2012 is a leap year).
    data = dataset([episode("e1", "P1", START)], [])
    measure(data, baseline=BASELINE, as_of="2013-06-30")  # just mature: fine
    with pytest.raises(ValueError, match="not mature"):
        measure(data, baseline=BASELINE, as_of="2013-06-29")


def test_baseline_spellings_agree():
    data = dataset([episode("e1", "P1", START)], [])
    a = measure(data, baseline=BASELINE, as_of=AS_OF)
    assert a.equals(measure(data, baseline="2011", as_of=AS_OF))
    assert a.equals(measure(data, baseline="2011-01-01:2011-12-31", as_of=AS_OF))


def test_as_of_defaults_to_the_latest_date_in_the_data():
    # Latest date: the disposal of 2014-12-29, which makes 2013Q2 just mature.
    data = dataset([episode("e1", "P1", START)], [offence("P1", "2014-12-01", "2014-12-29")])
    assert row(measure(data, baseline=BASELINE), "north", "2013Q2")["mature"] is True
    data = dataset([episode("e1", "P1", START)], [offence("P1", "2014-12-01", "2014-12-28")])
    assert row(measure(data, baseline=BASELINE), "north", "2013Q2")["mature"] is False


def test_segments_partition_each_cohort():
    eps = [episode("e1", "P1", START, sentence="custody_short"),
           episode("e2", "P2", START, sentence="community_order"),
           episode("e3", "P3", START, sentence="community_order", prior_offences=40)]
    offs = [offence("P2", START, after(START, 5))]
    out = measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF, segment="sentence")
    assert out.columns[:3] == ["group", "period", "segment"]
    north = out.filter(pl.col("group") == "north")
    # sorted in the standard's level order: custody_short before community_order
    assert north.select("segment", "offenders", "reoffenders").rows() == [
        ("custody_short", 1, 0), ("community_order", 2, 1),
    ]
    prior = measure(dataset(eps, offs), baseline=BASELINE, as_of=AS_OF, segment="prior_band")
    assert prior.filter(pl.col("group") == "north").select("segment", "offenders").rows() == [("0", 2), ("30+", 1)]


def test_bad_options_are_clear_errors():
    data = dataset([episode("e1", "P1", START)], [])
    with pytest.raises(ValueError, match="by must be"):
        measure(data, by="region", baseline=BASELINE, as_of=AS_OF)
    with pytest.raises(ValueError, match="period must be"):
        measure(data, period="month", baseline=BASELINE, as_of=AS_OF)
    with pytest.raises(ValueError, match="segment must be"):
        measure(data, segment="age", baseline=BASELINE, as_of=AS_OF)
    with pytest.raises(ValueError, match="model must be"):
        measure(data, model="fancy", baseline=BASELINE, as_of=AS_OF)
    with pytest.raises(ValueError, match="baseline"):
        measure(data, baseline="last year", as_of=AS_OF)
    with pytest.raises(ValueError, match="no episodes start in the baseline"):
        measure(data, baseline="2010", as_of=AS_OF)
