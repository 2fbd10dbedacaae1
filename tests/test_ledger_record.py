"""Recording payment runs: originals, idempotency, adjustments, one transaction."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from ledger_builders import (
    PRICE,
    TERMS,
    line,
    market,
    outcome,
    standard_lines,
    statement,
)

from pbrkit.pay.ledger import GENESIS, REMOVED, Ledger
from pbrkit.pay.statement import canonical_json

OUTCOME_KEY = "outcome.binary:2015Q1"


@pytest.fixture
def ledger(ledger_url):
    with Ledger(ledger_url) as opened:
        yield opened


def counts(ledger: Ledger) -> tuple[int, int]:
    return ledger.runs().height, ledger.entries().height


def net(ledger: Ledger, key: str, contract_id: str = "C1", period: str = "2015Q1") -> int:
    lines = ledger.statement_lines(contract_id=contract_id, period=period)
    return lines.filter(pl.col("key") == key)["amount_pence"].item()


def link(prev_hash: str, content: dict) -> str:
    """The documented formula, written out independently of the ledger's code."""
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


ENTRY_CONTENT = ("id", "run_id", "contract_id", "provider_id", "design", "period", "line_key", "kind",
                 "entry_type", "description", "quantity", "unit", "rate", "amount_pence", "basis", "corrects",
                 "created_at")
RUN_CONTENT = ("id", "batch_id", "contract_id", "provider_id", "design", "period", "as_of", "input_digest",
               "contract_terms", "notes", "created_at", "pbrkit_version", "entry_count", "last_entry_hash")


def test_originals_round_trip_through_the_hash_chain(ledger):
    statements = [*market(contracts=3, periods=("2015Q1", "2015Q2"), lines=3), statement("C-£", notes=("ünïcode",))]
    summary = ledger.record_run(statements)

    assert (summary.new, summary.adjusted, summary.unchanged) == (7, 0, 0)
    assert summary.entries_written == 21 and summary.runs_written == 7
    assert summary.amount_pence == sum(s.total for s in statements)
    entries, runs = ledger.entries(), ledger.runs()
    assert entries["id"].to_list() == list(range(1, 22)) and runs["id"].to_list() == list(range(1, 8))
    assert set(entries["entry_type"]) == {"original"} and entries["corrects"].null_count() == 21
    # Both chains, recomputed by hand from the documented formula: each link
    # covers its content and the previous hash, from 64 zeros.
    digest = dict(zip(runs["id"], runs["input_digest"], strict=True))
    prev = GENESIS
    for entry in entries.iter_rows(named=True):
        content = {k: entry[k] for k in ENTRY_CONTENT} | {"input_digest": digest[entry["run_id"]]}
        assert entry["prev_hash"] == prev and entry["hash"] == link(prev, content)
        prev = entry["hash"]
    prev = GENESIS
    for run, st in zip(runs.iter_rows(named=True), statements, strict=True):
        assert run["input_digest"] == st.input_digest and run["notes"] == canonical_json(list(st.notes))
        assert run["prev_hash"] == prev and run["hash"] == link(prev, {k: run[k] for k in RUN_CONTENT})
        prev = run["hash"]
    assert runs["last_entry_hash"].to_list() == entries["hash"].gather([2, 5, 8, 11, 14, 17, 20]).to_list()
    assert summary.head == ledger.head() == runs["hash"][-1]

    verification = ledger.verify()
    assert verification.ok, verification.message
    assert (verification.runs_checked, verification.entries_checked) == (7, 21)
    assert verification.head == summary.head


def test_zero_amount_lines_are_recorded_with_their_basis(ledger):
    ledger.record_run([statement()])
    zero = ledger.entries().filter(pl.col("line_key") == "service_level.contact").row(0, named=True)
    assert zero["amount_pence"] == 0 and zero["basis"] == canonical_json({"breaches": 0})


