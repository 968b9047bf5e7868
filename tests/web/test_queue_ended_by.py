"""The queue tells an alarm that ended with its rule apart from one whose situation ended, in
Chromium.

An exclusion zone's hours over with the wearer still inside, an obligation lifted, a curfew's
window over with him still out: each ends the alarm's condition with nothing observed. The
queue said "fin de l'événement: the condition has ended (the wearer came back…)" for them too,
which an operator could read as the wearer back out of the zone.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in

ROW = "#queue tbody tr[data-id='{}'] .ended"


def test_an_alarm_ended_with_its_rule_is_not_told_as_his_return(page: Page, site: Site) -> None:
    hours_over = site.world.new_alarm(kind="zone_entry")
    still_out = site.world.new_alarm(kind="absence")
    came_back = site.world.new_alarm(kind="zone_entry")
    site.world.end_alarm(hours_over, "zone_inactive", zone="Z1")
    site.world.end_alarm(still_out, "window_end", present=False)
    site.world.end_alarm(came_back, "fix", zone="Z1", depth_m=-40.0)
    log_in(page, site, "operator1")
    page.fill("#filters input[name=case]", site.world.case_ref)
    page.press("#filters input[name=case]", "Enter")

    rule = page.locator(ROW.format(hours_over))
    expect(rule).to_have_text("fin de la règle")
    expect(rule).to_have_attribute("title", re.compile(r"^La zone n'était plus en vigueur"))
    expect(rule).to_have_class(re.compile(r"\bby-rule\b"))
    window = page.locator(ROW.format(still_out))
    expect(window).to_have_text("fin de la règle")
    expect(window).to_have_attribute("title", re.compile(r"sans que la personne placée soit"))
    ended = page.locator(ROW.format(came_back))
    expect(ended).to_have_text("fin de l'événement")
    expect(ended).to_have_attribute("title", re.compile(r"^La condition a cessé"))
    # The legend says what the new mark means.
    expect(page.locator("#queue-legend")).to_contain_text("fin de la règle")
