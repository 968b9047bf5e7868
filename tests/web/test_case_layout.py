"""The case page does not move under the pointer while it loads, in Chromium.

The page draws its sections (the person, the order, the devices, the map, the timeline, the
known absences...) once the API has answered. A judge who clicked "show the summary" while
they were still being drawn clicked where the button had been: the click landed on something
else, or on nothing. Here the page's API answers are held back (`page.route`) until the
controls a reader clicks first have been measured, then let through; every frame drawn
meanwhile is measured too, in the page, so that a move in between (the person drawn, the
devices not yet) counts as well. No timing is involved: the page is measured before any answer
can arrive, and again once every section shows what it loaded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.web.conftest import HeldBack, Site, log_in

# The case's own data, as the case page and its tools read them (not the alarm bar's, the
# session's or the centre's health, which every page reads and which move nothing here).
CASE_DATA = ("/api/placements/", "/api/console/placements/", "/api/persons/", "/api/devices")
LAW_NOTES = "/console/law/notes"

DESKTOP: ViewportSize = {"width": 1400, "height": 900}  # the `page` fixture's
PHONE: ViewportSize = {"width": 390, "height": 844}  # an officer's, as in test_screenshots

# What a reader clicks first, by role: the export or the zone editor, the summary, and beside
# the sections, the map and the timeline's filter. On a phone the page is one column, where
# the map follows the deadlines (as many as the measure has): the actions above them only.
READERS = [
    pytest.param(
        "judge",
        DESKTOP,
        ["#c-export", "#summary-show", "#summary-pdf", "#timeline-filter input", "#map"],
        id="judge",
    ),
    pytest.param(
        "supervisor",
        DESKTOP,
        ["#c-zones", "#summary-show", "#summary-pdf", "#timeline-filter input", "#map"],
        id="supervisor",
    ),
    pytest.param("spip", PHONE, ["#summary-show", "#summary-pdf"], id="spip-phone"),
]

# Keeps, at every frame the page draws, how far each control has gone from where it was first
# measured (its box in page coordinates, so that a scroll is no move), and the box it was in.
WATCH = """(selectors) => {
  const box = (selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height];
  };
  const first = Object.fromEntries(selectors.map((s) => [s, box(s)]));
  const moved = Object.fromEntries(selectors.map((s) => [s, { by: 0, to: first[s] }]));
  const sample = () => {
    for (const s of selectors) {
      const now = box(s);
      const by = Math.max(...now.map((v, i) => Math.abs(v - first[s][i])));
      if (by > moved[s].by) moved[s] = { by, to: now };
    }
  };
  let watching = true;
  const frame = () => { if (watching) { sample(); requestAnimationFrame(frame); } };
  requestAnimationFrame(frame);
  window.__layout = { stop: () => { watching = false; sample(); return { first, moved }; } };
}"""


def _case_data(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith(CASE_DATA) or path == LAW_NOTES


def _loaded(page: Page, role: str, case_ref: str) -> None:
    """Wait until every section of the case page shows what it loaded."""
    expect(page.locator("#c-ref")).to_have_text(case_ref)
    expect(page.locator("#c-person dd").first).to_be_attached()
    expect(page.locator("#c-deadlines li").first).to_be_attached()
    expect(page.locator("#c-devices tbody tr[data-device]")).to_have_count(2)
    expect(page.locator("#c-commands tbody tr").first).to_be_attached()
    expect(page.locator("#c-timeline li").first).to_be_attached()
    expect(page.locator("#map .leaflet-overlay-pane path").first).to_be_attached()
    expect(page.locator("#replay")).to_be_visible()  # the seeded track: an hour of fixes
    expect(page.locator("#suspension-list li").first).to_be_attached()
    expect(page.locator("#c-trace tbody tr").first).to_be_attached()
    if role == "supervisor":
        expect(page.locator("#c-assign")).to_be_visible()
        expect(page.locator("#assign-form select[name=device_id] option").first).to_be_attached()
    expect(page.locator("[aria-busy=true]")).to_have_count(0)  # no section says it is loading


Box = dict[str, float] | None


def load_held_back(page: Page, url: str, controls: list[str]) -> tuple[HeldBack, dict[str, Box]]:
    """Open the case page with its data held back; measure the controls, and watch them at
    every frame from then on (`WATCH`). Returns the held answers and the boxes before."""
    held = HeldBack(page, _case_data)
    page.goto(url)  # its scripts have run; no answer yet
    for selector in controls:
        expect(page.locator(selector).first).to_be_visible()
    before: dict[str, Box] = {s: page.locator(s).first.bounding_box() for s in controls}
    page.evaluate(WATCH, controls)
    assert held.routes, "the case page asked for none of the data held back: the test holds nothing"
    return held, before


def assert_unmoved(page: Page, controls: list[str], before: dict[str, Box]) -> None:
    """Once loaded: each control where it was before, and never more than a pixel away between."""
    page.evaluate("() => new Promise((drawn) => requestAnimationFrame(() => drawn(null)))")
    layout: dict[str, Any] = page.evaluate("() => window.__layout.stop()")
    for selector in controls:
        was, now = before[selector], page.locator(selector).first.bounding_box()
        assert was is not None and now is not None, selector
        assert abs(was["x"] - now["x"]) <= 1 and abs(was["y"] - now["y"]) <= 1, (
            f"{selector} was at {was} before the case loaded, at {now} after"
        )
    moved = {s: layout["moved"][s] for s in controls if layout["moved"][s]["by"] > 1}
    assert not moved, f"moved while the case loaded (from {layout['first']}): {moved}"


@pytest.mark.parametrize(("role", "viewport", "controls"), READERS)
def test_the_case_page_does_not_move_while_it_loads(
    page: Page, site: Site, role: str, viewport: ViewportSize, controls: list[str]
) -> None:
    page.set_viewport_size(viewport)
    log_in(page, site, f"{role}1")
    held, before = load_held_back(page, f"{site.url}/cases/{site.world.placement}", controls)
    held.release()
    _loaded(page, role, site.world.case_ref)
    assert_unmoved(page, controls, before)
