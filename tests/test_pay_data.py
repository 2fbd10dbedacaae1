"""The payment engine on real data-standard tables: the facts it reads from
them (case-months, service events, cohort results) worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from measure_builders import dataset, episode, offence

from pbrkit.contracts.schema import Contract
from pbrkit.pay import prepare, statement, statements
from pbrkit.pay.inputs import _case_months, _service_counts, responsible_events
from pbrkit.pay.quarters import quarter_index
from pbrkit.standard.schema import conform

D = dt.date.fromisoformat
pytestmark = pytest.mark.filterwarnings("ignore::pbrkit.measure.BaselineModelWarning")


def _contract(**terms) -> Contract:
    return Contract.model_validate({"name": "t", "id": "t-north", "provider_id": "north", "start": "2015Q1",
                                    "years": 2, **terms})


def test_case_months_counted_on_the_first_of_each_month():
    episodes = conform("episodes", pl.DataFrame([
        # 15 Jan + 3 months: open on 1 Feb, 1 Mar, 1 Apr -> Q1 2, Q2 1.
        episode("e1", "P1", "2016-01-15"),
        # 1 Feb, 12 months, but transferred on 10 Mar: open on 1 Feb and 1 Mar -> Q1 2.
        episode("e2", "P2", "2016-02-01"),
        # Another provider's case never counts for north.
        episode("e3", "P3", "2016-01-01", provider="south"),
    ]))
    transfers = conform("transfers", pl.DataFrame([
        {"episode_id": "e2", "transfer_date": D("2016-03-10"), "to_provider_id": "nps", "reason": "risk_escalation"},
    ]))
    months3 = _case_months(episodes.filter(pl.col("episode_id") != "e2"), transfers, 3)
    assert months3[("north", quarter_index("2016Q1"))] == 2
    assert months3[("north", quarter_index("2016Q2"))] == 1
    # south: 1 Jan, 1 Feb, 1 Mar.
    assert months3[("south", quarter_index("2016Q1"))] == 3
    months12 = _case_months(episodes, transfers, 12)
    # e1 runs to 15 Jan 2017: open on each first from 1 Feb 2016 to 1 Jan 2017
    # (12); e2 on 1 Feb and 1 Mar.
    assert months12[("north", quarter_index("2016Q1"))] == 2 + 2
    assert months12[("north", quarter_index("2016Q4"))] == 3
    assert months12[("north", quarter_index("2017Q1"))] == 1
    assert sum(v for (p, _), v in months12.items() if p == "north") == 12 + 2


def test_service_events_by_the_provider_responsible_on_the_due_date():
    episodes = conform("episodes", pl.DataFrame([episode(f"e{i}", f"P{i}", "2016-01-01") for i in range(1, 7)]))
    ev = lambda e, due, done=None, complete=None: {
        "episode_id": e, "kind": "resettlement_plan", "due_date": D(due),
        "done_date": D(done) if done else None, "complete": complete,
    }
    events = conform("service_events", pl.DataFrame([
        ev("e1", "2016-01-10", "2016-01-10"),                 # met
        ev("e2", "2016-01-20", "2016-01-25"),                 # late with 0 days allowed; met with 5
        ev("e3", "2016-02-01"),                               # missing
        ev("e4", "2016-03-01", "2016-03-01", False),          # found empty by an audit
        ev("e5", "2016-03-30", "2016-03-30"),                 # due after a transfer to nps
        ev("e6", "2016-12-30"),                               # deadline after the as-of date: pending
    ], schema_overrides={"complete": pl.Boolean}))
    transfers = conform("transfers", pl.DataFrame([
        {"episode_id": "e5", "transfer_date": D("2016-03-15"), "to_provider_id": "nps", "reason": "risk_escalation"},
    ]))
    as_of = D("2016-12-31")
    due = responsible_events(episodes, events, transfers, ["resettlement_plan"])
    strict = _service_counts(due, ("resettlement_plan", 0, True), as_of)
    assert strict[("north", quarter_index("2016Q1"))] == {
        "due": 4, "pending": 0, "missing": 1, "late": 1, "incomplete": 1, "met": 1}
    assert strict[("nps", quarter_index("2016Q1"))]["met"] == 1
    # Within 5 days the pending event is still pending on 31 December.
    lenient = _service_counts(due, ("resettlement_plan", 5, False), as_of)
    assert lenient[("north", quarter_index("2016Q1"))] == {
        "due": 4, "pending": 0, "missing": 1, "late": 0, "incomplete": 0, "met": 3}
    assert lenient[("north", quarter_index("2016Q4"))] == {
        "due": 1, "pending": 1, "missing": 0, "late": 0, "incomplete": 0, "met": 0}


def _cohort(reoffending: list[str], n: int = 10) -> tuple[list[dict], list[dict]]:
    """n people with the baseline's case mix starting in north on 1 Feb 2015;
    those named reoffend once, a month later."""
    eps = [episode(f"n{i}", f"N{i}", "2015-02-01") for i in range(n)]
    offs = [offence(p, "2015-03-01", "2015-04-01") for p in reoffending]
    return eps, offs


def test_binary_outcome_from_the_measure():
    # The builders' baseline gives p = 0.5 for everyone: 10 people, 5 expected.
    # 3 reoffend, so 2 are avoided; at £1,000 each that is £2,000.
    eps, offs = _cohort(["N0", "N1", "N2"])
    data = dataset(eps, offs)
    c = _contract(outcomes={"binary": {"price": 1000}})
    s = statement(c, data, "2016Q3", "2016-12-31")
    line = next(x for x in s.lines if x.kind == "outcome.binary")
    assert line.basis["expected_reoffenders"] == 5 and line.basis["reoffenders"] == 3
    assert line.amount == 200_000
    result = next(x for x in s.lines if x.kind == "outcome.result")
    assert result.basis["measure"]["offenders"] == 10


def test_late_conviction_changes_the_statement_and_its_digest():
    eps, offs = _cohort(["N0", "N1", "N2"])
    c = _contract(outcomes={"binary": {"price": 1000}})
    before = statement(c, dataset(eps, offs), "2016Q3", "2016-12-31")
    again = statement(c, dataset(eps, offs), "2016Q3", "2016-12-31")
    assert again.input_digest == before.input_digest
    # A conviction recorded late (disposed within the 6-month wait) for N3.
    after = statement(c, dataset(eps, offs + [offence("N3", "2015-12-01", "2016-07-01")]), "2016Q3", "2016-12-31")
    assert after.input_digest != before.input_digest
    assert after.total == before.total - 100_000


def test_statements_cover_the_term_and_the_run_off():
    eps, offs = _cohort(["N0"])
    data = dataset(eps, offs)
    c = _contract(fee={"per_episode": 100}, outcomes={"binary": {"price": 1000}})
    inputs = prepare(data, D("2018-12-31"), [c])
    out = list(statements([c], data, "2018Q4", "2018-12-31", inputs=inputs))
    periods = [s.period for s in out]
    # Two years of term (2015Q1-2016Q4), then the quarters in which its last
    # cohorts mature (2016Q4's cohort ends on 31 December 2016 and matures 547
    # days later, on 1 July 2018).
    assert periods[0] == "2015Q1" and periods[-1] == "2018Q3"
    assert len(periods) == 8 + 7
    assert out[0].total == 10 * 10_000
