"""An alarm imported with its case from another centre, in Chromium against the real centre: the
queue leaves it out, and its page shows it as that centre's record with nothing to do."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from vigie.store.models import Alarm


def test_an_imported_alarm_is_shown_as_a_record_and_not_queued(page: Page, site: Site) -> None:
    live = site.world.new_alarm("open", kind="tamper")
    record = site.world.new_alarm("open", kind="alert", bar=True)
    with site.db.session() as session:
        session.get_one(Alarm, record).imported_from = "d1c3b0a9e8f7"  # an archive's centre
    log_in(page, site, "operator1")
    expect(page.locator(f"tr[data-id='{live}']")).to_be_visible()
    expect(page.locator(f"tr[data-id='{record}']")).to_have_count(0)
    page.goto(f"{site.url}/alarms/{record}")
    expect(page.locator("#a-imported")).to_have_text("importée d'un autre centre")
    expect(page.locator("#a-kind")).to_be_visible()
    expect(page.locator("#ack")).to_be_hidden()
    expect(page.locator("#close-form")).to_be_hidden()
    page.goto(f"{site.url}/alarms/{live}")
    expect(page.locator("#ack")).to_be_visible()
    expect(page.locator("#a-imported")).to_be_hidden()
