"""A throwaway PostgreSQL cluster for the tests that must run on a real server.

The ledger's locking, triggers and transactions differ by backend, so testing
only SQLite would leave half of it untested. `Cluster.start()` makes a cluster
in a temporary directory (its Unix socket there too, on a free port, fsync off:
it is thrown away), and each test gets a fresh schema on it.

PostgreSQL refuses to run as root; when we are root the server commands run as
the `postgres` user (which Debian's package creates) through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import URL, make_url


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def bindir() -> Path:
    """Directory of initdb/pg_ctl: on PATH, or Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not candidates:
        raise Unavailable("initdb not found on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return Path(candidates[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server the tests may create schemas on."""

    def __init__(self, admin_url: URL, *, drop_after: bool) -> None:
        self.admin_url = admin_url
        self.drop_after = drop_after

    def _admin(self):
        url = self.admin_url
        kwargs = {"dbname": url.database or "postgres", "user": url.username, "password": url.password,
                  "host": url.query.get("host") or url.host, "port": url.port}
        return psycopg.connect(autocommit=True, **{k: v for k, v in kwargs.items() if v is not None})

    def fresh_schema(self) -> str:
        """A URL (as text, for subprocesses too) whose connections see only a new, empty schema.

        A schema per test rather than a database: CREATE DATABASE costs about
        0.3 s, CREATE SCHEMA almost nothing, and the ledger's SQL never names
        a schema, so `search_path` isolates it completely.
        """
        name = f"pbrkit_test_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        query = dict(self.admin_url.query, options=f"-csearch_path={name}")
        return self.admin_url.set(query=query).render_as_string(hide_password=False)

    def drop_schema(self, url: str) -> None:
        if not self.drop_after:
            return
        name = make_url(url).query["options"].removeprefix("-csearch_path=")
        with self._admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def stop(self) -> None:
        """Nothing to stop on a server we did not start."""


class Cluster(Server):
    """A cluster of our own in a temporary directory, removed by `stop()`."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="pbrkit-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "server.log"
        self.sockets.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as error:
                shutil.rmtree(self.root, ignore_errors=True)
                raise Unavailable("running as root and there is no 'postgres' user to run the server as") from error
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        super().__init__(URL.create("postgresql+psycopg", username="postgres", database="postgres",
                                    port=self.port, query={"host": str(self.sockets)}), drop_after=False)

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise Unavailable(f"{Path(args[0]).name} failed ({result.returncode}): "
                              f"{(result.stderr or result.stdout).strip()[-2000:]} {log}".strip())

    def start(self) -> Cluster:
        try:
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
            options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                      "-w", "-t", "60", "start")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def server() -> Server:
    """The server for this test session: `PBRKIT_TEST_POSTGRES_URL`, or a cluster of our own.

    The URL's user must be allowed to create schemas in its database; each
    test gets its own and drops it afterwards.
    """
    override = os.environ.get("PBRKIT_TEST_POSTGRES_URL")
    if override:
        url = make_url(override)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return Server(url, drop_after=True)
    try:
        return Cluster().start()
    except (OSError, subprocess.SubprocessError) as error:
        raise Unavailable(f"{type(error).__name__}: {error}") from error
