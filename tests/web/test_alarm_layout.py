"""The alarm page does not move under the pointer while it loads, in Chromium.

The page draws its sections (the head, the people to call, the procedure, the log, the map)
once the API has answered, and shows "acknowledge" and the forms once it knows the alarm. An
operator who clicked "acknowledge", a number or a step while they were drawn clicked where it
had been: the click landed on something else (another contact's number: a wrong call). Here
the alarm's own API answers are held back (`page.route`) while the page is measured as first
shown, then let through; every frame drawn meanwhile is measured, in the page, until every
section shows what it loaded. No timing is involved: the page is measured before any answer
can arrive, and again once it has drawn them all.

What is measured: the controls an operator clicks first, from the first frame in which each has
a box (a control the page shows once it knows the alarm must appear where it stays), and the
lists they are drawn in, from the first paint: the corner of the contacts' list and of the
procedure's is where the first number and the first step appear. A list may grow, not move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.web.conftest import HeldBack, Site, log_in

DESKTOP = (1400, 900)  # the `page` fixture's
SMALL = (1024, 768)  # a small screen still shows two columns


@dataclass(frozen=True)
class Scene:
    """An alarm as operator1 finds it, and what he clicks first on it."""

    state: str  # open: to acknowledge; acknowledged or in progress: held by operator1
    kind: str
    bar: bool
    controls: tuple[str, ...]
    map_drawn: str  # what the map shows once drawn (the map is the last section drawn)
    viewport: tuple[int, int] = DESKTOP


PHONES = "#a-contacts a.phone"
HERS = "#a-contacts dd[data-contact=protected] a.phone"  # her number: her alert's holder's alone
STEPS = "#procedure button"
FORMS = (
    "#note-form textarea",
    "#note-form button",
    "#close-form select",
    "#close-form textarea",
    "#preview",
    "#close-form button[type=submit]",
)
# What the map draws over its base map: case C1's track (its wearer's hour of fixes, conftest);
# on case C2, which has no track, her position and its circles, for her alert's holder alone.
MARKS = "#map path.leaflet-interactive"
HIDDEN_FROM_HIM = "#protected-note"  # her position is not his: the map says why

SCENES = [
    pytest.param(
        Scene("open", "absence", False, ("#ack", PHONES, STEPS, "#map"), MARKS), id="open"
    ),
    pytest.param(
        Scene("in_progress", "tamper", False, (PHONES, STEPS, *FORMS, "#map"), MARKS), id="held"
    ),
    # A BAR alert has more people to call than the contacts keep room for (her, the nearest
    # target), so the map below them may move (not the work beside them).
    pytest.param(
        Scene("open", "alert", True, ("#ack", PHONES, STEPS), HIDDEN_FROM_HIM), id="bar-open"
    ),
    pytest.param(
        Scene("acknowledged", "alert", True, (HERS, PHONES, STEPS, *FORMS), MARKS), id="bar-held"
    ),
    pytest.param(
        Scene("open", "alert", True, ("#ack", PHONES, STEPS), HIDDEN_FROM_HIM, SMALL),
        id="bar-open-small",
    ),
]
LISTS = ("#a-contacts", "#procedure")

# Keeps, at every frame the page draws, how far each element a selector matches (the n-th, as
# the page draws its lists again) has gone from where it first had a box, in page coordinates
# (a scroll is no move): the whole box of a control, the top-left corner of a list.
WATCH = """([controls, lists]) => {
  const boxes = (selector) => [...document.querySelectorAll(selector)].map((node) => {
    if (!node.getClientRects().length) return null;  // not laid out (hidden)
    const r = node.getBoundingClientRect();
    const box = [r.left + scrollX, r.top + scrollY, r.width, r.height];
    return lists.includes(selector) ? box.slice(0, 2) : box;
  });
  const selectors = [...controls, ...lists];
  const first = Object.fromEntries(selectors.map((s) => [s, []]));
  const moved = {};
  const sample = () => {
    for (const s of selectors) {
      boxes(s).forEach((now, i) => {
        if (!now) return;
        if (!first[s][i]) { first[s][i] = now; return; }
        const by = Math.max(...now.map((v, j) => Math.abs(v - first[s][i][j])));
        const key = `${s} [${i}]`;
        if (by > (moved[key] ? moved[key].by : 0)) moved[key] = { by, from: first[s][i], to: now };
      });
    }
  };
  sample();
  let watching = true;
  const frame = () => { if (watching) { sample(); requestAnimationFrame(frame); } };
  requestAnimationFrame(frame);
  window.__layout = { stop: () => { watching = false; sample(); return { first, moved }; } };
}"""


def _alarm_data(alarm: int) -> Callable[[str], bool]:
    """The alarm's own reads: itself, its context, its contacts, her position (not the alarm
    bar's, the session's or the centre's health, which every page reads and move nothing)."""
    own, console = f"/api/alarms/{alarm}", f"/api/console/alarms/{alarm}/"

    def matches(url: str) -> bool:
        path = urlsplit(url).path
        return path == own or path.startswith((f"{own}/", console))

    return matches


def _until(page: Page, done: Callable[[], bool], what: str) -> None:
    """Let the page run (its requests reach the route) until `done()`, 15 s at most."""
    deadline = time.monotonic() + 15
    while not done():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(50)


def _loaded(page: Page, scene: Scene) -> None:
    """Wait until every section of the alarm page shows what it loaded."""
    expect(page.locator("#a-kind")).not_to_be_empty()
    expect(page.locator("#a-holder")).not_to_be_empty()
    expect(page.locator("#a-contacts dd[data-contact=police]")).to_be_attached()
    expect(page.locator(STEPS).first).to_be_attached()
    expect(page.locator(scene.map_drawn).first).to_be_visible()
    for selector in scene.controls:
        for control in page.locator(selector).all():
            expect(control).to_be_visible()
    expect(page.locator("[aria-busy=true]")).to_have_count(0)  # no section says it is loading


@pytest.mark.parametrize("scene", SCENES)
def test_the_alarm_page_does_not_move_while_it_loads(page: Page, site: Site, scene: Scene) -> None:
    alarm = site.world.new_alarm(scene.state, kind=scene.kind, bar=scene.bar)
    width, height = scene.viewport
    page.set_viewport_size(ViewportSize(width=width, height=height))
    log_in(page, site, "operator1")
    held = HeldBack(page, _alarm_data(alarm))
    page.goto(f"{site.url}/alarms/{alarm}")  # its scripts have run; no answer yet
    page.evaluate(WATCH, [list(scene.controls), list(LISTS)])
    # The alarm, its context and its contacts: asked for at once, none answered yet.
    _until(page, lambda: len(held.routes) >= 3, "the alarm page did not ask for its alarm's data")
    busy = page.locator("[aria-busy=true]").count()

    held.release()
    _loaded(page, scene)
    page.evaluate("() => new Promise((drawn) => requestAnimationFrame(() => drawn(null)))")
    layout: dict[str, Any] = page.evaluate("() => window.__layout.stop()")

    for selector in (*scene.controls, *LISTS):
        assert layout["first"][selector], f"{selector} was never in the page"
    assert not layout["moved"], (
        f"moved while the alarm loaded (first seen at {layout['first']}): {layout['moved']}"
    )
    # The head, the contacts, the map and the work said they were loading until drawn.
    assert busy == 4, f"{busy} sections said they were loading, not 4"
