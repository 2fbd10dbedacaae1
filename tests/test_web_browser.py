"""The portal in a real headless Chromium: a commissioner uploads the synthetic
dataset and runs payments, a provider sees only its own statements and raises
a query. Every page visited is checked with axe-core for WCAG 2.2 A and AA;
screenshots go to test-artifacts/browser/.

The flow is one test, as a person would do it: each step needs the one before.
"""

from __future__ import annotations

import re

from web_browser_fixtures import (  # noqa: F401 (fixtures)
    AS_OF,
    AUDITOR,
    COMMISSIONER,
    THROUGH,
    assert_accessible,
    browser,
    live_portal,
    page,
    screenshot,
    sign_in,
    sign_out,
)

BROKEN_EPISODES = b"episode_id,person_id\nnot,a dataset\n"


def test_commissioner_pays_and_provider_queries(page, live_portal, tmp_path):
    # The commissioner signs in, adds a programme and uploads a broken dataset, then the real one.
    sign_in(page, COMMISSIONER)
    assert_accessible(page)
    page.goto("/programmes")
    page.get_by_label("Short name").fill("tr2014")
    page.get_by_label("Title").fill("Transforming Rehabilitation")
    page.get_by_label("Contract design").select_option("tr2014")
    page.get_by_role("button", name="Add programme").click()
    page.wait_for_url(re.compile(r"/programmes/\d+$"))
    programme_url = page.url
    assert_accessible(page)

    broken = tmp_path / "episodes.csv"
    broken.write_bytes(BROKEN_EPISODES)
    page.get_by_label("Upload a dataset").set_input_files(str(broken))
    page.get_by_role("button", name="Upload and check").click()
    assert page.get_by_role("heading", name="There is a problem").is_visible()
    problems = page.get_by_role("table", name="Problems, by file, row and column")
    assert "episodes.csv" in problems.inner_text()
    assert_accessible(page)
    screenshot(page, "01-upload-problems")

    page.goto(programme_url)
    page.get_by_label("Upload a dataset").set_input_files(str(live_portal.dataset_zip))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"uploaded=\d+"))
    assert "synthetic.zip" in page.get_by_role("table", name="Datasets uploaded to this programme").inner_text()

    # Payments run in the background; the run's page follows it to the end.
    page.get_by_label("Dataset", exact=True).select_option(index=1)
    page.get_by_label("Last quarter to pay").fill(THROUGH)
    page.get_by_label("Data complete to (optional)").fill(AS_OF)
    page.get_by_role("button", name="Start payment run").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    assert_accessible(page)
    page.get_by_role("heading", name="Payment run finished").wait_for(timeout=60_000)
    assert_accessible(page)
    screenshot(page, "02-payment-run")

    page.goto("/statements")
    everyone = page.get_by_role("table", name="Statements").locator("tbody tr")
    assert everyone.count() > 10
    assert_accessible(page)
    page.goto(f"/providers/{live_portal.provider_id}")
    page.locator("#chart-funnel svg").wait_for()
    page.locator("#chart-payments svg").wait_for()
    assert_accessible(page)
    screenshot(page, "03-dashboard")
    sign_out(page)
    assert_accessible(page)

    # The provider sees only its own statements, and nothing of anyone else's.
    sign_in(page, live_portal.provider_email)
    assert_accessible(page)
    page.goto("/statements")
    rows = page.get_by_role("table", name="Statements").locator("tbody tr")
    own = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    expected = {s["provider_id"] for s in live_portal.portal.ledger.statement_lines(
        provider_id=live_portal.provider_id).to_dicts()}
    assert own and set(own) == expected == {live_portal.provider_id}
    assert_accessible(page)
    screenshot(page, "04-provider-statements")
    other = next(s for s in live_portal.portal.ledger.statement_lines().to_dicts()
                 if s["provider_id"] != live_portal.provider_id)
    refused = page.goto(f"/statements/{other['contract_id']}/{other['period']}")
    assert refused.status == 404 and other["contract_id"] not in page.content()

    page.goto("/statements")
    rows.first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/statements/[^/]+/\d{4}Q\d$"))
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("^Raise a query")).first.click()
    page.get_by_label("Your query").fill("This line's count looks one short of our records. <b>Please check</b>.")
    page.get_by_role("button", name="Send query").click()
    page.wait_for_url(re.compile(r"/queries/\d+$"))
    assert page.get_by_text("<b>Please check</b>").is_visible()  # shown as written, never as markup
    assert_accessible(page)
    screenshot(page, "05-provider-query")
    sign_out(page)

    # The auditor reads the audit log, which has the query in it.
    sign_in(page, AUDITOR)
    page.goto("/audit")
    assert page.get_by_role("cell", name="query raised").first.is_visible()
    assert_accessible(page)
    screenshot(page, "06-audit-log")
