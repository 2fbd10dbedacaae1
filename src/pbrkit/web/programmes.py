"""Programmes, and the simulation reports attached to them.

A programme names the contract design its providers are paid under; its
datasets and payment runs belong to it, and so do the `pbrkit compare`
reports that tested the design before it was let.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from pbrkit.measure.periods import parse_baseline
from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, require
from pbrkit.web.models import Programme, SimulationReport

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
#: A compare report is one offline HTML file; this keeps one in the database.
LARGEST_REPORT = 50 * 1024 * 1024


class InvalidProgramme(ValueError):
    """A programme or report that cannot be accepted (422)."""


def add_programme(session: Session, principal: Principal | None, *, name: str, title: str, design: str,
                  baseline: str = "2011") -> Programme:
    from pbrkit.contracts import ContractError
    from pbrkit.contracts import design as library_design

    require(principal, Action.manage_programmes)
    if not _NAME.match(name):
        raise InvalidProgramme("a programme name is lower-case letters, digits and -, e.g. tr2014-north")
    try:
        library_design(design)
        parse_baseline(baseline)
    except (ContractError, ValueError) as error:
        raise InvalidProgramme(str(error)) from None
    if session.scalar(select(Programme.id).where(Programme.name == name)) is not None:
        raise InvalidProgramme(f"there is already a programme {name}")
    programme = Programme(name=name, title=title, design=design, baseline=baseline)
    session.add(programme)
    session.flush()
    audit.record(session, principal, "programme added", f"programme {programme.id}", name=name, title=title,
                 design=design, baseline=baseline)
    session.commit()
    return programme


def programmes(session: Session, principal: Principal | None) -> list[Programme]:
    require(principal, Action.read_programmes)
    return list(session.scalars(select(Programme).order_by(Programme.id)))


def programme(session: Session, principal: Principal | None, programme_id: int) -> Programme:
    require(principal, Action.read_programmes)
    found = session.get(Programme, programme_id)
    if found is None:
        raise NotFound(f"no programme {programme_id}")
    return found


def attach_report(session: Session, principal: Principal | None, programme_id: int, *, title: str,
                  filename: str, content: bytes) -> SimulationReport:
    """Attach a `pbrkit compare` report. It is kept as sent and only ever served
    as a download, so its scripts never run on the portal's own pages."""
    require(principal, Action.attach_reports)
    programme(session, principal, programme_id)
    if len(content) > LARGEST_REPORT:
        raise InvalidProgramme(f"a report may be at most {LARGEST_REPORT // (1024 * 1024)} MB")
    try:
        html = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidProgramme("a report must be an HTML file in UTF-8 (as `pbrkit compare` writes)") from None
    if "<html" not in html[:4096].lower():
        raise InvalidProgramme("a report must be an HTML file (as `pbrkit compare --out FILE.html` writes)")
    report = SimulationReport(programme_id=programme_id, title=title or filename, filename=filename, html=html,
                              attached_by=principal.user_id)
    session.add(report)
    session.flush()
    audit.record(session, principal, "report attached", f"report {report.id}", programme_id=programme_id,
                 title=report.title, filename=filename, bytes=len(content))
    session.commit()
    return report


def reports(session: Session, principal: Principal | None, programme_id: int) -> list[SimulationReport]:
    require(principal, Action.read_reports)
    programme(session, principal, programme_id)
    return list(session.scalars(select(SimulationReport).options(defer(SimulationReport.html))
                                .where(SimulationReport.programme_id == programme_id).order_by(SimulationReport.id)))


def report(session: Session, principal: Principal | None, report_id: int) -> SimulationReport:
    require(principal, Action.read_reports)
    found = session.get(SimulationReport, report_id)
    if found is None:
        raise NotFound(f"no report {report_id}")
    return found
