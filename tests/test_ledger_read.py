"""The read side: net statement lines, entries, runs, contracts, a statement to render."""

from __future__ import annotations

import json

import polars as pl
import pytest
from ledger_builders import TERMS, market, outcome, standard_lines, statement

from pbrkit.pay.ledger import Ledger, LedgerError


@pytest.fixture
def ledger(ledger_url):
    with Ledger(ledger_url) as opened:
        yield opened


def test_net_lines_by_provider_and_by_contract(ledger):
    ledger.record_run(market(contracts=6, periods=("2015Q1", "2015Q2")))
    ledger.record_run(market(contracts=6, periods=("2015Q1",), reoffenders=12))

    by_provider = ledger.statement_lines(provider_id="provider1", period="2015Q1")
    assert by_provider["contract_id"].unique().sort().to_list() == ["C001", "C004"]
    expected = market(contracts=6, periods=("2015Q1",), reoffenders=12)
    c004 = next(s for s in expected if s.contract_id == "C004")
    one = ledger.statement_lines(contract_id="C004", period="2015Q1")
    assert one.drop("contract_id", "provider_id", "design", "period").equals(c004.frame())
    assert ledger.statement_lines(period="2015Q2").height == 6 * 3
    assert ledger.statement_lines(contract_id="nobody").height == 0


def test_entries_and_runs_filter(ledger):
    ledger.record_run(market(contracts=3, periods=("2015Q1", "2015Q2")))
    assert ledger.entries(contract_id="C002").height == 6
    assert ledger.entries(contract_id="C002", period="2015Q2").height == 3
    assert ledger.entries(provider_id="provider0")["contract_id"].unique().to_list() == ["C000"]
    runs = ledger.runs(period="2015Q2")
    assert runs["contract_id"].to_list() == ["C000", "C001", "C002"]
    assert runs["entry_count"].to_list() == [3, 3, 3]
    assert ledger.entries(run_id=runs["id"][0])["run_id"].unique().to_list() == [runs["id"][0]]
    assert runs.schema["id"] == pl.Int64 and ledger.entries().schema["amount_pence"] == pl.Int64


def test_contracts_carry_their_latest_terms(ledger):
    ledger.record_run([statement("C1"), statement("C2", provider_id="south")])
    new_terms = json.dumps({"design": "binary", "price_per_person_pence": 160000})
    ledger.record_run([statement("C1", period="2015Q2", terms=new_terms)])

    contracts = ledger.contracts()
    assert contracts["contract_id"].to_list() == ["C1", "C2"]
    assert contracts["contract_terms"].to_list() == [new_terms, TERMS]
    assert contracts["provider_id"].to_list() == ["north", "south"]
    assert contracts["periods"].to_list() == [2, 1] and contracts["runs"].to_list() == [2, 1]


def test_the_recorded_statement_is_the_statement_as_now_paid(ledger):
    first = statement(notes=("cohort under 30: small-numbers caution",))
    ledger.record_run([first])
    assert ledger.statement("C1", "2015Q1") == first

    corrected = statement(lines=standard_lines(reoffenders=14), notes=("late convictions received",))
    ledger.record_run([corrected])
    rebuilt = ledger.statement("C1", "2015Q1")
    assert rebuilt == corrected
    assert rebuilt.input_digest == corrected.input_digest and rebuilt.total == corrected.total
    assert rebuilt.lines[1] == outcome(reoffenders=14)


def test_an_unrecorded_statement_is_a_ledger_error(ledger):
    with pytest.raises(LedgerError, match="no statement is recorded for contract 'C1' in period '2015Q1'"):
        ledger.statement("C1", "2015Q1")


def test_empty_ledger_reads_are_empty_frames_with_their_columns(ledger):
    assert ledger.entries().height == 0 and "amount_pence" in ledger.entries().columns
    assert ledger.runs().height == 0 and ledger.contracts().height == 0
    assert ledger.statement_lines().columns[-2:] == ["amount_pence", "basis"]
    verification = ledger.verify()
    assert verification.ok and verification.entries_checked == 0
