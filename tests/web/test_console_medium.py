"""The console's tools of the trade (issue 12, medium): the calculator in French that reads
"3 ans" and points at the field at fault, the supervision link by role, the dark theme."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in


def test_the_calculator_reads_3_ans_and_answers_in_french(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "lsc")
    page.fill("[data-path='sentences.0.quantum']", "3 ans")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_have_text("Le juge décide")
    expect(page.locator("#law-outcome")).to_have_attribute("data-outcome", "judge_decides")
    end = page.locator("#law-dates dd[data-date=sentence_end]")
    expect(end).to_have_attribute("data-value", "2028-01-10")
    expect(end).to_have_text("10/01/2028")  # as a French reader writes a date
    expect(page.locator("#law-dates dt").first).not_to_contain_text("_")
    date_to_date = page.locator("#law-result tr[data-rule='sentence.date_to_date']")
    expect(date_to_date).to_contain_text("Calcul de quantième à quantième")
    expect(date_to_date).to_contain_text("3 ans")  # not P3Y
    # The same sentence as "2 ans 6 mois" ends six months earlier.
    page.fill("[data-path='sentences.0.quantum']", "2 ans 6 mois")
    page.click("#law-form button[type=submit]")
    expect(end).to_have_attribute("data-value", "2027-07-10")


@pytest.mark.parametrize(
    ("measure", "path", "value", "named"),
    [
        ("lsc", "sentences.0.quantum", "trois ans", "sentences[0].quantum"),
        ("bar", "facts.alert_distance_km", "12", "facts.alert_distance_km"),
    ],
)
def test_the_field_at_fault_is_marked_and_takes_the_focus(
    page: Page, site: Site, measure: str, path: str, value: str, named: str
) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", measure)
    field = page.locator(f"[data-path='{path}']")
    field.fill(value)
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-error")).to_contain_text(named)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()


@pytest.mark.parametrize(
    ("username", "sees"),
    [
        ("operator1", True),
        ("supervisor1", True),
        ("judge1", False),
        ("prosecutor1", False),
        ("spip1", False),
    ],
)
def test_the_supervision_link_only_for_the_centre(
    page: Page, site: Site, username: str, sees: bool
) -> None:
    log_in(page, site, username)
    page.goto(f"{site.url}/cases")
    link = page.locator("header nav a[href='/supervision']")
    if sees:
        expect(link).to_be_visible()
    else:
        expect(link).to_be_hidden()
        expect(page.locator("header nav a[href='/cases']")).to_be_visible()
