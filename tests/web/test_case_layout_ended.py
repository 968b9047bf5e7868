"""An ended case's page does not move under the pointer while it loads either, in Chromium.

The end of the measure is said in a banner drawn with the case (its text needs the API's
answer, and its height a free note). Above the two columns, it pushed the map and the
timeline's filter down under a reader's pointer; it now heads the case file's own column.
Measured as in `test_case_layout`: the answers held back, every frame watched.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from tests.web.test_case_layout import assert_unmoved, load_held_back

CONTROLS = ["#summary-show", "#summary-pdf", "#timeline-filter input", "#map"]
NOTE = "Mainlevée prononcée à l'audience du juge des libertés, " * 6  # a banner of several lines


def test_an_ended_case_page_does_not_move_while_it_loads(page: Page, site: Site) -> None:
    ended = site.http.post(
        f"/api/placements/{site.world.placement}/end",
        headers=site.token_headers("supervisor"),
        json={"reason": "lifted", "decision_ref": "JAP-2026-0311", "note": NOTE.strip()},
    )
    ended.raise_for_status()
    log_in(page, site, "judge1")
    held, before = load_held_back(page, f"{site.url}/cases/{site.world.placement}", CONTROLS)
    held.release()
    banner = page.locator("#c-ended")
    expect(banner).to_contain_text("JAP-2026-0311")
    expect(page.locator("#c-timeline li").first).to_be_attached()
    expect(page.locator("[aria-busy=true]")).to_have_count(0)
    assert_unmoved(page, CONTROLS, before)
    box = banner.bounding_box()
    assert box is not None and box["height"] > 40, "the note did not make the banner tall"
