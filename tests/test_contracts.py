"""Contract designs as data: the shipped library, the loader's error messages
(each names its key path), contracts directories, and `pbrkit contract`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pbrkit.contracts.load as load_module
from pbrkit.cli import app
from pbrkit.contracts import (
    Contract,
    ContractError,
    Design,
    design,
    design_source,
    library,
    load_contracts,
    load_file,
)
from pbrkit.contracts.schema import AtRisk
from pbrkit.contracts.text import terms_summary

runner = CliRunner()

LIBRARY = Path(load_module.__file__).parent / "library"
NAMES = {"tr2014", "tr2017", "staged", "work-programme", "accelerator", "binary-only", "binary-frequency", "fee-only"}


def write(tmp_path: Path, text: str, name: str = "design.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ContractError) as caught:
        load_file(path)
    assert caught.value.source == str(path)
    assert str(caught.value).splitlines() == [f"{path}: {p}" for p in caught.value.problems]
    return caught.value.problems


# --- the library ---------------------------------------------------------------


def test_library_holds_every_design():
    designs = library()
    assert set(designs) == NAMES
    assert {p.stem for p in LIBRARY.glob("*.toml")} == NAMES  # file name = design name


@pytest.mark.parametrize("name", sorted(NAMES))
def test_library_design_loads_and_round_trips(name):
    item = library()[name]
    assert type(item) is Design
    assert item.name == name and design(name) == item
    assert load_file(LIBRARY / f"{name}.toml") == item
    assert Design.model_validate(item.model_dump()) == item
    assert Design.model_validate_json(item.model_dump_json()) == item
    # every design says where its numbers come from and what it assumes
    assert item.title and item.sources
    assert "Sourced" in item.description and "Assumed" in item.description
    assert design_source(name) == (LIBRARY / f"{name}.toml").read_text(encoding="utf-8")


def test_library_key_terms():
    d = library()
    staged = d["staged"]
    assert staged.years == 9
    assert staged.at_risk.by_year == [Decimal(x) for x in ("0", "0", "0", "0", "0.04", "0.08", "0.12", "0.16", "0.2")]
    assert staged.at_risk.graduated and staged.at_risk.target_pp == 1
    assert (staged.renewal.top_share, staged.renewal.improved_by_pp, staged.renewal.assess_years) == (
        Decimal("0.5"), Decimal(1), 4)
    assert staged.reserves.carry_forward_share == Decimal("0.2")

    tr = d["tr2014"]
    assert (tr.start, tr.years, tr.outcomes.baseline) == ("2015Q1", 7, "2011")
    assert tr.fee.forecast is not None and tr.fee.learning_curve > 0
    assert tr.outcomes.binary.significance_required and tr.outcomes.frequency.hurdle and tr.outcomes.clawback
    assert tr.outcomes.foundation is not None and tr.termination is not None
    assert {s.kind for s in tr.service_levels} >= {"release_recorded", "resettlement_plan"}
    release = next(s for s in tr.service_levels if s.kind == "release_recorded")
    assert release.days_allowed == 0 and release.deduction_per_failure == Decimal(2000)  # seed article 2017

    tr17 = d["tr2017"]
    assert tr17.fee.fixed_per_quarter and not tr.fee.fixed_per_quarter
    assert tr17.outcomes.binary.price < tr.outcomes.binary.price
    assert tr17.outcomes.cap_share_of_fees < tr.outcomes.cap_share_of_fees

    wp = d["work-programme"]
    assert wp.fee.per_episode == Decimal(400) and not wp.outcomes.clawback
    assert wp.outcomes.binary.segment is not None and max(wp.outcomes.binary.weights.values()) > 1

    acc = d["accelerator"].outcomes.binary
    weights = [acc.weight(level) for level in ("0", "1-2", "3-6", "7-14", "15-29", "30+")]
    assert acc.segment == "prior_band" and weights == sorted(weights) and weights[-1] == 5 * weights[0]

    assert d["fee-only"].outcomes is None and d["binary-only"].outcomes.frequency is None
    assert d["binary-frequency"].outcomes.frequency is not None


def test_library_rejects_two_designs_with_one_name(tmp_path, monkeypatch):
    (tmp_path / "library").mkdir()
    write(tmp_path / "library", 'name = "same"\n', "a.toml")
    write(tmp_path / "library", 'name = "same"\n', "b.toml")
    monkeypatch.setattr(load_module.resources, "files", lambda package: tmp_path)
    with pytest.raises(ContractError) as caught:
        library()
    assert caught.value.problems == ["b.toml: name 'same' is also used by a.toml"]


def test_unknown_design_lists_the_names():
    with pytest.raises(ContractError, match="no design named 'nope'; choose from accelerator, "):
        design("nope")


# --- error messages name the key path --------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ('name = "x"\n[outcomes.binary]\nprice = -1\n', "outcomes.binary.price: must be >= 0"),
    ('name = "x"\ncolour = "red"\n', "colour: is not a known key"),
    ('name = "x"\n[outcomes.binary]\nprice = 10\nsegmnet = "risk_tier"\n',
     "outcomes.binary.segmnet: is not a known key"),
    ('name = "x"\n[outcomes.binary]\nprice = 1250.005\n',
     "outcomes.binary.price: must be a whole number of pence (at most 2 decimal places)"),
    ('name = "x"\n[fee]\nper_episode = 10\n[at_risk]\nby_year = [0.1, 1.5]\ntarget_pp = 1\n',
     "at_risk.by_year[1]: must be <= 1"),
    ('name = "x"\n[fee.forecast]\nepisodes_per_year = 10\nband = 2\nprice_per_episode = 1\n',
     "fee.forecast.band: must be <= 1"),
    ('name = "x"\nstart = "2015Q5"\n', "start: must be a quarter like 2015Q1"),
    ('name = "x"\nstart = "2015-01"\n', "start: must be a quarter like 2015Q1"),
    ('name = "x"\n[outcomes.binary]\nprice = 1\nsegment = "prior_band"\nweights = { "99" = 2 }\n',
     "outcomes.binary: weights name 99, which are not levels of prior_band (0, 1-2, 3-6, 7-14, 15-29, 30+)"),
    ('name = "x"\n[outcomes.binary]\nprice = 1\nweights = { low = 2 }\n',
     "outcomes.binary: weights need a segment (risk_tier, sentence or prior_band)"),
    ('name = "x"\n[outcomes.binary]\nprice = 1\nsegment = "colour"\n',
     "outcomes.binary.segment: must be one of 'risk_tier', 'sentence' or 'prior_band'"),
    ('name = "x"\n[fee]\nper_episode = 1\nsentence_weights = { custody_x = 2 }\n',
     "fee.sentence_weights.custody_x: must be one of 'custody_short', 'custody_long', 'community_order' "
     "or 'suspended_sentence'"),
    ('name = "x"\n[fee.forecast]\nepisodes_per_year = 100\nbaseline_factor = 1.1\nprice_per_episode = 1\n',
     "fee.forecast: give exactly one of episodes_per_year and baseline_factor"),
    ('name = "x"\n[fee.forecast]\nprice_per_episode = 1\n',
     "fee.forecast: give exactly one of episodes_per_year and baseline_factor"),
    ('name = "x"\n[renewal]\nassess_years = 4\n', "renewal: give top_k, top_share or improved_by_pp"),
    ('name = "x"\n[renewal]\ntop_k = 3\ntop_share = 0.5\n', "renewal: give at most one of top_k and top_share"),
    ('name = "x"\n[at_risk]\nby_year = [0.1]\ntarget_pp = 1\n',
     "at_risk: withholds a share of fees, so the design needs a fee"),
    ('name = "x"\n[fee]\nper_episode = 1\n[at_risk]\nby_year = [0.1]\n',
     "at_risk: without target_pp needs outcomes.binary (its bar decides the earn-back)"),
    ('name = "x"\n[outcomes.frequency]\nprice = 1\nhurdle = true\n',
     "outcomes.frequency.hurdle: needs outcomes.binary (the hurdle is the binary result's bar)"),
    ('name = "x"\n[outcomes]\nbaseline = "20x1"\n',
     "outcomes.baseline: baseline must be a year (2011) or a range START:END (2011-01-01:2011-12-31), not '20x1'"),
    ('name = "x"\n[fee.forecast]\nbaseline_factor = 1\nbaseline = "2012-01-01:2011-01-01"\nprice_per_episode = 1\n',
     "fee.forecast.baseline: baseline ends (2011-01-01) before it starts (2012-01-01)"),
    ('name = "x"\n[[service_levels]]\nkind = "induction"\ndays_allowed = -1\n',
     "service_levels[0].days_allowed: must be >= 0"),
    ('name = "x"\nyears = 2.5\n', "years: must be a whole number"),
    ('name = "x"\n[outcomes]\nclawback = "maybe"\n', "outcomes.clawback: must be true or false"),
    ('title = "no name"\n', "name: is required"),
    ('name = "x"\nid = "c1"\nprovider_id = "crc-a"\nterminated = "2019"\n',
     "terminated: must be a quarter like 2015Q1"),
])
def test_error_names_the_key_path(tmp_path, text, expected):
    assert expected in problems(tmp_path, text)


def test_every_problem_in_a_file_is_listed(tmp_path):
    found = problems(tmp_path, 'name = "x"\nyears = 0\n[outcomes.binary]\nprice = -5\nsignificant = true\n')
    assert found == [
        "years: must be >= 1",
        "outcomes.binary.price: must be >= 0",
        "outcomes.binary.significant: is not a known key",
    ]


def test_file_problems(tmp_path):
    assert problems(tmp_path, 'name = "x"\nprice = \n')[0].startswith("is not valid TOML: ")
    with pytest.raises(ContractError, match="no such file"):
        load_file(tmp_path / "missing.toml")


# --- contracts ---------------------------------------------------------------------


def test_a_file_naming_a_provider_is_a_contract(tmp_path):
    item = load_file(write(tmp_path, 'name = "x"\nid = "c1"\nprovider_id = "crc-a"\nterminated = "2019Q2"\n'
                                     '[fee]\nfixed_per_quarter = 100.50\n'))
    assert isinstance(item, Contract)
    assert (item.id, item.provider_id, item.terminated) == ("c1", "crc-a", "2019Q2")
    assert item.fee.fixed_per_quarter == Decimal("100.50")
    assert Contract.model_validate(item.model_dump()) == item


def test_load_contracts_sorted_by_id(tmp_path):
    write(tmp_path, 'name = "x"\nid = "b"\nprovider_id = "crc-b"\n', "one.toml")
    write(tmp_path, 'name = "x"\nid = "a"\nprovider_id = "crc-a"\n', "two.toml")
    (tmp_path / "notes.txt").write_text("not a contract")
    assert [c.id for c in load_contracts(tmp_path)] == ["a", "b"]


def test_load_contracts_reports_every_bad_file(tmp_path):
    write(tmp_path, 'name = "x"\nid = "c1"\nprovider_id = "crc-a"\n', "a.toml")
    write(tmp_path, 'name = "x"\nid = "c1"\nprovider_id = "crc-b"\n', "b.toml")  # duplicate id
    write(tmp_path, 'name = "x"\n', "c.toml")  # a design: no provider
    write(tmp_path, 'name = "x"\nid = "c4"\nprovider_id = "crc-d"\n[outcomes.binary]\nprice = -1\n', "d.toml")
    with pytest.raises(ContractError) as caught:
        load_contracts(tmp_path)
    assert caught.value.source == str(tmp_path)
    assert caught.value.problems == [
        "b.toml: id 'c1' is also used by a.toml",
        "c.toml: is a design, not a contract (it has no provider_id)",
        "d.toml: outcomes.binary.price: must be >= 0",
    ]


def test_load_contracts_needs_a_directory_of_contracts(tmp_path):
    with pytest.raises(ContractError, match="has no \\*.toml contract files"):
        load_contracts(tmp_path)
    with pytest.raises(ContractError, match="is not a directory"):
        load_contracts(tmp_path / "missing")


def test_design_for_provider():
    tr = library()["tr2014"]
    contract = tr.for_provider("crc-london")
    assert isinstance(contract, Contract)
    assert (contract.id, contract.provider_id, contract.terminated) == ("tr2014-crc-london", "crc-london", None)
    assert contract.model_dump(exclude={"id", "provider_id", "terminated"}) == tr.model_dump()
    assert tr.for_provider("crc-london", "my-id").id == "my-id"
    # a contract can be re-issued to another provider; its own id and provider are not carried over
    again = contract.model_copy(update={"terminated": "2019Q1"}).for_provider("crc-wales")
    assert (again.id, again.provider_id, again.terminated) == ("tr2014-crc-wales", "crc-wales", None)


def test_at_risk_share_by_year():
    risk = AtRisk(by_year=[Decimal(0), Decimal("0.04"), Decimal("0.08")])
    assert [risk.share(y) for y in (1, 2, 3)] == [Decimal(0), Decimal("0.04"), Decimal("0.08")]
    assert risk.share(4) == risk.share(30) == Decimal("0.08")  # the last one listed after that
    with pytest.raises(ValueError, match="count from 1"):
        risk.share(0)


def test_terms_summary_names_every_component():
    rows = dict(terms_summary(library()["tr2014"]))
    assert {"term", "fee", "outcomes", "service level release_recorded", "termination"} <= set(rows)
    assert "£5,000 a reoffender avoided, significant only" in rows["outcomes"]
    assert "learning curve -2% a year" in rows["fee"]
    staged = dict(terms_summary(library()["staged"]))
    assert staged["at risk"].startswith("0%, 0%, 0%, 0%, 4%, 8%, 12%, 16%, 20% of fees by year")
    assert staged["renewal"] == "top 50% or all improving by 1 point, whichever is more; judged on years 1-4"


# --- pbrkit contract ---------------------------------------------------------------


def test_cli_check_ok(tmp_path):
    contract = write(tmp_path, 'name = "x"\nid = "c1"\nprovider_id = "crc-a"\n[fee]\nper_episode = 10\n', "c.toml")
    result = runner.invoke(app, ["contract", "check", str(LIBRARY / "staged.toml"), str(contract)])
    assert result.exit_code == 0, result.output
    assert f"{LIBRARY / 'staged.toml'}: OK" in result.stdout
    assert f"{contract}: OK" in result.stdout
    assert "design staged" in result.stdout and "contract x" in result.stdout
    assert "reserves" in result.stdout and "c1 for crc-a" in result.stdout
    assert result.stderr == ""


def test_cli_check_problems_go_to_stderr_and_exit_2(tmp_path):
    bad = write(tmp_path, 'name = "x"\ncolour = "red"\n[outcomes.binary]\nprice = -1\n', "bad.toml")
    good = LIBRARY / "fee-only.toml"
    result = runner.invoke(app, ["contract", "check", str(bad), str(good), str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{bad}: outcomes.binary.price: must be >= 0",
        f"{bad}: colour: is not a known key",
        f"{tmp_path / 'missing.toml'}: no such file",
    ]
    assert f"{good}: OK" in result.stdout  # the good file is still checked and summarised
    assert f"{bad}: OK" not in result.stdout


def test_cli_check_keeps_brackets_in_problems(tmp_path):
    bad = write(tmp_path, 'name = "x"\n[fee]\nper_episode = 1\n[at_risk]\nby_year = [2]\ntarget_pp = 1\n')
    result = runner.invoke(app, ["contract", "check", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{bad}: at_risk.by_year[0]: must be <= 1"


def test_cli_list_and_show():
    result = runner.invoke(app, ["contract", "list"])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert name in result.stdout
    assert "Transforming Rehabilitation CRC contract as launched" in result.stdout
    shown = runner.invoke(app, ["contract", "show", "staged"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (LIBRARY / "staged.toml").read_text(encoding="utf-8")
    assert "[at_risk]" in shown.stdout  # TOML tables are printed, not read as markup


def test_cli_show_unknown_design_exits_2():
    result = runner.invoke(app, ["contract", "show", "nope"])
    assert result.exit_code == 2
    assert "no design named 'nope'; choose from accelerator" in result.stderr
