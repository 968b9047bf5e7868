"""The night shift's tools in Chromium against the real centre: the header's search, the
wearers' map (never the protected person), bulk acknowledge, a known absence shown on the
case and in the queue, the handover at login, the timeline's filter, the track replay and the
supervisor's escalation chime."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in
from vigie import clock
from vigie.alarms import workflow
from vigie.cases import devices
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.store.models import Alarm, AlarmAction, HandoverRead, Placement, User


def switch_user(page: Page, site: Site, username: str) -> None:
    """Log in as another user in the same tab (from the login page, which calls nothing)."""
    page.goto(f"{site.url}/login")
    page.evaluate("localStorage.clear()")
    log_in(page, site, username)


def test_search_in_the_header_finds_only_the_users_cases(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    page.fill("#search-q", "BERN")
    expect(page.locator("#search-results a[data-case=C3]")).to_be_visible()
    page.fill("#search-q", "mart")
    results = page.locator("#search-results a")
    expect(results).to_have_count(2)
    page.locator("#search-results a[data-case=C1]").click()
    page.wait_for_url(f"{site.url}/cases/{site.world.placement}")
    switch_user(page, site, "judge1")
    page.fill("#search-q", "bern")  # judge2's case: not found for judge1
    expect(page.locator("#search-results li.none")).to_have_text("Aucun dossier trouvé.")
    page.fill("#search-q", "b1")
    expect(page.locator("#search-results a[data-case=C1]")).to_contain_text("dispositif : B1")


def _fix(site: Site, device: str, lat: float, lon: float) -> None:
    obs = {"device": device, "t": clock.now().isoformat(), "type": "position", "lat": lat,
           "lon": lon, "accuracy_m": 9}  # fmt: skip
    answer = site.http.post(
        "/api/observations", json={"observations": [obs]}, headers=site.token_headers("integration")
    )
    answer.raise_for_status()


def test_the_wearers_map_never_shows_the_protected_person(page: Page, site: Site) -> None:
    with site.db.session() as session:
        bar = session.get_one(Placement, site.world.bar_placement)
        devices.create_device(session, DeviceIn(id="BW", kind="bracelet"), "t")
        devices.create_device(session, DeviceIn(id="PV", kind="protected_device"), "t")
        devices.assign(session, bar, AssignmentIn(device_id="BW", role="wearer"), "t")
        devices.assign(session, bar, AssignmentIn(device_id="PV", role="protected"), "t")
    _fix(site, "BW", 45.30, 4.30)
    _fix(site, "PV", 45.0, 4.0)
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/map")
    expect(page.locator(".wearer-dot[data-device=B1]")).to_be_visible()
    expect(page.locator(".wearer-dot[data-device=BW]")).to_be_visible()
    expect(page.locator("[data-device=PV]")).to_have_count(0)
    for _ in range(5):  # zoomed out, the two wearers (Paris, Loire) fall into one cluster
        page.get_by_role("button", name="Zoom out").click()
        page.wait_for_timeout(300)
    expect(page.locator(".marker-cluster")).to_have_text("2")
    expect(page.locator(".wearer-dot")).to_have_count(0)
    page.select_option("select[name=measure]", "bar")
    expect(page.locator(".wearer-dot[data-device=B1]")).to_have_count(0)
    expect(page.locator(".wearer-dot[data-device=BW]")).to_be_visible()
    # A BAR alert on the case: the wearer's fix would pair with its distance, so it is withheld.
    site.world.new_alarm(kind="alert", bar=True)
    page.reload()
    expect(page.locator("#map-count")).to_have_attribute("data-withheld", "1")
    expect(page.locator(".wearer-dot[data-device=B1]")).to_be_visible()
    expect(page.locator(".wearer-dot[data-device=BW]")).to_have_count(0)
    expect(page.locator("[data-device=PV]")).to_have_count(0)
    for lat in page.locator(".wearer-dot").evaluate_all("ns => ns.map(n => Number(n.dataset.lat))"):
        assert abs(lat - 45.0) > 0.2  # no marker anywhere near her
    switch_user(page, site, "operator1")
    expect(page.get_by_role("link", name="Carte")).to_be_hidden()


def test_bulk_acknowledge_offers_boxes_only_on_informational_alarms(page: Page, site: Site) -> None:
    lost = site.world.new_alarm(kind="signal_lost")
    battery = site.world.new_alarm(kind="low_battery")
    absence = site.world.new_alarm(kind="absence")
    log_in(page, site, "operator1")
    expect(page.locator(f"tr[data-id='{absence}']")).to_be_visible()
    expect(page.locator(f"tr[data-id='{absence}'] input.bulk-pick")).to_have_count(0)
    page.check(f"input.bulk-pick[data-id='{lost}']")
    page.check(f"input.bulk-pick[data-id='{battery}']")
    expect(page.locator("#bulk-count")).to_contain_text("2 alarme(s)")
    page.fill("#bulk input[name=note]", "tournée de vérification des boîtiers")
    page.click("#bulk button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("2 alarme(s) acquittée(s)")
    expect(page.locator(f"tr[data-id='{lost}'] .status")).to_have_text("Acquittée")
    with site.db.session() as session:
        statuses = {a.id: a.status for a in session.scalars(select(Alarm))}
        notes = session.scalars(select(AlarmAction.note).where(AlarmAction.alarm_id == lost))
        assert list(notes) == ["tournée de vérification des boîtiers"]
    assert (statuses[lost], statuses[battery], statuses[absence]) == (
        "acknowledged",
        "acknowledged",
        "open",
    )


def test_a_known_absence_is_shown_on_the_case_and_in_the_queue(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#suspension-list")).to_contain_text("Aucune absence connue.")
    # The form's fields are in Paris time, as every time the console shows (test_paris_time).
    start, end = (
        (clock.now() + timedelta(seconds=d)).astimezone(clock.PARIS).strftime("%Y-%m-%dT%H:%M")
        for d in (-600, 7200)
    )
    page.select_option("#suspension-form select[name=reason]", "hospital")
    page.fill("#suspension-form input[name=starts_at]", start)
    page.fill("#suspension-form input[name=ends_at]", end)
    page.fill("#suspension-form input[name=note]", "Hôpital Lariboisière, bulletin reçu")
    page.click("#suspension-form button[type=submit]")
    item = page.locator("#suspension-list li.active")
    expect(item).to_contain_text("Hospitalisation")
    expect(item).to_contain_text("par supervisor1")
    absence = site.world.new_alarm(kind="absence")
    tamper = site.world.new_alarm(kind="tamper")
    page.goto(f"{site.url}/")
    expect(page.locator(f"tr[data-id='{absence}'] .known-absence")).to_have_text("absence connue")
    expect(page.locator(f"tr[data-id='{tamper}']")).to_be_visible()
    expect(page.locator(f"tr[data-id='{tamper}'] .known-absence")).to_have_count(0)
    page.goto(f"{site.url}/alarms/{absence}")
    expect(page.locator("#a-known")).to_be_visible()
    page.goto(f"{site.url}/alarms/{tamper}")
    expect(page.locator("#a-kind")).to_have_text("Arrachement / ouverture")
    expect(page.locator("#a-known")).to_be_hidden()
    switch_user(
        page, site, "judge1"
    )  # the judge of the case reads it; only a supervisor records one
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#suspension-list li.active")).to_contain_text("Lariboisière")
    expect(page.locator("#suspension-form")).to_be_hidden()


def test_the_handover_is_shown_at_the_next_login_until_read(page: Page, site: Site) -> None:
    site.world.centre.headers("operator", "operator2")  # the night operator's account
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/handover")
    page.fill("#handover-form textarea", "C1 : boîtier débranché deux fois, SPIP prévenu")
    page.click("#handover-form button[type=submit]")
    expect(page.locator("#handover-list")).to_contain_text("SPIP prévenu")
    expect(page.locator("#handover-dialog")).to_have_count(0)  # not shown to its author
    switch_user(page, site, "operator2")
    dialog = page.locator("#handover-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("boîtier débranché deux fois")
    page.keyboard.press("Escape")  # reading it is acknowledged, not skipped
    expect(dialog).to_be_visible()
    page.click("#handover-read")
    expect(dialog).to_have_count(0)
    with page.expect_response(lambda r: "/api/handover/pending" in r.url) as asked:
        page.reload()
    assert asked.value.json() == []
    expect(page.locator("#handover-dialog")).to_have_count(0)
    with site.db.session() as session:
        reader = session.scalars(select(User.id).where(User.username == "operator2")).one()
        assert session.scalars(select(HandoverRead).where(HandoverRead.user_id == reader)).all()


def test_the_timeline_filters_and_the_track_replays(page: Page, site: Site) -> None:
    worked = site.world.new_alarm("in_progress", kind="absence")  # with a call_wearer action
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    timeline = page.locator("#c-timeline")
    called = timeline.locator("li[data-type=action]").filter(
        has=page.locator(f"a[href='/alarms/{worked}']")
    )
    expect(called).to_contain_text("Appeler la personne placée · operator1")
    expect(timeline.locator("li[data-type=reading]").first).to_be_visible()
    expect(timeline.locator("li[data-type=alarm]").first).to_be_visible()
    page.uncheck("#timeline-filter input[value=alarm]")
    page.uncheck("#timeline-filter input[value=reading]")
    expect(timeline.locator("li[data-type=alarm]:visible")).to_have_count(0)
    expect(timeline.locator("li[data-type=reading]:visible")).to_have_count(0)
    expect(called).to_be_visible()
    page.check("#timeline-filter input[value=reading]")
    expect(timeline.locator("li[data-type=reading]").first).to_be_visible()
    # Replay: the slider runs over the wearer's fixes, each with its time.
    expect(page.locator("#replay")).to_be_visible()
    first = page.locator("#replay-time").get_attribute("data-t")
    last = page.locator("#replay-slider").get_attribute("max")
    page.locator("#replay-slider").fill(str(last))
    expect(page.locator("#replay-time")).not_to_have_attribute("data-t", first or "")
    assert page.locator("#replay-time").inner_text().strip()


def test_the_supervisor_hears_a_chime_when_an_alarm_escalates(page: Page, site: Site) -> None:
    # On C2: C1 has a known absence by now (an earlier test), and that is never escalated.
    alarm = site.world.new_alarm(kind="zone_exit", bar=True)
    with page.expect_response(lambda r: "escalated=true" in r.url):  # what was escalated before
        log_in(page, site, "supervisor1")
    expect(page.locator(f"tr[data-id='{alarm}']")).to_be_visible()
    page.select_option("#filters select[name=escalated]", "true")
    with site.db.session() as session:
        opened = session.get_one(Alarm, alarm).opened_at
        escalated = workflow.escalate_overdue(session, opened + timedelta(hours=1), 60)
        assert alarm in [a.id for a in escalated]
    expect(page.locator("body")).to_have_attribute("data-chimed", "1")
    expect(page.locator(f"tr[data-id='{alarm}']")).to_be_visible()  # the escalation filter
    expect(page.locator("#flash")).to_contain_text("Alarme escaladée : n° ")
