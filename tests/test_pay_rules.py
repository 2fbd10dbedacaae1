"""Payment rules as worked examples: inputs, and the pence each rule must give.

Every expected figure is arithmetic written out in the test. Cohort 2015Q1
ends on 2015-03-31 and matures 547 days later, on 2016-09-29, so its result
is paid on the 2016Q3 statement.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pay_builders import AS_OF, amounts, contract, inputs, result

from pbrkit.contracts import design
from pbrkit.pay import statement
from pbrkit.pay.quarters import maturity_quarter, quarter_index, quarter_label
from pbrkit.pay.statement import pence


def pay(c, period, **kw):
    return statement(c, None, period, AS_OF, inputs=inputs(**kw))


def test_cohort_2015q1_is_paid_in_2016q3():
    assert quarter_label(maturity_quarter(quarter_index("2015Q1"))) == "2016Q3"
    assert quarter_label(maturity_quarter(quarter_index("2015Q2"))) == "2016Q4"


def test_fee_only_with_weights_fixed_fee_and_learning_curve():
    c = contract(fee={"per_episode": 2000, "sentence_weights": {"custody_short": 1.5},
                      "fixed_per_quarter": 5000, "learning_curve": 0.05})
    eps = {"community_order": 10, "custody_short": 4}
    # Year 1 (2015Q1): 10 x £2,000 + 4 x £3,000 + £5,000 = £37,000, no discount.
    s = pay(c, "2015Q1", episodes={"2015Q1": eps})
    assert amounts(s) == {"fee.episodes:community_order": 2_000_000, "fee.episodes:custody_short": 1_200_000,
                          "fee.fixed": 500_000}
    assert s.total == 3_700_000
    # Year 2 (2016Q1): the same fees less 5%: 3,700,000 x -0.05 = -185,000.
    s = pay(c, "2016Q1", episodes={"2016Q1": eps})
    assert amounts(s)["fee.learning_curve"] == -185_000
    assert s.total == 3_515_000
    # Year 3: (1 - 0.05)^2 = 0.9025 of list: discount 3,700,000 x -0.0975 = -360,750.
    assert pay(c, "2017Q1", episodes={"2017Q1": eps}).total == 3_700_000 - 360_750
    # Nothing is paid before the start or after the term.
    assert pay(c, "2014Q4", episodes={"2014Q4": eps}).lines == ()
    one_year = contract(years=1, fee={"per_episode": 2000})
    assert pay(one_year, "2016Q1", episodes={"2016Q1": eps}).lines == ()


def test_case_month_fee():
    c = contract(fee={"per_case_month": 45.50})
    # 1,234 case-months x £45.50 = £56,147.00
    assert pay(c, "2016Q2", case_months={"2016Q2": 1234}).total == 5_614_700


def test_forecast_fee_reconciled_outside_the_band_only():
    c = contract(fee={"forecast": {"episodes_per_year": 1000, "band": 0.1, "price_per_episode": 2000}})
    # Each quarter pays a quarter of the forecast: 250 x £2,000 = £500,000.
    year1 = {q: {"community_order": 200} for q in ("2015Q1", "2015Q2", "2015Q3", "2015Q4")}
    assert amounts(pay(c, "2015Q2", episodes=year1)) == {"fee.forecast": 50_000_000}
    # Year 1 saw 800 episodes, below the band's floor of 900: claw back 100 x £2,000.
    s = pay(c, "2015Q4", episodes=year1)
    assert amounts(s)["fee.volume_reconciliation:year1"] == -20_000_000
    # 950 is within the band (900 to 1,100): nothing to reconcile.
    within = {q: {"community_order": n} for q, n in zip(("2015Q1", "2015Q2", "2015Q3", "2015Q4"),
                                                        (250, 250, 250, 200), strict=True)}
    assert amounts(pay(c, "2015Q4", episodes=within))["fee.volume_reconciliation:year1"] == 0
    # 1,150 is above the ceiling of 1,100: a top-up of 50 x £2,000.
    above = {q: {"community_order": n} for q, n in zip(("2015Q1", "2015Q2", "2015Q3", "2015Q4"),
                                                       (300, 300, 300, 250), strict=True)}
    assert amounts(pay(c, "2015Q4", episodes=above))["fee.volume_reconciliation:year1"] == 10_000_000


def test_forecast_from_baseline_volume():
    c = contract(fee={"forecast": {"baseline_factor": 1.25, "price_per_episode": 1000}})
    # 2011 volume 800 x 1.25 = 1,000 a year; a quarter is 250 x £1,000.
    assert pay(c, "2015Q1", baseline_volumes={"2011": 800}).total == 25_000_000


BINARY = {"binary": {"price": 5000}}


def test_binary_outcome_without_significance_gate():
    c = contract(outcomes=BINARY)
    # 200 offenders expected to reoffend at 45%: 90 expected, 80 did: 10 avoided x £5,000.
    s = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45, significant=False, p_value=0.2)})
    assert amounts(s) == {"outcome.result:2015Q1": 0, "outcome.binary:2015Q1": 5_000_000}
    line = next(x for x in s.lines if x.kind == "outcome.binary")
    assert line.quantity == Decimal("10.0000") and line.basis["expected_reoffenders"] == Decimal("90.0000")


def test_binary_outcome_with_significance_gate():
    c = contract(outcomes={"binary": {"price": 5000, "significance_required": True}})
    gated = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45, significant=False, p_value=0.2)})
    assert amounts(gated)["outcome.binary:2015Q1"] == 0
    assert "not statistically significant" in next(x for x in gated.lines if x.kind == "outcome.binary").description
    passed = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45, significant=True)})
    assert amounts(passed)["outcome.binary:2015Q1"] == 5_000_000


def test_flat_zone():
    c = contract(outcomes={"binary": {"price": 5000, "flat_zone_pp": 6}})
    # 40% against 45% expected is a 5-point fall: inside a +/-6 point flat zone.
    assert pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45)}).total == 0
    c = contract(outcomes={"binary": {"price": 5000, "flat_zone_pp": 4}})
    assert pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45)}).total == 5_000_000


def test_accelerator_pays_more_for_harder_cases():
    c = contract(outcomes={"binary": {"price": 5000, "segment": "risk_tier",
                                      "weights": {"low": 1, "medium": 2, "high": 4}}})
    segments = {("risk_tier", "2015Q1"): [
        result(100, 26, 0.30, segment="low"),     # 30 expected, 26: 4 avoided x 1 x £5,000 = £20,000
        result(80, 37, 0.50, segment="medium"),   # 40 expected, 37: 3 avoided x 2 x £5,000 = £30,000
        result(20, 12, 0.70, segment="high"),     # 14 expected, 12: 2 avoided x 4 x £5,000 = £40,000
    ]}
    s = pay(c, "2016Q3", results={"2015Q1": result(200, 75, 0.42)}, segments=segments)
    assert amounts(s) == {
        "outcome.result:2015Q1": 0,
        "outcome.binary:2015Q1:high": 4_000_000,
        "outcome.binary:2015Q1:low": 2_000_000,
        "outcome.binary:2015Q1:medium": 3_000_000,
    }
    assert s.total == 9_000_000


def test_cap_binds():
    c = contract(outcomes={"binary": {"price": 5000}, "cap": 30000})
    s = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45)})
    # 10 avoided x £5,000 = £50,000, capped at £30,000: a -£20,000 cap line.
    assert amounts(s)["outcome.cap:2015Q1"] == -2_000_000
    assert s.total == 3_000_000


def test_cap_as_share_of_the_cohort_quarters_fees():
    c = contract(fee={"fixed_per_quarter": 100000}, outcomes={"binary": {"price": 5000}, "cap_share_of_fees": 0.2})
    # Cohort 2015Q1's fees were £100,000; 20% is £20,000. The 2016Q3 statement
    # also carries that quarter's own £100,000 fee.
    s = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45)})
    assert amounts(s)["outcome.cap:2015Q1"] == 2_000_000 - 5_000_000
    assert s.total == 10_000_000 + 2_000_000


def test_clawback_and_collar():
    worse = {"2015Q1": result(200, 100, 0.45)}  # 90 expected, 100 did: -10 avoided
    assert pay(contract(outcomes=BINARY), "2016Q3", results=worse).total == 0
    s = pay(contract(outcomes={**BINARY, "clawback": True}), "2016Q3", results=worse)
    assert amounts(s)["outcome.binary:2015Q1"] == -5_000_000
    s = pay(contract(outcomes={**BINARY, "clawback": True, "collar": 30000}), "2016Q3", results=worse)
    # -£50,000 limited to -£30,000 by the collar: a +£20,000 collar line.
    assert amounts(s)["outcome.collar:2015Q1"] == 2_000_000
    assert s.total == -3_000_000


def test_frequency_with_hurdle():
    c = contract(outcomes={"binary": {"price": 5000, "significance_required": True},
                           "frequency": {"price": 1000, "hurdle": True}})
    # 400 expected reoffences, 350 happened: 50 avoided x £1,000 = £50,000 ...
    cleared = result(200, 80, 0.45, reoffences=350, expected_reoffences=400.0)
    s = pay(c, "2016Q3", results={"2015Q1": cleared})
    assert amounts(s)["outcome.frequency:2015Q1"] == 5_000_000
    # ... but only when the binary result clears its bar.
    blocked = result(200, 80, 0.45, significant=False, p_value=0.3, reoffences=350, expected_reoffences=400.0)
    s = pay(c, "2016Q3", results={"2015Q1": blocked})
    assert amounts(s)["outcome.frequency:2015Q1"] == 0
    assert "hurdle" in next(x for x in s.lines if x.kind == "outcome.frequency").description


def test_foundation_advance_and_recovery():
    c = contract(outcomes={**BINARY, "foundation": {"expected_per_quarter": 40000, "share": 0.25}})
    # £10,000 advanced in each quarter of the term...
    assert amounts(pay(c, "2015Q1")) == {"outcome.foundation_advance:2015Q1": 1_000_000}
    # ... and recovered when the cohort's result is paid: 2016Q3 has its own
    # advance, cohort 2015Q1's recovery and its £50,000 result.
    s = pay(c, "2016Q3", results={"2015Q1": result(200, 80, 0.45)})
    assert amounts(s)["outcome.foundation_recovery:2015Q1"] == -1_000_000
    assert s.total == 1_000_000 - 1_000_000 + 5_000_000


AT_RISK_FEE = {"fixed_per_quarter": 100000}


@pytest.mark.parametrize(("graduated", "reached_pp", "earned"), [
    (True, 5.0, 400_000),    # 5 of a 5-point target: all £4,000 back
    (True, 4.0, 320_000),    # 80% of target earns 80%
    (False, 4.0, 0),         # a cliff edge: 4 of 5 points earns nothing
    (True, -1.0, 0),         # a rise earns nothing
])
def test_at_risk_earned_back_graduated_or_cliff(graduated, reached_pp, earned):
    c = contract(fee=AT_RISK_FEE, at_risk={"by_year": [0.04, 0.08], "target_pp": 5, "graduated": graduated})
    # Year 1 withholds 4% of £100,000 = £4,000 from every quarter.
    assert amounts(pay(c, "2015Q1"))["at_risk.withheld:2015Q1"] == -400_000
    rate = 0.45 - reached_pp / 100
    s = pay(c, "2016Q3", results={"2015Q1": result(1000, round(1000 * rate), 0.45)})
    assert amounts(s)["at_risk.earned_back:2015Q1"] == earned
    # 2016Q3 is year 2, so that quarter's own withholding is 8%.
    assert amounts(s)["at_risk.withheld:2016Q3"] == -800_000


def test_staged_design_shares():
    staged = design("staged")
    assert staged.at_risk is not None
    # The staged plan pays all up front for four years, then a results share
    # rising from 4% to 20%: year 3 of the results phase (contract year 7) is 12%.
    assert [staged.at_risk.share(y) for y in (1, 2, 3, 4)] == [0, 0, 0, 0]
    assert [staged.at_risk.share(y) for y in (5, 6, 7, 8, 9)] == [Decimal(x) for x in
                                                                  ("0.04", "0.08", "0.12", "0.16", "0.20")]
    c = staged.for_provider("crc-north")
    start = quarter_index(c.start)
    year3 = quarter_label(start + 8)
    year7 = quarter_label(start + 24)
    episodes = {q: {"community_order": 100} for q in (year3, year7)}
    later = dt.date(2030, 12, 31)
    early = statement(c, None, year3, later, inputs=inputs(episodes=episodes, as_of=later))
    assert not [x for x in early.lines if x.kind == "at_risk.withheld"]
    late = statement(c, None, year7, later, inputs=inputs(episodes=episodes, as_of=later))
    fees = sum(x.amount for x in late.lines if x.kind.startswith("fee."))
    withheld = next(x for x in late.lines if x.kind == "at_risk.withheld")
    assert withheld.rate == Decimal("-0.12")
    assert withheld.amount == pence(Decimal(fees) * Decimal("-0.12"))


def test_service_level_deductions_with_cap():
    c = contract(
        fee={"fixed_per_quarter": 37000},
        service_levels=[{"kind": "resettlement_plan", "deduction_per_failure": 500, "cap_share_of_fees": 0.01}],
    )
    counts = {"due": 40, "pending": 0, "met": 30, "late": 5, "missing": 3, "incomplete": 2}
    s = pay(c, "2016Q1", service={("resettlement_plan", 0, True): {"2016Q1": counts}})
    # 5 late + 3 missing + 2 empty = 10 failures x £500 = £5,000, capped at
    # 1% of £37,000 = £370: a +£4,630 cap line.
    assert amounts(s)["service_level:0:resettlement_plan"] == -500_000
    assert amounts(s)["service_level.cap:0:resettlement_plan"] == 463_000
    assert s.subtotal("service_level") == -37_000


def test_service_level_target_and_lump_deduction():
    c = contract(service_levels=[{"kind": "induction", "days_allowed": 5, "target_share": 0.9,
                                  "deduction_per_failure": 100, "deduction_below_target": 2000}])
    rule = ("induction", 5, True)
    good = {"due": 100, "pending": 0, "met": 92, "late": 8, "missing": 0, "incomplete": 0}
    assert pay(c, "2016Q1", service={rule: {"2016Q1": good}}).total == 0
    # 88 of 100 met, below 90%: 12 x £100 plus £2,000.
    bad = {"due": 100, "pending": 0, "met": 88, "late": 8, "missing": 4, "incomplete": 0}
    assert pay(c, "2016Q1", service={rule: {"2016Q1": bad}}).total == -320_000
    # Pending events (deadline after the as-of date) are not judged yet: 88 of 95 met is 92.6%.
    pending = {"due": 100, "pending": 5, "met": 88, "late": 7, "missing": 0, "incomplete": 0}
    assert pay(c, "2016Q1", service={rule: {"2016Q1": pending}}).total == 0


def test_termination_compensation():
    c = contract(fee={"fixed_per_quarter": 100000}, termination={"compensation_quarters": 2}, terminated="2017Q2")
    assert amounts(pay(c, "2017Q2"))["termination.compensation"] == 20_000_000
    assert pay(c, "2017Q3").lines == ()


def test_statement_refuses_a_quarter_not_over():
    c = contract(fee={"fixed_per_quarter": 1000})
    with pytest.raises(ValueError, match="not over"):
        statement(c, None, "2021Q1", AS_OF, inputs=inputs())


money = st.decimals(min_value=0, max_value=100000, places=2)


@settings(max_examples=60, deadline=None)
@given(
    per_episode=money, fixed=money, lc=st.decimals(min_value=0, max_value=Decimal("0.2"), places=3),
    share=st.decimals(min_value=0, max_value=1, places=2), price=money,
    offenders=st.integers(1, 5000), frac=st.floats(0, 1), expected=st.floats(0.01, 0.99),
    clawback=st.booleans(), n_eps=st.integers(0, 10000),
)
def test_every_line_is_quantity_times_rate_and_totals_add_up(
    per_episode, fixed, lc, share, price, offenders, frac, expected, clawback, n_eps
):
    c = contract(
        fee={"per_episode": per_episode, "fixed_per_quarter": fixed, "learning_curve": lc},
        at_risk={"by_year": [share], "target_pp": 3},
        outcomes={"binary": {"price": price}, "clawback": clawback},
    )
    reoffenders = round(offenders * frac)
    s = pay(c, "2016Q3", episodes={"2015Q1": {"community_order": n_eps}, "2016Q3": {"custody_short": n_eps}},
            results={"2015Q1": result(offenders, reoffenders, expected)})
    for line in s.lines:
        assert isinstance(line.amount, int)
        assert line.amount == pence(line.quantity * line.rate)
    assert s.total == sum(line.amount for line in s.lines)
    assert s.frame()["amount_pence"].sum() == s.total
    withheld_2015q1 = pay(c, "2015Q1", episodes={"2015Q1": {"community_order": n_eps}}).subtotal("at_risk")
    earned = s.subtotal("at_risk.earned_back")
    # Never more earned back than was withheld from the cohort's quarter.
    assert 0 <= earned <= -withheld_2015q1
