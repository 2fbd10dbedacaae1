"""A portal with the synthetic programme loaded, for `make demo`: one account per role, data, a run, a report.

Everything goes through the same service functions a person's clicks go
through (upload validated, run as a job, every change audited), so the demo
shows the portal as it is, not a back door into its tables. Loading twice is
harmless: accounts get fresh passwords, the programme is reused, the upload
and the run are repeated (the ledger records an identical run only once).
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from pbrkit.web import accounts, audit, datasets, jobs, programmes
from pbrkit.web.models import Programme, User
from pbrkit.web.portal import Portal
from pbrkit.web.settings import Settings

PROGRAMME = "tr2014-demo"
DEMO_DOMAIN = "demo.pbrkit.test"


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str
    provider_id: str | None = None


def _account(session, email: str, role: str, provider_id: str | None, commissioner) -> DemoAccount:
    password = secrets.token_urlsafe(12)
    existing = session.scalar(select(User).where(User.email == email))
    if existing is None:
        accounts.add_user(session, audit.COMMAND_LINE, email=email, role=role, password=password,
                          provider_id=provider_id)
    else:
        accounts.change_user(session, commissioner or accounts.principal_of(existing), existing.id,
                             password=password, active=True)
    return DemoAccount(role, email, password, provider_id)


def load_demo(settings: Settings, data_dir: Path, *, provider_id: str, design: str = "tr2014",
              through: str = "2017Q4", as_of: str = "2017-12-31", report: Path | None = None) -> tuple[
                  list[DemoAccount], str]:
    """Load the demo programme; the accounts made and the run's sentence."""
    settings = settings.model_copy(update={"run_jobs_in_request": True})
    with Portal(settings) as portal, portal.session() as session:
        made = [_account(session, f"commissioner@{DEMO_DOMAIN}", "commissioner", None, None)]
        boss = accounts.principal_of(session.scalar(select(User).where(User.email == made[0].email)))
        made.append(_account(session, f"{provider_id}@{DEMO_DOMAIN}", "provider", provider_id, boss))
        made.append(_account(session, f"auditor@{DEMO_DOMAIN}", "auditor", None, boss))
        programme = session.scalar(select(Programme).where(Programme.name == PROGRAMME))
        if programme is None:
            programme = programmes.add_programme(session, boss, name=PROGRAMME,
                                                 title="Transforming Rehabilitation (synthetic)", design=design)
        with ExitStack() as files:
            uploads = [datasets.Upload(p.name, files.enter_context(p.open("rb")))
                       for p in sorted(data_dir.iterdir()) if p.suffix in (".parquet", ".csv")]
            dataset = datasets.upload_dataset(session, boss, programme.id, uploads,
                                              storage_dir=settings.storage_dir,
                                              unpacked_limit=settings.upload_limit_bytes * settings.unpacked_ratio_limit)
        job = jobs.start_run(portal, session, boss, programme.id, dataset_id=dataset.id, through=through,
                             as_of=as_of)
        session.refresh(job)
        if job.status != "succeeded":
            raise RuntimeError(f"the demo payment run did not succeed: {job.message}")
        attached = {r.filename for r in programmes.reports(session, boss, programme.id)}
        if report is not None and report.name not in attached:
            programmes.attach_report(session, boss, programme.id, title="Contract designs compared (simulated)",
                                     filename=report.name, content=report.read_bytes())
        return made, job.message