def test_the_same_statements_twice_write_nothing_the_second_time(ledger):
    statements = market(contracts=3)
    ledger.record_run(statements)
    before, head = counts(ledger), ledger.head()

    again = ledger.record_run(market(contracts=3))

    assert (again.new, again.adjusted, again.unchanged) == (0, 0, 3)
    assert again.entries_written == again.runs_written == 0
    assert counts(ledger) == before and ledger.head() == head == again.head


def test_a_later_as_of_date_on_the_same_inputs_is_the_same_run(ledger):
    import datetime as dt

    ledger.record_run([statement()])
    summary = ledger.record_run([statement(as_of=dt.date(2017, 3, 31))])
    assert summary.unchanged == 1 and counts(ledger) == (1, 3)


def test_a_late_conviction_writes_one_adjustment_referencing_the_original(ledger):
    ledger.record_run([statement(lines=standard_lines(reoffenders=10))])
    original = ledger.entries().filter(pl.col("line_key") == OUTCOME_KEY).row(0, named=True)

    summary = ledger.record_run([statement(lines=standard_lines(reoffenders=11))])

    assert (summary.new, summary.adjusted, summary.unchanged) == (0, 1, 0)
    assert summary.entries_written == 1 and summary.amount_pence == -PRICE
    adjustment = ledger.entries(run_id=summary.outcomes[0].run_id).row(0, named=True)
    assert adjustment["entry_type"] == "adjustment"
    assert adjustment["line_key"] == OUTCOME_KEY
    assert adjustment["amount_pence"] == -PRICE
    assert adjustment["corrects"] == original["id"]
    assert adjustment["basis"] == canonical_json(outcome(reoffenders=11).basis)
    assert net(ledger, OUTCOME_KEY) == outcome(reoffenders=11).amount == original["amount_pence"] - PRICE
    # The original is untouched: adjustments add, they never rewrite.
    assert ledger.entries().filter(pl.col("id") == original["id"]).row(0, named=True) == original
    assert ledger.verify().ok


def test_a_vanished_key_is_reversed_and_a_new_key_is_added(ledger):
    ledger.record_run([statement(lines=standard_lines())])
    fee = ledger.entries().filter(pl.col("line_key") == "fee.service").row(0, named=True)
    bonus = line("fee.bonus", 70000, basis={"reason": "mobilisation"})
    changed = [bonus if ln.key == "fee.service" else ln for ln in standard_lines()]

    summary = ledger.record_run([statement(lines=changed)])

    written = ledger.entries(run_id=summary.outcomes[0].run_id)
    assert written.height == 2
    reversal = written.filter(pl.col("line_key") == "fee.service").row(0, named=True)
    assert reversal["amount_pence"] == -fee["amount_pence"]
    assert reversal["corrects"] == fee["id"] and reversal["basis"] == REMOVED
    added = written.filter(pl.col("line_key") == "fee.bonus").row(0, named=True)
    assert added["entry_type"] == "adjustment"
    assert added["amount_pence"] == 70000 and added["corrects"] is None
    lines = ledger.statement_lines(contract_id="C1", period="2015Q1")
    assert lines["key"].to_list() == [OUTCOME_KEY, "service_level.contact", "fee.bonus"]
    assert lines["amount_pence"].sum() == statement(lines=changed).total

    # Still gone next time the inputs change: no second reversal.
    later = [ln for ln in changed if ln.key != OUTCOME_KEY] + [outcome(reoffenders=12)]
    third = ledger.record_run([statement(lines=later)])
    assert ledger.entries(run_id=third.outcomes[0].run_id)["line_key"].to_list() == [OUTCOME_KEY]
    assert ledger.verify().ok


def test_inputs_a_then_b_then_a_again_adjust_back(ledger):
    a, b = statement(lines=standard_lines(10)), statement(lines=standard_lines(13))
    ledger.record_run([a])
    ledger.record_run([b])
    back = ledger.record_run([a])

    assert back.adjusted == 1 and back.amount_pence == 3 * PRICE
    entries = ledger.entries().filter(pl.col("line_key") == OUTCOME_KEY)
    assert entries["amount_pence"].to_list() == [a.lines[1].amount, -3 * PRICE, 3 * PRICE]
    assert entries["corrects"].to_list() == [None, entries["id"][0], entries["id"][1]]
    assert ledger.statement_lines(contract_id="C1")["amount_pence"].to_list() == [ln.amount for ln in a.lines]
    assert ledger.runs().height == 3 and ledger.verify().ok


