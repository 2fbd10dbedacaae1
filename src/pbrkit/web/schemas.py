"""What the REST API accepts and returns: the OpenAPI document is built from these."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pbrkit.pay.statement import Statement


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    detail: str


class SignIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class UserOut(Out):
    id: int
    email: str
    role: str
    provider_id: str | None
    active: bool
    created_at: str


class SessionOut(BaseModel):
    user: UserOut
    #: Send back as the X-CSRF-Token header (or csrf_token form field) on every change.
    csrf_token: str | None


class TokenIn(BaseModel):
    name: str = Field(default="API token", max_length=200)


class TokenOut(BaseModel):
    id: int
    name: str
    #: Shown once: only its hash is kept.
    token: str


class UserIn(BaseModel):
    email: str = Field(max_length=320)
    role: Literal["commissioner", "provider", "auditor"]
    provider_id: str | None = Field(default=None, max_length=100)
    password: str = Field(max_length=1024)


class UserChange(BaseModel):
    role: Literal["commissioner", "provider", "auditor"] | None = None
    provider_id: str | None = Field(default=None, max_length=100)
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class ProgrammeIn(BaseModel):
    name: str = Field(max_length=100)
    title: str = Field(max_length=1000)
    design: str = Field(max_length=100)
    baseline: str = Field(default="2011", max_length=32)


class ProgrammeOut(Out):
    id: int
    name: str
    title: str
    design: str
    baseline: str
    created_at: str


class ReportOut(Out):
    id: int
    programme_id: int
    title: str
    filename: str
    attached_by: int
    attached_at: str


class DatasetOut(Out):
    id: int
    programme_id: int
    filename: str
    sha256: str
    rows: dict[str, int]
    uploaded_by: int
    uploaded_at: str

    @field_validator("rows", mode="before")
    @classmethod
    def _rows(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class DataProblem(BaseModel):
    file: str | None
    table: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    rows_in_all: int
    line: str


class DatasetRefused(BaseModel):
    detail: str
    problems: list[DataProblem]


class RunIn(BaseModel):
    dataset_id: int
    #: The last quarter to pay, e.g. 2017Q4.
    through: str = Field(max_length=16)
    #: The date the data are complete to (default: their latest date).
    as_of: str | None = Field(default=None, max_length=10)


class JobOut(Out):
    id: int
    kind: str
    programme_id: int
    dataset_id: int
    parameters: dict[str, Any]
    status: str
    progress: float
    message: str
    result: dict[str, Any] | None
    requested_by: int
    requested_at: str
    finished_at: str | None

    @field_validator("parameters", "result", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class StatementSummary(BaseModel):
    contract_id: str
    provider_id: str
    design: str
    period: str
    total_pence: int
    lines: int


class StatementLine(BaseModel):
    kind: str
    key: str
    description: str
    quantity: str
    unit: str
    rate: str
    amount_pence: int
    basis: dict[str, Any]


class StatementOut(BaseModel):
    contract_id: str
    provider_id: str
    design: str
    period: str
    as_of: str
    total_pence: int
    sentence: str
    notes: list[str]
    lines: list[StatementLine]

    @classmethod
    def of(cls, s: Statement) -> StatementOut:
        return cls(
            contract_id=s.contract_id, provider_id=s.provider_id, design=s.design, period=s.period,
            as_of=s.as_of.isoformat(), total_pence=s.total, sentence=s.sentence(), notes=list(s.notes),
            lines=[StatementLine(**{**(d := line.as_dict()), "amount_pence": d["amount"]}) for line in s.lines],
        )


class ApprovalIn(BaseModel):
    note: str = Field(default="", max_length=10_000)
    #: The ledger run of the statement the approver saw; refused (422) if a later run changed it.
    run_id: int | None = None


class ApprovalOut(Out):
    id: int
    contract_id: str
    provider_id: str
    period: str
    run_id: int
    note: str
    approved_by: int
    approved_at: str


class Dashboard(BaseModel):
    provider_id: str
    job_id: int | None
    measures: list[dict[str, Any]]
    funnel_period: str | None
    funnel: list[dict[str, Any]]
    payments_by_kind: list[dict[str, Any]]


class Renewal(BaseModel):
    design: str
    contract_id: str
    provider_id: str
    cohorts: int
    offenders: int
    improvement_pp: str | None
    rank: int
    of: int
    renewed: bool
    reason: str


class QueryIn(BaseModel):
    contract_id: str = Field(max_length=200)
    period: str = Field(max_length=16)
    line_key: str = Field(max_length=1000)
    body: str = Field(max_length=10_000)


class MessageIn(BaseModel):
    body: str = Field(max_length=10_000)
    close: bool = False


class MessageOut(BaseModel):
    id: int
    author: str
    created_at: str
    body: str


class QueryOut(BaseModel):
    id: int
    contract_id: str
    provider_id: str
    period: str
    line_key: str
    status: str
    raised_by: int
    raised_at: str
    messages: list[MessageOut]

    @classmethod
    def of(cls, thread) -> QueryOut:
        return cls(
            id=thread.id, contract_id=thread.contract_id, provider_id=thread.provider_id, period=thread.period,
            line_key=thread.line_key, status=thread.status, raised_by=thread.raised_by, raised_at=thread.raised_at,
            messages=[MessageOut(id=m.id, author=m.author.email, created_at=m.created_at, body=m.body)
                      for m in thread.messages],
        )


class AuditOut(Out):
    id: int
    at: str
    actor_id: int | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @field_validator("details", mode="before")
    @classmethod
    def _details(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value
