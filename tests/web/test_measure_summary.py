"""The measure's summary on the case page in Chromium: a judge reads it in its sandboxed frame
and downloads its PDF; an admin, who reads no case's alarms, is not offered it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from tests.web.test_console_tools import switch_user


def test_a_judge_reads_the_summary_and_downloads_it(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    # The page has drawn what it loads (its timeline is last): nothing above the summary moves
    # any more. A click while it still did landed where the button had been, and no PDF was
    # asked for (2 runs in 10).
    expect(page.locator("#c-timeline li").first).to_be_visible()
    expect(page.locator("#c-summary")).to_be_visible()
    page.click("#summary-show")
    frame = page.frame_locator("#summary")
    expect(frame.locator("h1")).to_contain_text("Bilan de la mesure")
    expect(frame.locator("body")).to_contain_text(site.world.case_ref)
    with page.expect_download() as download:
        page.click("#summary-pdf")
    assert download.value.suggested_filename == f"bilan-{site.world.case_ref}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"

    switch_user(page, site, "admin1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#case-error")).to_be_visible()  # no case file for the admin here
    expect(page.locator("#c-summary")).to_be_hidden()
