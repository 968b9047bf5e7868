"""A measure's summary the outbox could not deliver is on the supervision page in Chromium, named
as a summary, linked to its case (not to an alarm), with a resend."""

from __future__ import annotations

import time
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in
from vigie import clock
from vigie.store.models import OutboxMessage, Report, SummaryOwed


def test_a_summary_given_up_is_shown_with_its_case_and_can_be_resent(
    page: Page, site: Site
) -> None:
    world = site.world
    ended = site.http.post(
        f"/api/placements/{world.placement}/end",
        json={"reason": "term"},
        headers=site.token_headers("supervisor"),
    )
    assert ended.status_code == 200, ended.text
    # The running centre's outbox makes the summary by itself (its loop, as in production).
    report = None
    deadline = time.monotonic() + 20
    while report is None and time.monotonic() < deadline:
        with site.db.session() as session:
            report = session.scalars(
                select(Report.id).where(Report.placement_id == world.placement)
            ).first()
        time.sleep(0.1)
    assert report is not None, "the centre's outbox never made the summary"
    with site.db.session() as session:
        # One delivery given up (a row of its own: the centre's outbox sends the others).
        message = OutboxMessage(
            report_id=report,
            recipient="spip@justice.test",
            recipient_role="spip",
            subject="[Vigie] Bilan de fin de mesure — dossier C1",
            attempts=99,
            last_error="SMTPServerDisconnected: gone",
        )
        session.add(message)
        session.flush()
        planted = message.id

    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    item = page.locator(f"#sup-undelivered li.undelivered[data-id='{planted}']")
    link = item.locator("a")
    expect(link).to_have_text("bilan de fin de mesure")
    expect(link).to_have_attribute("href", f"/cases/{world.placement}")
    expect(item).to_contain_text("(C1)")
    expect(item).to_contain_text("SMTPServerDisconnected")
    item.locator("button.resend").click()
    expect(page.locator("#flash")).to_have_text("Rapport remis en file d'envoi")
    expect(item).to_have_count(0)


def test_a_summary_not_made_yet_is_shown_with_its_error(page: Page, site: Site) -> None:
    world = site.world
    now = clock.now()
    with site.db.session() as session:  # the bar case's summary failed twice (not due again yet)
        session.add(
            SummaryOwed(
                placement_id=world.bar_placement,
                since=now - timedelta(hours=1),
                attempts=2,
                next_attempt_at=now + timedelta(hours=1),
                last_error="OSError: no fonts",
            )
        )
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    item = page.locator(f"#sup-notmade li[data-placement='{world.bar_placement}']")
    expect(item).to_contain_text("pas encore établi")
    expect(item).to_contain_text("OSError: no fonts")
    expect(item).to_contain_text("2 tentatives")
    expect(item.locator("a")).to_have_attribute("href", f"/cases/{world.bar_placement}")
