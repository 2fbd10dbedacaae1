"""Uploading a dataset: unpack, validate against the data standard, keep only if clean.

An upload is a zip of a dataset directory or the table files themselves
(`episodes.csv`, `offences.parquet`...). It is unpacked into a private
directory and checked with `pbrkit.standard`'s validator; if any rule is
broken, the directory is removed and the problems are returned by file, row,
column and rule, so nothing unclean is ever stored. A clean dataset is moved
under the storage directory and recorded with who sent it and when.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbrkit.standard.problems import Problem
from pbrkit.standard.schema import TABLES
from pbrkit.standard.validate import validate_dataset
from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, require
from pbrkit.web.models import Dataset
from pbrkit.web.programmes import programme

#: The file names a dataset may hold: one per table, CSV or Parquet.
TABLE_FILES = frozenset(f"{name}.{ext}" for name in TABLES for ext in ("csv", "parquet"))
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the sender gave it and its bytes."""

    filename: str
    content: BinaryIO


class DatasetProblems(Exception):
    """The upload breaks the data standard, or is no dataset at all (422). Nothing was stored."""

    def __init__(self, problems: list[Problem], summary: str) -> None:
        super().__init__(summary)
        self.problems, self.summary = problems, summary


def problem(rule: str) -> Problem:
    """A problem with the upload as a whole, in the validator's terms."""
    return Problem("upload", None, None, None, rule)


def _copy_limited(source: BinaryIO, target: Path, budget: list[int]) -> None:
    """Copy, counting bytes against the shared `budget`; a zip member that unpacks
    larger than it claims cannot get past it."""
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise DatasetProblems([problem("the upload unpacks to more than the size allowed")],
                                      "The upload is too large once unpacked.")
            out.write(chunk)


def _member_name(name: str) -> str | None:
    """The table file a zip member is, or None for anything to leave out (folders,
    `__MACOSX`, hidden files). Members deeper than one folder are not looked at."""
    path = PurePosixPath(name.replace("\\", "/"))
    if name.endswith("/") or path.is_absolute() or ".." in path.parts or len(path.parts) > 2:
        return None
    if path.parts[0] == "__MACOSX" or path.name.startswith("."):
        return None
    return path.name if path.name in TABLE_FILES else None


def _unpack_zip(upload: Upload, into: Path, budget: list[int]) -> None:
    try:
        archive = zipfile.ZipFile(upload.content)
    except zipfile.BadZipFile:
        raise DatasetProblems([problem(f"{upload.filename} is not a readable zip file")],
                              "The upload could not be opened.") from None
    with archive:
        for member in archive.infolist():
            name = _member_name(member.filename)
            if name is None:
                continue
            if (into / name).exists():
                raise DatasetProblems([problem(f"{name} appears twice in {upload.filename}")],
                                      "The upload holds a table twice.")
            with archive.open(member) as source:
                _copy_limited(source, into / name, budget)


def unpack(uploads: Iterable[Upload], into: Path, unpacked_limit: int) -> None:
    """Write the uploads' table files into `into`; anything that is not one is a problem."""
    budget = [unpacked_limit]
    for upload in uploads:
        name = PurePosixPath(upload.filename.replace("\\", "/")).name
        if name.lower().endswith(".zip"):
            _unpack_zip(upload, into, budget)
        elif name in TABLE_FILES:
            if (into / name).exists():
                raise DatasetProblems([problem(f"{name} was sent twice")], "The upload holds a table twice.")
            _copy_limited(upload.content, into / name, budget)
        else:
            expected = ", ".join(sorted(TABLE_FILES))
            raise DatasetProblems([problem(f"{name!r} is neither a zip nor a table file ({expected})")],
                                  "The upload is not a dataset.")
    if not any(into.iterdir()):
        raise DatasetProblems([problem("the upload holds no table files (episodes.csv, offences.csv...)")],
                              "The upload is not a dataset.")


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def upload_dataset(session: Session, principal: Principal | None, programme_id: int, uploads: list[Upload], *,
                   storage_dir: Path, unpacked_limit: int) -> Dataset:
    """Validate and keep a dataset for a programme, or raise `DatasetProblems` having kept nothing."""
    require(principal, Action.upload_datasets)
    programme(session, principal, programme_id)
    incoming = storage_dir / "incoming" / uuid.uuid4().hex
    incoming.mkdir(parents=True)
    try:
        unpack(uploads, incoming, unpacked_limit)
        findings = validate_dataset(incoming)
        if not findings.ok:
            raise DatasetProblems(findings.problems, findings.summary())
        sha = _digest(incoming)
        relative = Path("datasets") / f"{sha[:16]}-{uuid.uuid4().hex[:8]}"
        (storage_dir / "datasets").mkdir(exist_ok=True)
        incoming.rename(storage_dir / relative)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    names = ", ".join(u.filename for u in uploads)
    dataset = Dataset(programme_id=programme_id, filename=names, sha256=sha, storage_path=relative.as_posix(),
                      rows=json.dumps(findings.rows, sort_keys=True), uploaded_by=principal.user_id)
    session.add(dataset)
    session.flush()
    audit.record(session, principal, "dataset uploaded", f"dataset {dataset.id}", programme_id=programme_id,
                 filename=names, sha256=sha, rows=findings.rows)
    session.commit()
    return dataset


def datasets(session: Session, principal: Principal | None, programme_id: int | None = None) -> list[Dataset]:
    require(principal, Action.read_datasets)
    query = select(Dataset).order_by(Dataset.id)
    if programme_id is not None:
        query = query.where(Dataset.programme_id == programme_id)
    return list(session.scalars(query))


def dataset(session: Session, principal: Principal | None, dataset_id: int) -> Dataset:
    require(principal, Action.read_datasets)
    found = session.get(Dataset, dataset_id)
    if found is None:
        raise NotFound(f"no dataset {dataset_id}")
    return found


def problem_rows(problems: list[Problem]) -> list[dict[str, object]]:
    """Problems as the API lists them: file, table, row, column, value, rule, and the line the CLI prints."""
    def file_of(p: Problem) -> str | None:
        name = Path(p.path).name if p.path else None
        return name if name in TABLE_FILES else None  # a problem with the whole upload has no file

    return [
        {"file": file_of(p), "table": p.table, "row": p.row, "column": p.column, "value": p.value, "rule": p.rule,
         "rows_in_all": p.rows_in_all, "line": p.line()}
        for p in problems
    ]
