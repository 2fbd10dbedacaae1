"""Payment runs as background jobs: measure a dataset, pay its programme's design, record in the ledger.

The work is exactly `pbrkit pay`'s (`pbrkit.pay.statements` then
`Ledger.record_run`, one transaction), plus the measures each provider's
dashboard shows. A job's status, progress (0 to 1) and message are kept in the
database, so any request can poll it. Jobs run one at a time on a worker
thread (payment runs queue on the ledger's write lock anyway); with
`run_jobs_in_request` they run inside the request that starts them.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pbrkit.web import audit
from pbrkit.web.access import Action, NotFound, Principal, require
from pbrkit.web.models import Dataset, Job, MeasureResult, Programme, now
from pbrkit.web.programmes import programme as find_programme

if TYPE_CHECKING:
    from pbrkit.web.portal import Portal

PAYMENT_RUN = "payment_run"
#: The system's name in the audit log, for what a job does after its request has ended.
SYSTEM = "system"
#: Seconds between progress writes, so a fast run does not write once per statement.
PROGRESS_EVERY = 0.5


class InvalidRun(ValueError):
    """A run that cannot be started (422); the message says why."""


def start_run(portal: Portal, session: Session, principal: Principal | None, programme_id: int, *,
              dataset_id: int, through: str, as_of: str | None = None) -> Job:
    """Queue a payment run of a programme's design on one of its datasets."""
    from pbrkit.measure.periods import parse_date
    from pbrkit.pay.quarters import quarter_index

    require(principal, Action.start_runs)
    find_programme(session, principal, programme_id)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.programme_id != programme_id:
        raise InvalidRun(f"programme {programme_id} has no dataset {dataset_id}")
    try:
        quarter_index(through)
        if as_of is not None:
            parse_date(as_of, "as_of")
    except ValueError as error:
        raise InvalidRun(str(error)) from None
    parameters = {"through": through, "as_of": as_of}
    job = Job(kind=PAYMENT_RUN, programme_id=programme_id, dataset_id=dataset_id,
              parameters=json.dumps(parameters, sort_keys=True), requested_by=principal.user_id,
              message="waiting to start")
    session.add(job)
    session.flush()
    audit.record(session, principal, "payment run started", f"job {job.id}", programme_id=programme_id,
                 dataset_id=dataset_id, **parameters)
    session.commit()
    portal.jobs.submit(job.id)
    session.refresh(job)
    return job


def jobs(session: Session, principal: Principal | None) -> list[Job]:
    require(principal, Action.read_jobs)
    return list(session.scalars(select(Job).order_by(Job.id.desc())))


def job(session: Session, principal: Principal | None, job_id: int) -> Job:
    require(principal, Action.read_jobs)
    found = session.get(Job, job_id)
    if found is None:
        raise NotFound(f"no job {job_id}")
    return found


