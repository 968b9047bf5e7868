"""The fiche pénale in the legal calculator (issue 19), in a real browser: the example fiche is
assessed, the timeline is drawn with its threshold dates, and a credit typed in moves the end."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in


def test_fiche_form_draws_the_timeline_and_a_credit_moves_the_end(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "fiche")
    expect(page.locator("#law-sentences fieldset.law-item")).to_have_count(3)
    page.click("#law-form button[type=submit]")
    # The example: A 1 y from 5 Jan 2026 less 30 d of DP and 30 d granted, C confused with it;
    # B (6 months + 2 months revoked) executed after A.
    rows = page.locator("#law-timeline tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#law-timeline tr[data-id=A]")).to_have_attribute("data-end", "2026-11-06")
    expect(page.locator("#law-timeline tr[data-id=B]")).to_have_attribute(
        "data-begin", "2026-11-06"
    )
    expect(page.locator("#law-dates dd[data-date=sentence_end]")).to_have_attribute(
        "data-value", "2027-07-06"
    )
    expect(page.locator("#law-deadlines tr[data-deadline=parquet_visa_until]")).to_contain_text(
        "28/11/2026"
    )
    # The chart: a bar per sentence and a dashed line per threshold reached.
    expect(page.locator("#law-chart svg rect.law-chart-bar")).to_have_count(2)
    dated = page.locator("#law-thresholds tbody tr[data-date]:not([data-date=''])").count()
    expect(page.locator("#law-chart svg line.law-chart-mark")).to_have_count(dated)
    assert dated >= 4
    expect(page.locator("#law-chart svg")).to_contain_text("720-I")
    expect(page.locator("#law-print")).to_be_visible()
    # A third credit of ten days, typed in field by field, brings the end ten days earlier.
    page.click("#law-add-credits")
    expect(page.locator("[data-path='credits.2.sentence']")).to_be_focused()
    page.keyboard.type("B")
    page.fill("[data-path='credits.2.from']", "2025-12-01")
    page.fill("[data-path='credits.2.to']", "2025-12-10")
    case = json.loads(page.locator("#law-case").input_value())
    assert case["credits"][2] == {
        "sentence": "B",
        "kind": "dp",
        "from": "2025-12-01",
        "to": "2025-12-10",
    }
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-dates dd[data-date=sentence_end]")).to_have_attribute(
        "data-value", "2027-06-26"
    )


def test_fiche_input_error_marks_the_field(page: Page, site: Site) -> None:
    log_in(page, site, "judge1", lang="en")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "fiche")
    page.fill("[data-path='credits.0.to']", "2025-09-01")  # before its start
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-error")).to_contain_text("credits[0].to")
    expect(page.locator("[data-path='credits.0.to']")).to_have_attribute("aria-invalid", "true")


def test_fiche_prints_the_result_alone(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "fiche")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-chart svg")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("#law-form")).to_be_hidden()
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("#law-timeline")).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_fiche_working_sheet_downloads_as_a_pdf(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "fiche")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-pdf")).to_be_visible()
    with page.expect_download() as download:
        page.click("#law-pdf")
    path = download.value.path()
    assert download.value.suggested_filename == "fiche-penale.pdf"
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000
