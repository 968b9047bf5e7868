"""The end of a measure in Chromium against the real centre: supervision lists the case watched
past its end date, a supervisor ends it on its page, and every reader then sees it ended."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Dialog, Page, expect

from tests.web.conftest import Site, log_in
from tests.web.test_console_tools import switch_user
from vigie import clock
from vigie.store.models import Placement


def test_a_supervisor_ends_a_measure_watched_past_its_end_date(page: Page, site: Site) -> None:
    with site.db.session() as session:
        case = session.get_one(Placement, site.world.placement)
        case.end_date = clock.today_in_paris() - timedelta(days=1)
        ref = case.case_ref
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    overdue = page.locator(f"#sup-pastend li[data-case='{ref}']")
    expect(overdue).to_contain_text("fin le")
    overdue.locator("a").click()

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    expect(page.locator("#end-form")).to_be_visible()
    page.select_option("#end-form select[name=reason]", "lifted")
    page.fill("#end-form input[name=decision_ref]", "JAP-2026-0107")
    page.fill("#end-form input[name=note]", "Mainlevée prononcée à l'audience")
    page.click("#end-form button[type=submit]")
    expect(page.locator("#flash")).to_contain_text(
        "le bilan de la mesure part au juge, au parquet et au SPIP"
    )
    banner = page.locator("#c-ended")
    expect(banner).to_contain_text("Mesure terminée le")
    expect(banner).to_contain_text("Mainlevée anticipée par le juge")
    expect(banner).to_contain_text("enregistrée par supervisor1")
    assert asked and ref in asked[0]
    expect(page.locator("#end-form")).to_have_count(0)
    expect(page.locator("#suspension-form")).to_have_count(0)
    with site.db.session() as session:
        ended = session.get_one(Placement, site.world.placement)
        assert (ended.status, ended.end_ref) == ("ended", "JAP-2026-0107")

    page.goto(f"{site.url}/supervision")
    expect(page.locator("#sup-pastend")).to_contain_text("Aucune")
    switch_user(page, site, "judge1")  # the case's judge reads it ended, with nothing to change
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-ended")).to_contain_text("JAP-2026-0107")
    expect(page.locator("#c-order")).to_contain_text("Terminée")
    expect(page.locator("#c-end")).to_have_count(0)
    page.goto(f"{site.url}/cases")  # the list says it in words, the ended case greyed
    expect(page.locator("#cases tr[data-status='ended']")).to_contain_text("Terminée")
    expect(page.locator("#cases tr[data-status='active']").first).to_contain_text("En cours")
