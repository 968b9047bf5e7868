"""The console reads a form's date and time in Paris time, as it shows every time, on a
workstation set to another zone too, in Chromium.

A `datetime-local` field has no zone: the browser read it in the workstation's own, so on one
set to Cayenne's (a court of French Guiana, an officer's laptop left on UTC) a known absence
typed from 10:00 was recorded from 14:00 Paris time and listed so. The expected instants come
from Python's zoneinfo, as the server reads Paris time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Site, log_in, open_tab
from vigie import clock

FAR = "America/Cayenne"  # UTC-3 all year: five hours from Paris in winter, four in summer


@pytest.fixture
def far_page(browser: Browser) -> Iterator[Page]:
    with open_tab(browser, timezone_id=FAR) as tab:
        yield tab


def _paris_instant(wall: str) -> str:
    """The UTC instant of a Paris wall time as zoneinfo reads it (fold 0), in JavaScript's form."""
    moment = datetime.fromisoformat(wall).replace(tzinfo=clock.PARIS).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    "wall",
    [
        "2026-12-06T10:00",  # winter
        "2027-07-01T10:00",  # summer
        "2027-03-28T02:30",  # skipped when the clocks go forward
        "2026-10-25T02:30",  # met twice when they go back
        "2026-12-31T23:59",
        "2027-01-01T00:00",
    ],
)
def test_a_wall_time_is_read_as_paris_reads_it(far_page: Page, site: Site, wall: str) -> None:
    log_in(far_page, site, "supervisor1")
    assert far_page.evaluate("() => new Date(Date.UTC(2026, 11, 6, 12)).getHours()") == 9
    assert far_page.evaluate("(wall) => Vigie.fromParis(wall)", wall) == _paris_instant(wall)


def test_today_is_the_date_in_paris(far_page: Page, site: Site) -> None:
    log_in(far_page, site, "supervisor1")
    for utc in (
        "2026-12-05T22:59:00",
        "2026-12-05T23:00:00",
        "2027-07-01T21:59:00",
        "2027-07-01T22:00:00",
    ):
        moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
        expected = moment.astimezone(clock.PARIS).date().isoformat()
        assert far_page.evaluate("(ms) => Vigie.parisDate(ms)", ms) == expected, utc


def test_an_absence_typed_far_from_paris_is_recorded_and_listed_at_its_paris_hours(
    far_page: Page, site: Site
) -> None:
    start = (clock.now() - timedelta(minutes=10)).astimezone(clock.PARIS)
    end = start + timedelta(hours=2)
    typed = [t.strftime("%Y-%m-%dT%H:%M") for t in (start, end)]
    log_in(far_page, site, "supervisor1")
    far_page.goto(f"{site.url}/cases/{site.world.placement}")
    far_page.select_option("#suspension-form select[name=reason]", "hearing")
    far_page.fill("#suspension-form input[name=starts_at]", typed[0])
    far_page.fill("#suspension-form input[name=ends_at]", typed[1])
    far_page.fill("#suspension-form input[name=note]", "Audience au tribunal judiciaire")
    far_page.click("#suspension-form button[type=submit]")
    item = far_page.locator("#suspension-list li.active")
    expect(item).to_contain_text("Audience au tribunal judiciaire")
    for moment in (start, end):
        expect(item).to_contain_text(moment.strftime("%d/%m/%Y %H:%M"))

    answer = site.http.get(
        f"/api/placements/{site.world.placement}/suspensions",
        headers=site.token_headers("supervisor"),
    )
    answer.raise_for_status()
    (recorded,) = [s for s in answer.json() if s["note"] == "Audience au tribunal judiciaire"]
    for field, wall in zip(("starts_at", "ends_at"), typed, strict=True):
        at = datetime.fromisoformat(recorded[field].replace("Z", "+00:00"))
        assert at == datetime.fromisoformat(_paris_instant(wall).replace("Z", "+00:00")), field
