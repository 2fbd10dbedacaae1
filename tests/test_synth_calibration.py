"""The national dataset meets every calibration target, and docs/synthetic.md says so truthfully."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pbrkit.synth import generate
from pbrkit.synth.calibration import TARGETS, calibration_table, markdown

DOC = Path(__file__).parents[1] / "docs" / "synthetic.md"


@pytest.mark.slow
def test_national_dataset_meets_every_target_and_the_document_matches():
    table = calibration_table(generate(start="2011-01-01", years=7, scale=1.0, seed=1))
    missed = table.filter(~table.get_column("met"))
    assert missed.is_empty(), missed.select("target", "band", "achieved")
    assert table.height == len(TARGETS)
    block = re.search(r"<!-- calibration:begin \(regenerate: (.*?)\) -->.*?<!-- calibration:end -->",
                      DOC.read_text(), flags=re.DOTALL)
    assert block, "docs/synthetic.md has no calibration table"
    assert block.group(0) == markdown(table, block.group(1)), (
        "docs/synthetic.md is stale: run " + block.group(1))
