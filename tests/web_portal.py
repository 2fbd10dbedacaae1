"""Building portals for the web tests: a database on each backend, users, tokens, a small world.

`portal_on(url, storage)` makes a `Portal` whose jobs run inside the request,
so a test sees a finished run as soon as its request returns. `World` seeds
what the authorisation matrix needs: one user per role (two providers), an API
token each, statements for both providers in the ledger, and one of every
portal object (programme, dataset, job, query, report, approval).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from ledger_builders import statement
from standard_builders import CLEAN

from pbrkit.contracts import design
from pbrkit.pay.statement import canonical_json
from pbrkit.web import accounts, auth, datasets, jobs, programmes, queries, statements
from pbrkit.web.app import create_app
from pbrkit.web.portal import Portal
from pbrkit.web.settings import Settings

def cheap_password_hashing() -> None:
    """Argon2 with its smallest cost, for tests only: each sign-in at the real cost
    (64 MiB, 3 passes) takes about half a second here, and the suite signs in often.
    Hashes carry their own parameters, so everything else is exercised as in service."""
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    auth._dummy_hash.cache_clear()


cheap_password_hashing()

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"
NORTH, SOUTH = "crc-north", "crc-south"
#: The statement the matrix asks for: crc-north's.
NORTH_CONTRACT, SOUTH_CONTRACT, PERIOD = "tr2014-crc-north", "tr2014-crc-south", "2015Q1"
ROLES = ("commissioner", "provider_own", "provider_other", "auditor", "anonymous")


def settings_for(url: str, storage: Path, **more) -> Settings:
    return Settings(**{"environment": "test", "database_url": url, "secret_key": SECRET, "storage_dir": storage,
                       "run_jobs_in_request": True, **more})


def portal_on(url: str, storage: Path, **more) -> Portal:
    return Portal(settings_for(url, storage, **more))


def client_for(portal: Portal) -> TestClient:
    """A client over HTTPS (the session cookie is Secure), raising nothing on error codes."""
    return TestClient(create_app(portal.settings, portal), base_url="https://testserver")


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def clean_zip(folder: str | None = "dataset") -> bytes:
    """The clean corpus dataset as a zip, its files in one folder as zipping a directory gives."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(CLEAN.glob("*.csv")):
            archive.write(path, f"{folder}/{path.name}" if folder else path.name)
    return buffer.getvalue()


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


REPORT_HTML = b"<!doctype html><html><head><title>compare</title></head><body><p>report</p></body></html>"


def contract_statement(provider_id: str):
    """A hand-made statement under a real contract (tr2014 for `provider_id`), so renewals can read its terms."""
    contract = design("tr2014").for_provider(provider_id)
    return statement(contract.id, PERIOD, provider_id=provider_id, design=contract.name,
                     terms=canonical_json(contract.model_dump(mode="json")))


@dataclass
class World:
    """Everything the matrix refers to, by id."""

    portal: Portal
    tokens: dict[str, str | None] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)
    client: TestClient | None = None


def seed(portal: Portal, *, objects: bool = True) -> World:
    """Users and tokens; with `objects`, statements and one of every portal object too."""
    world = World(portal)
    with portal.session() as session:
        for role, email, provider in (("commissioner", "commissioner@example.org", None),
                                      ("provider_own", "north@example.org", NORTH),
                                      ("provider_other", "south@example.org", SOUTH),
                                      ("auditor", "auditor@example.org", None)):
            user = accounts.add_user(session, "test", email=email, role=role.split("_")[0], password=PASSWORD,
                                     provider_id=provider)
            world.users[role] = user.id
            world.tokens[role] = accounts.issue_token(session, accounts.principal_of(user), "test")[1]
        world.tokens["anonymous"] = None
        spare = accounts.add_user(session, "test", email="spare@example.org", role="auditor", password=PASSWORD)
        commissioner = accounts.principal_for_user(session, world.users["commissioner"])
        world.ids.update(user_id=spare.id)
        if not objects:
            return world
        north = accounts.principal_for_user(session, world.users["provider_own"])
        portal.ledger.record_run([contract_statement(NORTH), contract_statement(SOUTH)])
        programme = programmes.add_programme(session, commissioner, name="tr2014", title="Transforming",
                                             design="tr2014")
        dataset = datasets.upload_dataset(
            session, commissioner, programme.id, [datasets.Upload("data.zip", io.BytesIO(clean_zip()))],
            storage_dir=portal.settings.storage_dir, unpacked_limit=10**8)
        job = jobs.start_run(portal, session, commissioner, programme.id, dataset_id=dataset.id, through="2015Q1")
        thread = queries.raise_query(session, portal.ledger, north, contract_id=NORTH_CONTRACT, period=PERIOD,
                                     line_key="fee.service", body="Why this fee?")
        report = programmes.attach_report(session, commissioner, programme.id, title="compare",
                                          filename="compare.html", content=REPORT_HTML)
        statements.approve(session, portal.ledger, commissioner, NORTH_CONTRACT, PERIOD)
        spare_token = accounts.issue_token(session, commissioner, "spare")[0]
        world.ids.update(programme_id=programme.id, dataset_id=dataset.id, job_id=job.id, query_id=thread.id,
                         report_id=report.id, user_id=spare.id, token_id=spare_token.id,
                         contract_id=NORTH_CONTRACT, period=PERIOD, provider_id=NORTH)
    return world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A fresh, empty database per module on each backend (a schema of its own on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.fresh_schema()
    yield url
    server.drop_schema(url)
