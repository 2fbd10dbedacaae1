"""Uploading datasets: validated with the standard's validator, kept only when clean."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select
from standard_builders import CLEAN, CORPUS, expected_lines
from web_portal import bearer, clean_zip, client_for, portal_on, seed

from pbrkit.web.models import AuditRecord, Dataset

BROKEN = ["age_out_of_range", "missing_column", "unknown_enum", "missing_table", "offence_of_unknown_person",
          "ragged_row", "not_utf8"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    portal = portal_on(f"sqlite:///{root / 'portal.sqlite'}", root / "files", upload_limit_bytes=20_000,
                       unpacked_ratio_limit=5)
    try:
        seeded = seed(portal, objects=False)
        with client_for(portal) as seeded.client:
            headers = bearer(seeded.tokens["commissioner"])
            programme = seeded.client.post("/api/v1/programmes", headers=headers,
                                           json={"name": "uploads", "title": "Uploads", "design": "tr2014"})
            seeded.ids["programme_id"] = programme.json()["id"]
            yield seeded
    finally:
        portal.close()


def upload(world, files):
    return world.client.post(f"/api/v1/programmes/{world.ids['programme_id']}/datasets", files=files,
                             headers=bearer(world.tokens["commissioner"]))


def stored(world) -> tuple[int, list[str]]:
    """Datasets recorded, and the directories kept (incoming ones included)."""
    with world.portal.session() as session:
        rows = session.scalar(select(func.count()).select_from(Dataset))
    root = world.portal.settings.storage_dir
    kept = sorted(str(p.relative_to(root)) for p in root.glob("*/*"))
    return rows, kept


def table_files(directory):
    return [("files", (p.name, p.read_bytes(), "text/csv")) for p in sorted(directory.glob("*.csv"))]


def test_a_clean_zip_is_kept_with_who_and_when(world):
    response = upload(world, {"files": ("dataset.zip", clean_zip(), "application/zip")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"] == {"episodes": 4, "offences": 3, "service_events": 4, "transfers": 1}
    assert body["uploaded_by"] == world.users["commissioner"] and body["uploaded_at"]
    with world.portal.session() as session:
        dataset = session.get(Dataset, body["id"])
        kept = world.portal.settings.storage_dir / dataset.storage_path
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "dataset uploaded")).all()
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in CLEAN.glob("*.csv"))
    assert audit[-1].target == f"dataset {body['id']}" and audit[-1].actor == "commissioner@example.org"


def test_table_files_can_be_sent_without_a_zip(world):
    response = upload(world, table_files(CLEAN))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("case", BROKEN)
def test_a_malformed_dataset_lists_its_problems_and_keeps_nothing(world, case):
    before = stored(world)
    response = upload(world, table_files(CORPUS / case))
    assert response.status_code == 422, response.text
    body = response.json()
    assert [p["line"] for p in body["problems"]] == expected_lines(CORPUS / case)
    for p in body["problems"]:
        assert p["table"] and p["rule"]
        if p["row"] is not None:
            assert p["file"] == f"{p['table']}.csv"
    assert stored(world) == before


def test_problems_name_file_row_column_and_rule(world):
    body = upload(world, table_files(CORPUS / "age_out_of_range")).json()
    assert body["problems"] == [{
        "file": "episodes.csv", "table": "episodes", "row": 3, "column": "age", "value": "9",
        "rule": "must be between 10 and 100", "rows_in_all": 1,
        "line": "episodes:3: column 'age' value '9': must be between 10 and 100",
    }]


def test_an_oversized_upload_is_refused_with_413(world):
    before = stored(world)
    big = ("episodes.csv", b"x" * 30_000, "text/csv")
    response = upload(world, {"files": big})
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b"y" * 1000

    streamed = world.client.post(f"/api/v1/programmes/{world.ids['programme_id']}/datasets", content=chunks(),
                                 headers={**bearer(world.tokens["commissioner"]),
                                          "Content-Type": "multipart/form-data; boundary=zzz"})
    assert streamed.status_code == 413
    assert stored(world) == before


def test_a_zip_that_unpacks_too_large_is_refused(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("episodes.csv", b"0" * 200_000)  # 200 kB that compresses to well under the limit
    before = stored(world)
    response = upload(world, {"files": ("bomb.zip", buffer.getvalue(), "application/zip")})
    assert response.status_code == 422 and "unpacked" in response.json()["detail"]
    assert stored(world) == before


@pytest.mark.parametrize("files, rule", [
    ({"files": ("data.zip", b"not a zip at all", "application/zip")}, "not a readable zip file"),
    ({"files": ("notes.txt", b"hello", "text/plain")}, "neither a zip nor a table file"),
])
def test_what_is_not_a_dataset_is_refused(world, files, rule):
    response = upload(world, files)
    assert response.status_code == 422 and rule in response.json()["problems"][0]["rule"]


def test_zip_members_outside_the_dataset_are_never_written(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(CLEAN.glob("*.csv")):
            archive.write(path, f"../../{path.name}")
    response = upload(world, {"files": ("escape.zip", buffer.getvalue(), "application/zip")})
    assert response.status_code == 422 and "no table files" in response.json()["problems"][0]["rule"]
    root = world.portal.settings.storage_dir
    # Unpacking happens in root/incoming/<id>/, so "../../x.csv" would land in root itself.
    for escaped in (root, root / "incoming", root.parent):
        assert not any((escaped / p.name).exists() for p in CLEAN.glob("*.csv"))