class JobRunner:
    """Runs jobs one at a time, off the request thread."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.inline = portal.settings.run_jobs_in_request
        self._pool = None if self.inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="pbrkit-job")
        self._lock = threading.Lock()
        self._abandon_interrupted()

    def _abandon_interrupted(self) -> None:
        """Jobs left queued or running by a service that stopped will never finish: say so."""
        with self.portal.session() as session:
            session.execute(update(Job).where(Job.status.in_(("queued", "running")))
                            .values(status="failed", message="interrupted: the service stopped", finished_at=now()))
            session.commit()

    def submit(self, job_id: int) -> Future | None:
        if self._pool is None:
            self.run(job_id)
            return None
        return self._pool.submit(self.run, job_id)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self, job_id: int) -> None:
        """Run one job to the end; any failure is recorded on the job, never raised."""
        with self._lock:
            try:
                result = PaymentRun(self.portal, job_id).run()
            except Exception as error:  # noqa: BLE001 - a failed run is reported, the worker carries on
                self._finish(job_id, "failed", f"failed: {error}", None, "payment run failed", error=str(error))
            else:
                self._finish(job_id, "succeeded", result.pop("sentence"), result, "payment run finished",
                             **result)

    def _finish(self, job_id: int, status: str, message: str, result: dict[str, Any] | None, action: str,
                **details: Any) -> None:
        with self.portal.session() as session:
            job = session.get(Job, job_id)
            job.status, job.message, job.finished_at = status, message, now()
            if status == "succeeded":
                job.progress = 1.0
            job.result = json.dumps(result, sort_keys=True) if result is not None else None
            audit.record(session, SYSTEM, action, f"job {job_id}", requested_by=job.requested_by, **details)
            session.commit()


class PaymentRun:
    """One payment run: load, measure, pay, record; progress written as it goes."""

    def __init__(self, portal: Portal, job_id: int) -> None:
        self.portal, self.job_id = portal, job_id
        self._written_at = 0.0

    def progress(self, fraction: float, message: str, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._written_at < PROGRESS_EVERY:
            return
        self._written_at = time.monotonic()
        with self.portal.session() as session:
            session.execute(update(Job).where(Job.id == self.job_id)
                            .values(status="running", progress=round(fraction, 4), message=message))
            session.commit()

    def run(self) -> dict[str, Any]:
        import pbrkit
        from pbrkit.contracts import design
        from pbrkit.measure import latest_date
        from pbrkit.pay import payable_quarters, prepare, statements

        with self.portal.session() as session:
            job = session.get(Job, self.job_id)
            programme = session.get(Programme, job.programme_id)
            dataset = session.get(Dataset, job.dataset_id)
            parameters = json.loads(job.parameters)
        self.progress(0.01, "loading the dataset", force=True)
        # Validated in full at upload, and stored by its hash: types are still enforced on load.
        data = pbrkit.load(self.portal.settings.storage_dir / dataset.storage_path, check=False)
        as_of = parameters["as_of"] or latest_date(data).isoformat()
        public = set(self.portal.settings.public_providers)
        chosen = design(programme.design)
        contracts = [chosen.for_provider(p)
                     for p in sorted(set(data.episodes["provider_id"].unique().to_list()) - public)]
        self.progress(0.05, "measuring proven reoffending", force=True)
        inputs = prepare(data, as_of, contracts)  # measured once, for payments and dashboards alike
        self._keep_measures(data, as_of, programme.baseline, inputs)
        total = sum(len(payable_quarters(c, parameters["through"])) for c in contracts) or 1
        done = [0]

        def paying(what: str) -> None:
            done[0] += 1
            self.progress(0.3 + 0.6 * done[0] / total, f"paying {what}")

        self.progress(0.3, "paying", force=True)
        paid = list(statements(contracts, data, parameters["through"], as_of, progress=paying, inputs=inputs))
        self.progress(0.9, "recording in the ledger", force=True)
        summary = self.portal.ledger.record_run(paid)
        return {
            "sentence": summary.sentence(), "batch_id": summary.batch_id, "as_of": as_of,
            "contracts": len(contracts), "statements": len(paid), "new": summary.new,
            "adjusted": summary.adjusted, "unchanged": summary.unchanged,
            "entries_written": summary.entries_written, "amount_pence": summary.amount_pence,
            "head": summary.head,
        }

    def _keep_measures(self, data, as_of: str, baseline: str, inputs) -> None:
        """Every provider's measures against the programme's baseline, for the dashboards:
        those the payments measured when their baseline is the same, else measured here."""
        from pbrkit.measure import measure

        if (baseline, None) in inputs.measures:
            measured = [row for rows in inputs.measures[(baseline, None)].values() for row in rows]
        else:
            measured = measure(data, by="provider", period="quarter", baseline=baseline, as_of=as_of).to_dicts()
        rows = [
            MeasureResult(job_id=self.job_id, provider_id=row["group"], period=row["period"],
                          figures=json.dumps(row, sort_keys=True, default=str))
            for row in sorted(measured, key=lambda row: (row["group"], row["period"]))
        ]
        with self.portal.session() as session:
            session.add_all(rows)
            session.commit()
