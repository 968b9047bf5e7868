"""Screenshots of the console's main pages, for the README (`make screenshots` writes them to
docs/screenshots/; otherwise they go to a temp folder and only their making is checked)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.cases import factories as make
from tests.web.conftest import Site, log_in, logged_out, press, screenshots_dir
from vigie import clock
from vigie.cases import placements
from vigie.cases.forms import ZoneIn
from vigie.store.models import Placement

NEAR_HOME = (make.HOME[0] + 0.012, make.HOME[1] + 0.01)  # a square a kilometre or so away


def _busy_centre(site: Site) -> int:
    """A zone near the wearer's home and a fix in it (a real alarm by the pipeline), a BAR
    alert and a few other alarms; returns the BAR alarm's id."""
    world = site.world
    with site.db.session() as session:
        placement = session.get_one(Placement, world.placement)
        zone = ZoneIn(
            id="place-vendome",
            type="exclusion",
            label="Interdiction : quartier de la victime",
            geometry=make.square(*NEAR_HOME, 0.003),
        )
        placements.put_zone(session, placement, zone, "test")
    fix = {
        "device": "B1",
        "t": (clock.now() + timedelta(seconds=1)).isoformat(),
        "type": "position",
        "lat": NEAR_HOME[0],
        "lon": NEAR_HOME[1],
        "accuracy_m": 6,
    }
    site.http.post(
        "/api/observations", json={"observations": [fix]}, headers=site.token_headers("integration")
    ).raise_for_status()
    for kind in ("absence", "low_battery", "signal_lost"):
        world.new_alarm(kind=kind)
    world.new_alarm("acknowledged", kind="tamper")
    return world.new_alarm(kind="alert", bar=True)


def _shoot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def test_screenshots_of_the_main_pages(page: Page, site: Site, tmp_path: Path) -> None:
    folder = screenshots_dir(tmp_path)
    bar_alarm = _busy_centre(site)
    shots = []
    page.goto(f"{site.url}/login")
    shots.append(_shoot(page, folder, "login"))

    log_in(page, site, "operator1")
    expect(page.locator("#queue tbody tr[data-kind=zone_entry]")).to_have_count(1)
    expect(page.locator("#bar-banner")).to_be_visible()
    shots.append(_shoot(page, folder, "queue"))

    zone_alarm = page.locator("#queue tbody tr[data-kind=zone_entry]").get_attribute("data-id")
    page.goto(f"{site.url}/alarms/{zone_alarm}")
    press(page, "#ack")
    press(page, "#procedure button[data-action=call_wearer]")
    expect(page.locator("#actions li")).to_have_count(1)
    shots.append(_shoot(page, folder, "alarm"))

    page.goto(f"{site.url}/alarms/{bar_alarm}")
    press(page, "#ack")
    press(page, "#procedure button[data-action=call_protected]")
    expect(page.locator("#actions li")).to_have_count(1)
    shots.append(_shoot(page, folder, "alarm-bar"))

    page.select_option("#close-form select", "breach")
    press(page, "#close-form button[type=submit]")
    press(page, "#close-yes")  # the closing is confirmed
    expect(page.frame_locator("#report").locator("body")).to_contain_text("C2")
    page.locator("#report-card").scroll_into_view_if_needed()
    shots.append(_shoot(page, folder, "report"))

    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-timeline li")).not_to_have_count(0)
    shots.append(_shoot(page, folder, "case"))

    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "arse")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_have_text("Éligible")
    shots.append(_shoot(page, folder, "law"))

    page.once("dialog", lambda dialog: dialog.accept())  # he holds the tamper alarm: asked
    page.click("#logout")
    # The logout's own navigation first: a goto racing it was interrupted, three times over,
    # in a CI run.
    logged_out(page, site)
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    expect(page.locator("#chart-hourly svg rect")).to_have_count(24)
    shots.append(_shoot(page, folder, "supervision"))

    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    expect(page.locator("#z-list li")).not_to_have_count(0)
    shots.append(_shoot(page, folder, "zones"))

    page.goto(f"{site.url}/map")
    expect(page.locator(".wearer-dot[data-device=B1]")).to_be_visible()
    shots.append(_shoot(page, folder, "map"))

    page.goto(f"{site.url}/handover")
    expect(page.locator("#handover-list li")).not_to_have_count(0)  # the page's script is ready
    page.fill(
        "#handover-form textarea",
        "Dossier C2 : pré-alerte de 21 h 40 close, rappeler le SPIP à 8 h.",
    )
    with page.expect_response(
        lambda r: r.url.endswith("/api/handover") and r.request.method == "POST"
    ) as posted:
        page.click("#handover-form button[type=submit]")
    assert posted.value.ok, (posted.value.status, posted.value.text())
    expect(page.locator("#handover-list li[data-note]")).not_to_have_count(0)
    shots.append(_shoot(page, folder, "handover"))

    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, shot


def test_screenshots_of_the_tools_of_the_trade(
    page: Page, browser: Browser, site: Site, tmp_path: Path
) -> None:
    """The zone form with its hours, the BAR distance with its facts, the calculator in
    French reading "3 ans", the dark theme, and a case on an officer's phone."""
    folder = screenshots_dir(tmp_path)
    shots = []
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    expect(page.locator("#map[data-ready]")).to_have_count(1)
    page.fill("#zone-form input[name=id]", "ecole-du-quartier")
    page.fill("#zone-form input[name=label]", "École du quartier (sorties des classes)")
    page.click("#z-add-window")
    page.locator(".z-window .z-from").fill("08:00")
    page.locator(".z-window .z-to").fill("18:30")
    page.click("#z-add-window")
    second = page.locator(".z-window").nth(1)
    for day in ("mon", "tue", "wed", "thu", "fri"):
        second.locator(f"[data-day={day}]").uncheck()
    second.locator("[data-day=sat]").check()
    second.locator(".z-from").fill("09:00")
    second.locator(".z-to").fill("12:00")
    shots.append(_shoot(page, folder, "zones-schedule"))

    page.goto(f"{site.url}/cases/{site.world.bar_placement}/zones")
    expect(page.locator("#bar-form")).to_be_visible()
    page.locator("#bar-form").scroll_into_view_if_needed()
    shots.append(_shoot(page, folder, "zones-bar"))

    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "lsc")
    page.fill("[data-path='sentences.0.quantum']", "3 ans")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_have_text("Le juge décide")
    page.evaluate("() => window.scrollTo(0, 0)")
    shots.append(_shoot(page, folder, "law-french"))

    page.goto(f"{site.url}/")
    page.click("#theme-toggle")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#queue tbody tr")).not_to_have_count(0)
    shots.append(_shoot(page, folder, "queue-dark"))
    page.goto(f"{site.url}/supervision")
    expect(page.locator("#chart-hourly svg rect")).to_have_count(24)
    shots.append(_shoot(page, folder, "supervision-dark"))

    phone = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    officer = phone.new_page()
    try:
        log_in(officer, site, "spip1")
        officer.goto(f"{site.url}/cases/{site.world.placement}")
        expect(officer.locator("#c-ref")).to_have_text("C1")
        shots.append(_shoot(officer, folder, "phone-case"))
    finally:
        phone.close()

    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, shot