def test_a_changed_digest_with_no_line_change_writes_a_run_and_no_entries(ledger):
    ledger.record_run([statement()])
    summary = ledger.record_run([statement(terms=TERMS.replace("150000", "150001"))])

    assert (summary.adjusted, summary.runs_written, summary.entries_written) == (1, 1, 0)
    runs = ledger.runs()
    assert runs.height == 2 and runs["entry_count"].to_list() == [3, 0]
    assert runs["last_entry_hash"][1] == runs["last_entry_hash"][0]
    assert ledger.contracts()["contract_terms"].to_list() == [TERMS.replace("150000", "150001")]
    assert ledger.verify().ok


def test_a_changed_basis_with_the_same_amount_keeps_the_basis_current(ledger):
    ledger.record_run([statement()])
    lines = standard_lines()
    lines[0] = line("fee.service", lines[0].amount, rate=str(lines[0].rate), basis={"months": 3, "corrected": True})

    summary = ledger.record_run([statement(lines=lines)])

    adjustment = ledger.entries(run_id=summary.outcomes[0].run_id).row(0, named=True)
    assert summary.entries_written == 1 and adjustment["amount_pence"] == 0
    assert ledger.statement_lines(contract_id="C1").row(0, named=True)["basis"] == canonical_json(lines[0].basis)


def test_a_run_is_one_transaction(ledger):
    ledger.record_run([statement("C0")])
    before, head = counts(ledger), ledger.head()

    def statements():
        yield from market(contracts=3)
        raise RuntimeError("engine failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        ledger.record_run(statements())
    assert counts(ledger) == before and ledger.head() == head

    def failing_progress(outcome):
        if outcome.contract_id == "C001":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ledger.record_run(market(contracts=3), progress=failing_progress)
    assert counts(ledger) == before

    # The ledger is still writable and the chain continues from the same head.
    summary = ledger.record_run(market(contracts=3))
    assert summary.new == 3 and ledger.verify().ok


def test_progress_is_called_once_per_statement_after_it_is_written(ledger):
    seen = []
    summary = ledger.record_run(market(contracts=2, periods=("2015Q1", "2015Q2")), progress=seen.append)
    assert seen == list(summary.outcomes) and len(seen) == 4
    assert [o.outcome for o in seen] == ["new"] * 4


def test_every_run_of_one_call_shares_its_batch_id(ledger):
    first = ledger.record_run(market(contracts=2))
    second = ledger.record_run(market(contracts=2, reoffenders=11))
    runs = ledger.runs()
    assert runs["batch_id"].to_list() == [first.batch_id] * 2 + [second.batch_id] * 2
    assert first.batch_id != second.batch_id
    assert ledger.runs(batch_id=second.batch_id).height == 2


def test_the_same_contract_twice_in_one_batch_is_recorded_once(ledger):
    summary = ledger.record_run([statement(), statement()])
    assert (summary.new, summary.unchanged) == (1, 1) and counts(ledger) == (1, 3)


def test_summary_frame_and_sentence(ledger):
    summary = ledger.record_run(market(contracts=2))
    assert summary.frame()["outcome"].to_list() == ["new", "new"]
    assert summary.sentence().startswith("Recorded 2 statements: 2 new, 0 adjusted, 0 unchanged; 6 ledger entries")


def test_readers_see_the_last_committed_ledger_while_a_run_is_writing(ledger, ledger_url):
    ledger.record_run([statement("C0")])
    seen = []
    with Ledger(ledger_url, create=False) as reader:
        def read_mid_run(_outcome):
            # Neither blocked by the writer's lock nor shown its uncommitted entries.
            seen.append((reader.entries().height, reader.verify().ok))

        ledger.record_run(market(contracts=2), progress=read_mid_run)
    assert seen == [(3, True), (3, True)]
    assert ledger.entries().height == 9
