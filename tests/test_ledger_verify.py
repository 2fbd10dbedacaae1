"""Tamper evidence: the triggers refuse rewrites, and `verify` finds the first
broken link when someone with the power to drop the triggers rewrites anyway."""

from __future__ import annotations

import polars as pl
import pytest
from ledger_builders import market, standard_lines, statement
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pbrkit.pay.ledger import Ledger
from pbrkit.pay.ledger.backends import BACKENDS


@pytest.fixture
def ledger(ledger_url):
    """Two batches: 4 originals (entries 1-12), then 4 adjustments (entries 13-16)."""
    with Ledger(ledger_url) as opened:
        opened.record_run(market(contracts=4, reoffenders=10))
        opened.record_run(market(contracts=4, reoffenders=11))
        assert opened.verify().ok
        yield opened


def as_rogue_dba(ledger: Ledger, *sql: str) -> None:
    """Drop the append-only triggers, as someone with the power to would, then run `sql`."""
    with ledger.engine.begin() as conn:
        for name in sorted(BACKENDS[ledger.backend.name].expected_triggers()):
            table = name.rsplit("_no_", 1)[0]
            on = f" ON {table}" if ledger.backend.name == "postgresql" else ""
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
        for statement_ in sql:
            conn.execute(text(statement_))


def refused(ledger: Ledger, sql: str) -> str:
    with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
        conn.execute(text(sql))
    return str(caught.value)


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entry SET amount_pence = amount_pence + 100 WHERE id = 2",
    "DELETE FROM ledger_entry WHERE id = 16",
    "UPDATE payment_run SET input_digest = 'x' WHERE id = 1",
    "DELETE FROM payment_run WHERE id = 8",
])
def test_the_triggers_refuse_updates_and_deletes(ledger, sql):
    assert "append-only" in refused(ledger, sql)
    assert ledger.entries().height == 16 and ledger.verify().ok


def test_emptying_the_tables_is_refused(ledger):
    # PostgreSQL's TRUNCATE skips row triggers, so it has its own; SQLite has no
    # TRUNCATE, and its whole-table DELETE shortcut is off while triggers exist.
    sql = "TRUNCATE ledger_entry, payment_run" if ledger.backend.name == "postgresql" else "DELETE FROM ledger_entry"
    assert "append-only" in refused(ledger, sql)
    assert ledger.entries().height == 16


def test_creating_the_schema_is_idempotent_and_restores_a_dropped_trigger(ledger, ledger_url):
    backend = ledger.backend
    as_rogue_dba(ledger)
    with ledger.engine.connect() as conn:
        assert backend.existing_triggers(conn) == set()
    with Ledger(ledger_url), Ledger(ledger_url):
        pass
    with ledger.engine.connect() as conn:
        assert backend.existing_triggers(conn) == backend.expected_triggers()
    assert "append-only" in refused(ledger, "DELETE FROM ledger_entry WHERE id = 16")
    assert ledger.entries().height == 16 and ledger.verify().ok


def test_a_changed_amount_is_reported_at_its_entry(ledger):
    as_rogue_dba(ledger, "UPDATE ledger_entry SET amount_pence = amount_pence + 100 WHERE id = 5")
    result = ledger.verify()
    assert not result.ok
    assert (result.reason, result.entry_id) == ("content_changed", 5)
    assert "entry 5" in result.message and "changed" in result.sentence()


def test_a_rehashed_change_is_reported_at_the_next_entry(ledger):
    # A DBA who also recomputes the changed row's hash only moves the break one on.
    row = ledger.entries().filter(pl.col("id") == 5).row(0, named=True)
    from pbrkit.pay.ledger.chain import entry_hash

    forged = dict(row, amount_pence=row["amount_pence"] + 100)
    digest = ledger.runs().filter(pl.col("id") == row["run_id"])["input_digest"].item()
    new_hash = entry_hash(row["prev_hash"], forged, digest)
    as_rogue_dba(ledger, f"UPDATE ledger_entry SET amount_pence = {forged['amount_pence']}, "
                         f"hash = '{new_hash}' WHERE id = 5")
    result = ledger.verify()
    assert (result.reason, result.entry_id) == ("link_broken", 6)


def test_a_deleted_entry_is_reported_at_the_next_entry(ledger):
    as_rogue_dba(ledger, "DELETE FROM ledger_entry WHERE id = 8")
    result = ledger.verify()
    assert not result.ok
    assert (result.reason, result.entry_id) == ("entries_missing", 9)
    assert "entries 8 to 8 are missing" in result.message


def test_entries_truncated_from_the_end_are_detected(ledger):
    as_rogue_dba(ledger, "DELETE FROM ledger_entry WHERE id >= 15")
    result = ledger.verify()
    assert not result.ok
    assert (result.reason, result.entry_id, result.run_id) == ("truncated", 15, 7)
    assert result.entries_checked == 14


def test_an_entry_moved_to_another_run_is_detected(ledger):
    as_rogue_dba(ledger, "UPDATE ledger_entry SET run_id = 1 WHERE id = 4")
    result = ledger.verify()
    assert (result.reason, result.entry_id) == ("content_changed", 4)


def test_a_changed_run_is_detected(ledger):
    as_rogue_dba(ledger, "UPDATE payment_run SET as_of = '2099-01-01' WHERE id = 3")
    result = ledger.verify()
    assert (result.reason, result.run_id, result.entry_id) == ("run_changed", 3, None)
    assert result.entries_checked == 6


def test_a_deleted_run_without_entries_is_detected(ledger_url):
    with Ledger(ledger_url) as ledger:
        ledger.record_run([statement("C1")])
        ledger.record_run([statement("C1", terms="{}")])  # digest changes, no money moves
        ledger.record_run([statement("C2")])
        assert ledger.runs()["entry_count"].to_list() == [3, 0, 3]
        as_rogue_dba(ledger, "DELETE FROM payment_run WHERE id = 2")
        result = ledger.verify()
        assert (result.reason, result.run_id) == ("runs_missing", 3)


def test_whole_runs_removed_from_the_end_need_the_anchor(ledger):
    anchor = ledger.head()
    as_rogue_dba(ledger, "DELETE FROM ledger_entry WHERE run_id = 8", "DELETE FROM payment_run WHERE id = 8")
    # Inside the database the shorter ledger is self-consistent...
    assert ledger.verify().ok
    # ...but the head kept outside is no longer in it.
    result = ledger.verify(anchor=anchor)
    assert not result.ok and result.reason == "anchor_not_found"


def test_an_anchor_from_earlier_still_verifies_after_later_runs(ledger):
    anchor = ledger.head()
    ledger.record_run([statement("C9", lines=standard_lines(5))])
    assert ledger.verify(anchor=anchor).ok
