"""The centre's own alarm (a detection partition unwatched, cluster mode) in Chromium: in the
alarm bar of every page at the top, named by its partition, in the queue's kind filter; its
page says it has no case, offers only a note and the qualifications that concern no person,
and closing it shows no report and no error."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in, press
from vigie import clock
from vigie.alarms import blindness


def test_the_bar_the_queue_and_the_page_of_the_centre_alarm(page: Page, site: Site) -> None:
    expect.set_options(timeout=15_000)
    headers = site.token_headers("operator")
    for alarm in site.http.get("/api/alarms?status=open&limit=1000", headers=headers).json():
        site.http.post(f"/api/alarms/{alarm['id']}/acknowledge", headers=headers)
    log_in(page, site, "operator1")
    tamper = site.world.new_alarm(kind="tamper")
    with site.db.session() as session:
        blindness.sync(session, {7: clock.now()}, set(), clock.now(), 120.0)
    (row,) = site.http.get("/api/alarms?kind=unwatched", headers=headers).json()
    alarm_id = row["id"]

    bar = page.locator("#alarm-bar")
    expect(bar).to_have_attribute("data-top-id", str(alarm_id))  # above the tamper
    expect(bar).to_have_attribute("data-top-kind", "unwatched")
    # Counted with the others (the live pipeline may raise its own meanwhile).
    opened = site.http.get("/api/alarms?status=open&limit=1000", headers=headers).json()
    assert {alarm_id, tamper} <= {a["id"] for a in opened}
    assert int(bar.get_attribute("data-open") or 0) >= 2
    banner = page.locator("#bar-banner")
    expect(banner).to_contain_text("Centre aveugle : partition sans surveillance")
    expect(banner).to_contain_text(f"n° {alarm_id} (Partition 7)")
    expect(banner).not_to_contain_text("@centre")

    page.select_option("#filters select[name=kind]", "unwatched")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(alarm_id))
    expect(rows.first.locator("td").nth(2)).to_have_text("Centre (partition 7)")
    page.select_option("#filters select[name=kind]", "")
    expect(page.locator(f"#queue tbody tr[data-id='{tamper}']")).to_have_count(1)

    page.goto(f"{site.url}/alarms/{alarm_id}")
    expect(page.locator("#a-kind")).to_have_text("Centre aveugle : partition sans surveillance")
    case = page.locator("#a-case")
    expect(case).to_contain_text("Aucun dossier : alarme du centre")
    expect(case).to_contain_text("partition de détection 7")
    assert case.get_attribute("href") is None
    expect(page.locator("#a-detail")).to_contain_text("Dossiers non surveillés : 0")
    press(page, "#ack")
    expect(page.locator("#a-status")).to_have_text("Acquittée")
    expect(page.locator("#procedure button")).to_have_count(1)
    expect(page.locator("#procedure button")).to_have_attribute("data-action", "note")
    expect(page.locator("#preview")).to_be_hidden()
    qualifications = page.locator("#close-form select[name=qualification] option")
    expect(qualifications).to_have_count(3)  # the prompt, technical fault, false alarm
    page.fill("#note-form textarea[name=note]", "worker-b relancé")
    press(page, "#note-form button[type=submit]")
    expect(page.locator("#actions")).to_contain_text("worker-b relancé")
    page.select_option("#close-form select[name=qualification]", "technical_fault")
    press(page, "#close-form button[type=submit]")
    press(page, "#close-yes")
    expect(page.locator("#a-status")).to_have_text("Close")
    expect(page.locator("#report-card")).to_be_hidden()
    expect(page.locator("#flash")).to_be_hidden()
    expect.set_options(timeout=5_000)
