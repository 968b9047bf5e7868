"""An alarm page never shows an older state over a newer one: a read the live stream started
before an acknowledgement, answered after the acknowledgement's own read, is dropped (it put
"Ouverte" back on an acknowledged alarm, seen once in CI)."""

from __future__ import annotations

import re
import time

from playwright.sync_api import APIResponse, Page, Route, expect

from tests.web.conftest import Site, log_in


def test_a_read_answered_late_does_not_reopen_an_acknowledged_alarm(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    alarm_id = site.world.new_alarm(kind="tamper")
    page.goto(f"{site.url}/alarms/{alarm_id}")
    status = page.locator("#a-status")
    expect(status).to_have_text("Ouverte")

    held: list[tuple[Route, APIResponse]] = []

    def hold_the_first_read(route: Route) -> None:
        if route.request.method == "GET" and not held:
            held.append((route, route.fetch()))  # the alarm as it is now: open; answered later
            return
        route.continue_()

    page.route(f"**/api/alarms/{alarm_id}", hold_the_first_read)
    site.world.new_alarm(kind="tamper")  # the stream says "changed": the page reads its alarm
    deadline = time.monotonic() + 15
    while not held:
        assert time.monotonic() < deadline, "the page did not read its alarm on a change"
        page.wait_for_timeout(100)

    page.click("#ack")
    expect(status).to_have_text("Acquittée")
    route, stale = held[0]
    assert stale.json()["status"] == "open"
    with page.expect_response(lambda r: r.url.endswith(f"/api/alarms/{alarm_id}")):
        route.fulfill(response=stale)
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # its handler has run
    assert status.text_content() == "Acquittée"
    assert page.locator("#ack").is_hidden()


def test_a_read_answered_late_does_not_drop_a_new_alarm_from_the_bar(
    page: Page, site: Site
) -> None:
    """The bar's reads of the open alarms overlap the same way: an older answer would take a
    new alarm off the bar (and out of its sound) until the next change."""
    log_in(page, site, "operator1")
    bar = page.locator("#alarm-bar")
    expect(bar).to_have_attribute("data-open", re.compile(r"\d+"))
    held: list[tuple[Route, APIResponse]] = []

    def hold_the_first_read(route: Route) -> None:
        if not held:
            held.append((route, route.fetch()))  # the open alarms before the new one
            return
        route.continue_()

    page.route("**/api/alarms?status=open&limit=1000", hold_the_first_read)
    site.world.new_alarm(kind="tamper")  # a change: the bar reads the open alarms (held)
    deadline = time.monotonic() + 15
    while not held:
        assert time.monotonic() < deadline, "the bar did not read the open alarms on a change"
        page.wait_for_timeout(100)
    route, stale = held[0]
    before = len(stale.json())
    new = site.world.new_alarm(kind="tamper")  # the next change: read and shown at once
    deadline = time.monotonic() + 15
    while int(bar.get_attribute("data-open") or 0) <= before:
        assert time.monotonic() < deadline, f"alarm {new} was not counted in the bar"
        page.wait_for_timeout(100)
    shown = int(bar.get_attribute("data-open") or 0)
    with page.expect_response(lambda r: "/api/alarms?status=open" in r.url):
        route.fulfill(response=stale)
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # its handler has run
    assert int(bar.get_attribute("data-open") or 0) >= shown
