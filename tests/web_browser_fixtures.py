"""A live portal and a real headless Chromium for the browser tests.

The portal runs under uvicorn on a free loopback port, in a thread of the test
process, over a SQLite file in a temporary directory, with payment runs on its
worker thread as in service. The browser is Debian's `chromium`, driven by
Playwright with `executable_path` (Playwright never downloads a browser here).
Without Chromium the tests skip, except on CI (`CI=true`), where they fail: a
green CI must mean the pages were tried in a browser.

Accessibility: axe-core (`web_browser_axe/axe.min.js`, the npm package's
build, MPL-2.0) is injected into each page and must find no violation of
WCAG 2.0, 2.1 or 2.2 at levels A and AA.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web_portal import PASSWORD, SECRET, zip_directory

from pbrkit.synth import generate, write
from pbrkit.web import accounts
from pbrkit.web.app import create_app
from pbrkit.web.portal import Portal
from pbrkit.web.settings import Settings

AXE = Path(__file__).parent / "web_browser_axe" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "browser"
COMMISSIONER, AUDITOR = "commissioner@example.org", "auditor@example.org"
#: The synthetic data's quarters: paid through the end of 2016, complete to its last day.
THROUGH, AS_OF = "2016Q4", "2016-12-31"


def _missing(message: str) -> None:
    """Skip, except on CI, where a missing browser must fail the run."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def chromium_executable() -> str:
    """Debian's Chromium (or PBRKIT_CHROMIUM)."""
    found = os.environ.get("PBRKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _missing("Chromium is not installed (apt-get install chromium): the browser tests need it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LivePortal:
    """The running service: its address, its portal, the synthetic dataset zipped, and who may sign in."""

    url: str
    portal: Portal
    dataset_zip: Path
    provider_id: str
    provider_email: str


def _synthetic(directory: Path) -> tuple[Path, str]:
    """A small synthetic national dataset (zipped) and the first contracted provider in it."""
    data = generate(start=dt.date(2011, 1, 1), years=6, scale=0.004, seed=5)
    tables = directory / "synthetic"
    write(data, tables, "csv")
    archive = directory / "synthetic.zip"
    archive.write_bytes(zip_directory(tables))
    providers = sorted(set(data.episodes["provider_id"].unique().to_list()) - {"nps"})
    return archive, providers[0]


class _Server:
    """uvicorn in a thread, stopped by flagging it to exit."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="portal", daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the portal did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_portal(tmp_path_factory) -> Iterator[LivePortal]:
    directory = tmp_path_factory.mktemp("browser")
    archive, provider_id = _synthetic(directory)
    settings = Settings(environment="test", database_url=f"sqlite:///{directory / 'portal.sqlite'}",
                        secret_key=SECRET, storage_dir=directory / "files", secure_cookies=False)
    provider_email = f"finance@{provider_id}.example"
    with Portal(settings) as portal:
        with portal.session() as session:
            for email, role, provider in ((COMMISSIONER, "commissioner", None), (AUDITOR, "auditor", None),
                                          (provider_email, "provider", provider_id)):
                accounts.add_user(session, "test", email=email, role=role, password=PASSWORD, provider_id=provider)
        port = free_port()
        with _Server(create_app(settings, portal), port):
            yield LivePortal(f"http://127.0.0.1:{port}", portal, archive, provider_id, provider_email)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_portal):
    context = browser.new_context(base_url=live_portal.url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG A and AA violations on the page as it now stands. Frames are
    left out: the only one is a simulation report, sandboxed and not the portal's page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], iframes: false})",
        WCAG_TAGS)
    return result["violations"]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in violations)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, email: str) -> None:
    page.goto("/sign-in")
    assert_accessible(page)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?signed_out=true")
    assert page.get_by_text("You have signed out").is_visible()
