"""The renewal rule, "the top K or all that improved by N points, whichever
is more", worked both ways."""

from __future__ import annotations

import polars as pl

from pbrkit.contracts.schema import Contract
from pbrkit.pay.renewal import RESULT_COLUMNS, renewal_decisions, renewal_sentence


def _contracts(n: int, **rule) -> list[Contract]:
    return [
        Contract.model_validate({"name": "staged", "id": f"c{i}", "provider_id": f"p{i}", "renewal": rule})
        for i in range(n)
    ]


def _results(improvements_pp: list[float]) -> pl.DataFrame:
    """One cohort of 1,000 per contract, with 400 expected reoffenders and
    400 - 10 x improvement actual, so the improvement is exact."""
    rows = [
        {"contract_id": f"c{i}", "cohort": "2015Q1", "offenders": 1000,
         "reoffenders": int(400 - 10 * imp), "expected_reoffenders": "400.0000"}
        for i, imp in enumerate(improvements_pp)
    ]
    return pl.DataFrame(rows, schema=RESULT_COLUMNS)


def test_improved_by_a_point_is_more_than_the_top_k():
    decisions = renewal_decisions(_contracts(6, top_k=2, improved_by_pp=1.0), _results([3, 2, 1.5, 1.2, 0.5, -1]))
    # Four improved by at least a point, more than the top 2: all four renewed.
    assert decisions.filter("renewed")["contract_id"].to_list() == ["c0", "c1", "c2", "c3"]
    assert decisions.filter(pl.col("contract_id") == "c3")["reason"].item() == "improved by at least 1.0 points"
    assert decisions["improvement_pp"].to_list() == ["3.00", "2.00", "1.50", "1.20", "0.50", "-1.00"]


def test_top_k_is_more_than_those_improved_by_a_point():
    decisions = renewal_decisions(_contracts(6, top_k=3, improved_by_pp=1.0), _results([-2, 0.5, 3, -1, 0.2, -3]))
    # Only c2 improved by a point; the top 3 (c2, c1, c4) are more.
    assert sorted(decisions.filter("renewed")["contract_id"].to_list()) == ["c1", "c2", "c4"]
    assert decisions.filter(pl.col("contract_id") == "c1")["reason"].item() == "in the top 3"
    assert decisions.filter(pl.col("contract_id") == "c2")["reason"].item() == (
        "in the top 3 and improved by at least 1.0 points")
    assert decisions["rank"].to_list() == [1, 2, 3, 4, 5, 6]
    assert "3 of 6 contracts are renewed" in renewal_sentence(decisions)


def test_top_share_and_no_results():
    contracts = _contracts(5, top_share=0.5)
    decisions = renewal_decisions(contracts, _results([1, 2, 3, 4]))
    # Half of 5 rounds down to 2; c4 has no mature cohort and is not judged.
    assert sorted(decisions.filter("renewed")["contract_id"].to_list()) == ["c2", "c3"]
    assert decisions.filter(pl.col("contract_id") == "c4")["reason"].item() == "no mature cohorts to judge"


def test_assessed_years_only():
    contracts = _contracts(2, top_k=1, assess_years=1)
    results = pl.concat([
        _results([1, 2]),
        # Year-2 cohorts, which the rule ignores, would reverse the order.
        _results([9, -9]).with_columns(cohort=pl.lit("2016Q1")),
    ])
    decisions = renewal_decisions(contracts, results)
    assert decisions.filter("renewed")["contract_id"].to_list() == ["c1"]
