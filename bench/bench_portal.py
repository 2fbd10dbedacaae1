"""The portal under load (issue 7): 50 concurrent clients for 60 s on loopback.

Seeded first, in this process: a SQLite portal with a tr2014 programme, the
synthetic national dataset at scale 0.01 (2011 to 2016) uploaded, and one
payment run through 2016Q4, so every provider has statements and a dashboard.
Then the portal is served by uvicorn in a process of its own (one worker, no
access log), and 50 clients (asyncio, one kept-alive connection each), signed
in as a provider, ask at random for the provider dashboard page
(`/providers/{id}`: HTML, chart specs and tables) or one of the provider's
statements from the API (`/api/v1/statements/{contract}/{period}`), half each.

Two rows, each the 95th percentile latency (the aim is under 200 ms) and the
errors (anything but 200; there must be none):
- **flat out**: each client asks again as soon as it is answered, so the
  server is saturated and latency is mostly queueing (50 / throughput);
- **1 request/s each**: 50 people each clicking once a second.
The baseline of each is `/healthz` under the same clients in the same run:
what the server, the loopback and the clients cost before the portal does any
work.

`PBRKIT_BENCH_PORTAL_SECONDS` sets the length of each of the four load phases
(default 60).
Run alone: `python bench/run.py portal`, or `python bench/bench_portal.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIENTS = 50
TARGET_P95_SECONDS = 0.2
PASSWORD = "bench password, not a secret"
PROVIDER_EMAIL = "finance@provider.example"
SECRET = "bench-secret-" + "b" * 40
THROUGH, AS_OF = "2016Q4", "2016-12-31"


def _settings_env(directory: Path) -> dict[str, str]:
    return {"PBRKIT_ENVIRONMENT": "test", "PBRKIT_DATABASE_URL": f"sqlite:///{directory / 'portal.sqlite'}",
            "PBRKIT_SECRET_KEY": SECRET, "PBRKIT_STORAGE_DIR": str(directory / "files"),
            "PBRKIT_SECURE_COOKIES": "false"}


def seed(directory: Path) -> str:
    """The seeded programme; returns the provider whose user the clients sign in as."""
    import zipfile

    from pbrkit.synth import generate, write
    from pbrkit.web import accounts, datasets, jobs, programmes
    from pbrkit.web.portal import Portal
    from pbrkit.web.settings import Settings

    tables = directory / "synthetic"
    data = generate(start=dt.date(2011, 1, 1), years=6, scale=0.01, seed=7)
    write(data, tables, "csv")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(tables.iterdir()):
            z.write(path, path.name)
    archive.seek(0)
    provider = sorted(set(data.episodes["provider_id"].unique().to_list()) - {"nps"})[0]
    settings = Settings(**{k.removeprefix("PBRKIT_").lower(): v for k, v in _settings_env(directory).items()},
                        run_jobs_in_request=True)
    with Portal(settings) as portal, portal.session() as session:
        commissioner = accounts.principal_of(accounts.add_user(
            session, "bench", email="commissioner@bench.example", role="commissioner", password=PASSWORD))
        accounts.add_user(session, "bench", email=PROVIDER_EMAIL, role="provider", password=PASSWORD,
                          provider_id=provider)
        programme = programmes.add_programme(session, commissioner, name="tr2014", title="Transforming",
                                             design="tr2014")
        kept = datasets.upload_dataset(session, commissioner, programme.id,
                                       [datasets.Upload("synthetic.zip", archive)],
                                       storage_dir=settings.storage_dir, unpacked_limit=10**10)
        job = jobs.start_run(portal, session, commissioner, programme.id, dataset_id=kept.id, through=THROUGH,
                             as_of=AS_OF)
        if job.status != "succeeded":
            raise RuntimeError(f"the seeding payment run failed: {job.message}")
    return provider


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The portal in its own process (so the clients do not share its interpreter)."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, __file__, "serve", str(self.port)],
                                        env={**os.environ, **_settings_env(directory)})

    def __enter__(self) -> Server:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the portal exited while starting")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the portal did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def serve(port: int) -> None:
    import uvicorn

    from pbrkit.web import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One GET on a kept-alive connection: the status, with the body read to its end."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ConnectionError("an answer without Content-Length")
    await reader.readexactly(length)
    return status


async def _load(url: str, paths: list[str], seconds: float, cookies: dict[str, str],
                every: float | None = None) -> tuple[list[float], int, int]:
    """CLIENTS clients asking for `paths` at random: every latency in seconds, the
    number of errors and of requests. Each client asks as soon as its last answer
    came, or with `every`, once every that many seconds (if answered by then).

    The clients speak HTTP/1.1 over asyncio streams themselves: an HTTP library's
    own work per request would be timed too, on the same two cores as the server.
    """
    host, port = url.removeprefix("http://").split(":")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    requests = {path: (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                       "Accept: text/html,application/json\r\n\r\n").encode() for path in set(paths)}
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal errors
        turn = random.Random(number)
        reader, writer = await asyncio.open_connection(host, int(port))
        due = time.monotonic() + (turn.uniform(0, every) if every else 0)
        try:
            while time.monotonic() < stop:
                if every:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    due += every
                request = requests[paths[turn.randrange(len(paths))]]
                start = time.perf_counter()
                try:
                    ok = await _get(reader, writer, request) == 200
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append(time.perf_counter() - start)
                errors += not ok
        finally:
            writer.close()

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return latencies, errors, len(latencies)


def _p95(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[94]


def _signed_in_cookies(url: str) -> dict[str, str]:
    """One sign-in (argon2 at its real cost), its cookie shared by every client."""
    import httpx

    answer = httpx.post(f"{url}/api/v1/session", json={"email": PROVIDER_EMAIL, "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return dict(answer.cookies)


def _row(name: str, ours: tuple[list[float], int, int], base: tuple[list[float], int, int], seconds: float,
         detail: str) -> dict:
    (latencies, errors, n), (base_latencies, base_errors, base_n) = ours, base
    return {
        "name": name, "seconds": _p95(latencies), "target_seconds": TARGET_P95_SECONDS,
        "baseline_name": "/healthz, same load", "baseline_seconds": _p95(base_latencies),
        "limits_met": errors == 0 and base_errors == 0,
        "note": (f"{n:,} requests ({n / seconds:,.0f}/s), {errors} errors, median "
                 f"{1000 * statistics.median(latencies):.0f} ms; /healthz {base_n / seconds:,.0f}/s, "
                 f"{base_errors} errors; {detail}"),
    }


def run(ctx) -> list[dict]:
    import httpx

    seconds = float(os.environ.get("PBRKIT_BENCH_PORTAL_SECONDS", "60"))
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        provider = seed(directory)
        seeded = time.perf_counter() - t0
        with Server(directory) as server:
            cookies = _signed_in_cookies(server.url)
            own = httpx.get(f"{server.url}/api/v1/statements", cookies=cookies, timeout=30).json()
            dashboard = f"/providers/{provider}"
            statement_api = [f"/api/v1/statements/{s['contract_id']}/{s['period']}" for s in own]
            # Half the requests are the dashboard, half one of the provider's statements.
            paths = [dashboard] * len(statement_api) + statement_api
            for path in (dashboard, statement_api[0], "/healthz"):  # warm: templates, first queries
                httpx.get(f"{server.url}{path}", cookies=cookies, timeout=30).raise_for_status()
            flat_out = [asyncio.run(_load(server.url, p, seconds, cookies)) for p in (paths, ["/healthz"])]
            paced = [asyncio.run(_load(server.url, p, seconds, cookies, every=1.0)) for p in (paths, ["/healthz"])]
    detail = f"{len(own)} statements of {provider}; {seconds:g} s a phase; seeded in {seeded:.0f} s"
    return [
        _row(f"portal: {CLIENTS} clients flat out, dashboard + statement API, p95", *flat_out, seconds, detail),
        _row(f"portal: {CLIENTS} clients, 1 request/s each, dashboard + statement API, p95", *paced, seconds, detail),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    else:
        for row in run(None):
            print(row)
