"""Her SOS on the alarm page, in a real browser: its procedure, and her live position for the
operator holding it alone."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in
from vigie import clock
from vigie.store import observations as log
from vigie.store.models import Alarm


def test_the_sos_page_guides_the_holder_and_locates_her_for_him_alone(
    page: Page, site: Site
) -> None:
    sos = site.world.new_alarm(kind="sos", bar=True)
    with site.db.session() as session:
        phone = session.scalars(select(Alarm.device).where(Alarm.id == sos)).one()
        now = clock.now()
        fix = {"kind": "obs", "device": phone, "type": "position"}
        fix |= {"lat": 45.764, "lon": 4.8357, "accuracy_m": 9.0}
        log.append(session, [log.row_for(fix, now, now, source="test")])
    site.world.centre.headers("operator", "operator2")
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{sos}")
    steps = page.locator("#procedure button")
    expect(steps).to_have_count(4)
    assert [b.get_attribute("data-action") for b in steps.all()] == [
        "call_protected",
        "police_alerted",
        "call_wearer",
        "note",
    ]
    page.keyboard.press("a")
    expect(page.locator("#a-status")).to_have_text("Acquittée")
    expect(page.locator("#a-detail")).to_contain_text("Personne protégée: 45.76400, 4.83570")
    expect(page.locator("#a-detail")).to_contain_text("Porteur: —")
    expect(page.locator("#map path.leaflet-interactive")).not_to_have_count(0)
    page.keyboard.press("2")  # the police, with what the page shows
    expect(page.locator("#actions")).to_contain_text("Alerter les forces de l'ordre")
    expect(page.locator("#a-detail")).to_contain_text("Personne protégée: 45.76400")  # kept

    log_in(page, site, "operator2")
    page.goto(f"{site.url}/alarms/{sos}")
    expect(page.locator("#protected-note")).to_contain_text("le seul opérateur")
    expect(page.locator("#a-detail")).not_to_contain_text("45.76")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(0)
