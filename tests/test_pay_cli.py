"""`pbrkit pay`, `statement`, `renewals` and `ledger verify` end to end on a
small synthetic population: statements recorded once, re-runs idempotent, a
late conviction adjusted, bad input refused with exit 2."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

import pbrkit
from pbrkit.cli import app
from pbrkit.pay.ledger import Ledger
from pbrkit.synth import generate, write

runner = CliRunner()
THROUGH, AS_OF = "2017Q4", "2017-12-31"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synth")
    write(generate(start=dt.date(2011, 1, 1), years=7, scale=0.01, seed=3), directory, "parquet")
    return directory


def invoke(*args: str):
    return runner.invoke(app, [*args], env={"COLUMNS": "200"})


def pay(data_dir, db, *more: str):
    return invoke("pay", str(data_dir), "--through", THROUGH, "--as-of", AS_OF, "--db", str(db), *more)


def test_pay_records_once_and_reruns_write_nothing(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    first = pay(data_dir, db, "--design", "tr2014")
    assert first.exit_code == 0, first.output
    n = 21 * 12  # 21 CRCs, 2015Q1-2017Q4
    assert f"Recorded {n} statements: {n} new, 0 adjusted, 0 unchanged" in first.output
    with Ledger(db) as ledger:
        entries = ledger.entries().height
        assert ledger.runs().height == n
    again = pay(data_dir, db, "--design", "tr2014")
    assert again.exit_code == 0, again.output
    assert f"0 new, 0 adjusted, {n} unchanged; 0 ledger entries" in again.output
    with Ledger(db) as ledger:
        assert ledger.entries().height == entries
    verified = invoke("ledger", "verify", "--db", str(db))
    assert verified.exit_code == 0 and "The ledger verifies" in verified.output


def test_late_conviction_writes_adjustments_only_where_it_matters(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert pay(data_dir, db, "--design", "binary-only").exit_code == 0
    # A conviction recorded late for someone in a paid cohort: copy the data,
    # add one proven reoffence for the first person of wales' 2015Q1 cohort.
    changed = tmp_path / "changed"
    shutil.copytree(data_dir, changed)
    data = pbrkit.load(data_dir)
    person = (data.episodes.filter((pl.col("provider_id") == "crc-wales")
                                   & pl.col("start_date").is_between(dt.date(2015, 1, 1), dt.date(2015, 3, 31)))
              .sort("start_date", "episode_id").row(0, named=True))
    late = pl.DataFrame({"person_id": [person["person_id"]],
                         "offence_date": [person["start_date"] + dt.timedelta(days=30)],
                         "disposal_date": [person["start_date"] + dt.timedelta(days=500)]})
    pl.concat([data.offences, late.cast(data.offences.schema)]).write_parquet(changed / "offences.parquet")
    result = pay(changed, db, "--design", "binary-only")
    assert result.exit_code == 0, result.output
    assert re.search(r"Recorded 252 statements: 0 new, 1 adjusted, 251 unchanged", result.output), result.output
    with Ledger(db) as ledger:
        adjustments = ledger.entries(contract_id="binary-only-crc-wales").filter(pl.col("entry_type") == "adjustment")
        # The 2015Q1 cohort is paid on the 2016Q3 statement.
        assert set(adjustments["period"]) == {"2016Q3"}
        assert adjustments["corrects"].null_count() == 0
        assert ledger.verify().ok


def test_statement_formats(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert pay(data_dir, db, "--design", "tr2014").exit_code == 0
    table = invoke("statement", "--db", str(db), "--provider", "crc-wales", "--period", "2016Q3")
    assert table.exit_code == 0, table.output
    assert "crc-wales is due" in table.output and "Net amount due" in table.output
    csv = invoke("statement", "--db", str(db), "--provider", "crc-wales", "--period", "2016Q3", "--format", "csv")
    frame = pl.read_csv(csv.stdout.encode())
    with Ledger(db) as ledger:
        assert frame["amount_pence"].sum() == ledger.statement("tr2014-crc-wales", "2016Q3").total
    html_file = tmp_path / "s.html"
    html = invoke("statement", "--db", str(db), "--provider", "crc-wales", "--period", "2016Q3",
                  "--format", "html", "--out", str(html_file))
    assert html.exit_code == 0, html.output
    page = html_file.read_text()
    assert "Payment statement: crc-wales, 2016Q3" in page
    assert "Proven reoffending of cohort 2015Q1" in page  # the result line and its basis
    assert "expected_rate" in page


def test_statement_needs_a_contract_when_there_are_several(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert pay(data_dir, db, "--design", "fee-only").exit_code == 0
    assert pay(data_dir, db, "--design", "staged").exit_code == 0
    result = invoke("statement", "--db", str(db), "--provider", "crc-wales", "--period", "2016Q1")
    assert result.exit_code == 2
    assert "fee-only-crc-wales" in result.output and "--contract" in result.output
    ok = invoke("statement", "--db", str(db), "--provider", "crc-wales", "--period", "2016Q1",
                "--contract", "staged-crc-wales")
    assert ok.exit_code == 0, ok.output


def test_renewals_under_the_staged_rule(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert pay(data_dir, db, "--design", "staged").exit_code == 0
    result = invoke("renewals", "--db", str(db))
    assert result.exit_code == 0, result.output
    # 21 CRCs: the top half is 10, or more if more than 10 cut reoffending by a point.
    renewed = int(re.search(r"Under staged, (\d+) of 21 contracts are renewed", result.output).group(1))
    assert renewed >= 10


def test_contracts_directory_errors_name_the_key(data_dir, tmp_path):
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "wales.toml").write_text(
        'name = "x"\nid = "w"\nprovider_id = "crc-wales"\n[outcomes.binary]\nprice = -1\n')
    result = pay(data_dir, tmp_path / "l.sqlite", "--contracts", str(contracts))
    assert result.exit_code == 2
    assert "wales.toml: outcomes.binary.price: must be >= 0" in result.output
    assert not (tmp_path / "l.sqlite").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--design", "no-such"), "no design named 'no-such'"),
    (("--design", "tr2014", "--contracts", "x"), "exactly one of --contracts"),
    (("--design", "tr2014", "--as-of", "2017-06-30"), "2017Q4 is not over"),
])
def test_bad_options_exit_2(data_dir, tmp_path, args, message):
    result = invoke("pay", str(data_dir), "--through", THROUGH, "--db", str(tmp_path / "l.sqlite"), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_verify_reports_a_tampered_ledger(data_dir, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert pay(data_dir, db, "--design", "fee-only").exit_code == 0
    import sqlite3

    con = sqlite3.connect(db)
    triggers = [r[0] for r in con.execute("select name from sqlite_master where type='trigger'")]
    for t in triggers:
        con.execute(f"drop trigger {t}")
    con.execute("update ledger_entry set amount_pence = amount_pence + 1 where id = 7")
    con.commit()
    con.close()
    result = invoke("ledger", "verify", "--db", str(db))
    assert result.exit_code == 1
    assert "does NOT verify" in result.output and "7" in result.output
