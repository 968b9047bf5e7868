"""A click in the alarm queue goes to the alarm the operator chose, not to one that has just slid
under the pointer, in Chromium.

The queue is drawn again at each event of the alarm stream, most urgent first: a new alarm
arriving above the row an operator is about to click shifts the rows down in the instant before
the click, which landed on the "acknowledge" of the alarm that took that place (a BAR alert
taken by mistake, its own operator's one left open). For a moment after another alarm takes a
row's place, a click there does nothing but say so (queue.js, MOVED_MS).

Nothing here is timed by sleeping: the new alarm's row is awaited at each frame the page draws,
then clicked where the chosen row's button was; the guard's end is awaited on the row's marker.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in

ROW = "#queue tbody tr[data-id='{}']"
FLASH = "La liste a changé sous le pointeur"  # fr.json's queue.moved


def _status(site: Site, alarm: int) -> str:
    answer = site.http.get(f"/api/alarms/{alarm}", headers=site.token_headers("operator"))
    answer.raise_for_status()
    status: str = answer.json()["status"]
    return status


def _listed(site: Site, case: str) -> int:
    answer = site.http.get(
        f"/api/alarms?case={case}&limit=1", headers=site.token_headers("operator")
    )
    answer.raise_for_status()
    return int(answer.headers["X-Total-Count"])


def _centre(page: Page, selector: str) -> tuple[float, float]:
    """Where a click aimed at `selector` lands, measured in one go in the page: the stream's
    events draw the rows again at any moment."""
    x, y = page.evaluate(
        """(selector) => {
          const box = document.querySelector(selector).getBoundingClientRect();
          return [box.x + box.width / 2, box.y + box.height / 2];
        }""",
        selector,
    )
    return x, y


def _row_at(page: Page, x: float, y: float) -> str:
    """The id of the alarm whose row is under the point."""
    found: str = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('tr').dataset.id", [x, y]
    )
    return found


def test_a_click_on_a_row_another_alarm_just_took_acknowledges_nothing(
    page: Page, site: Site
) -> None:
    # On the BAR case alone (no device reports on it): no alarm of the pipeline's moves the rows.
    first = site.world.new_alarm(kind="alert", bar=True)
    chosen = site.world.new_alarm(kind="tamper", bar=True)
    log_in(page, site, "operator1")
    page.fill("#filters input[name=case]", site.world.bar_case_ref)
    page.press("#filters input[name=case]", "Enter")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_have_attribute("data-id", str(chosen))
    # The filter changed what each place shows: its own guard, let lapse before aiming.
    expect(page.locator("#queue tbody tr[data-moved]")).to_have_count(0)
    x, y = _centre(page, f"{ROW.format(chosen)} button.ack")

    # A BAR alert raised after the first one: right under it, above the chosen alarm. Its row
    # is awaited at each frame (expect's own polling backs off to 500 ms, most of the window).
    new = site.world.new_alarm(kind="alert", bar=True)
    page.wait_for_function(
        "(selector) => document.querySelector(selector)", arg=ROW.format(new), polling="raf"
    )
    page.mouse.click(x, y)  # aimed at the chosen alarm's button, a row lower now
    under = _row_at(page, x, y)
    assert under == str(new), "the rows did not shift under the pointer"
    # The row it fell on is outlined for 1.5 s, even when the queue is drawn again meanwhile
    # (the stream's next event, here a filter sent again): the outline is the alarm's.
    expect(page.locator(ROW.format(new))).to_have_class(re.compile(r"\bmoved-refused\b"))
    page.evaluate(
        "(selector) => { document.querySelector(selector).dataset.old = '1'; }", ROW.format(new)
    )
    page.press("#filters input[name=case]", "Enter")
    redrawn = page.wait_for_function(
        """(selector) => {
          const row = document.querySelector(selector);
          return row && !row.dataset.old && row.className;
        }""",
        arg=ROW.format(new),
        polling="raf",
    )
    assert "moved-refused" in redrawn.json_value().split()

    expect(page.locator("#flash")).to_be_visible()
    assert (_status(site, new), _status(site, chosen)) == ("open", "open")
    expect(page.locator("#flash")).to_contain_text(FLASH)

    # The row above kept its place: an ordinary click on it acknowledges at once.
    still = page.locator(ROW.format(first))
    expect(still).not_to_have_attribute("data-moved", re.compile(".*"))
    still.locator("button.ack").click()
    expect(still).to_have_attribute("data-status", "acknowledged")
    assert _status(site, first) == "acknowledged"

    # Once the guard has lapsed, the same click acknowledges the alarm under the pointer.
    expect(page.locator(ROW.format(new))).not_to_have_attribute("data-moved", re.compile(".*"))
    page.mouse.click(x, y)
    expect(page.locator(ROW.format(new))).to_have_attribute("data-status", "acknowledged")
    assert (_status(site, new), _status(site, chosen)) == ("acknowledged", "open")


def test_a_tick_on_a_row_another_alarm_just_took_picks_nothing(page: Page, site: Site) -> None:
    """The bulk tool's box is guarded as the row's button: a signal-lost alarm ticked by a
    click aimed at another would be acknowledged with the others, unread."""
    lost = site.world.new_alarm(kind="signal_lost", bar=True)
    chosen = site.world.new_alarm(kind="low_battery", bar=True)  # priority 5: under `lost`'s 4
    log_in(page, site, "operator1")
    page.fill("#filters input[name=case]", site.world.bar_case_ref)
    page.press("#filters input[name=case]", "Enter")
    # The whole filtered list drawn (the first, unfiltered one has these rows elsewhere).
    expect(page.locator("#queue tbody tr")).to_have_count(_listed(site, site.world.bar_case_ref))
    box = "{} input.bulk-pick"
    expect(page.locator("#queue tbody tr[data-moved]")).to_have_count(0)
    x, y = _centre(page, box.format(ROW.format(chosen)))

    # Mains lost, raised after `lost` at its priority: right under it, above the chosen alarm.
    new = site.world.new_alarm(kind="power", bar=True)
    page.wait_for_function(
        "(selector) => document.querySelector(selector)", arg=ROW.format(new), polling="raf"
    )
    under = _row_at(page, x, y)
    page.mouse.click(x, y)  # aimed at the chosen alarm's box, a row lower now
    assert under == str(new), "the rows did not shift under the pointer"
    expect(page.locator(ROW.format(new))).to_have_class(re.compile(r"\bmoved-refused\b"))
    expect(page.locator("#flash")).to_contain_text(FLASH)
    expect(page.locator(box.format(ROW.format(new)))).not_to_be_checked()
    expect(page.locator("#bulk")).to_be_hidden()

    # Once the guard has lapsed, the same click ticks the alarm under the pointer.
    expect(page.locator(ROW.format(new))).not_to_have_attribute("data-moved", re.compile(".*"))
    page.mouse.click(x, y)
    expect(page.locator(box.format(ROW.format(new)))).to_be_checked()
    expect(page.locator("#bulk-count")).to_contain_text("1 alarme(s)")
    for other in (chosen, lost):
        expect(page.locator(box.format(ROW.format(other)))).not_to_be_checked()


def test_a_link_of_a_row_another_alarm_just_took_opens_nothing(page: Page, site: Site) -> None:
    """The alarm's number in a row is a link to its page: followed by a click aimed at another
    alarm, the operator would work an alarm he did not choose, and leave the queue."""
    chosen = site.world.new_alarm(kind="low_battery", bar=True)
    log_in(page, site, "operator1")
    page.fill("#filters input[name=case]", site.world.bar_case_ref)
    page.press("#filters input[name=case]", "Enter")
    expect(page.locator("#queue tbody tr")).to_have_count(_listed(site, site.world.bar_case_ref))
    expect(page.locator("#queue tbody tr[data-moved]")).to_have_count(0)
    # Aimed at the number's first digit: the table's columns may widen for the new row's words,
    # but not the priority column before it.
    x, y = page.evaluate(
        """(selector) => {
          const box = document.querySelector(selector).getBoundingClientRect();
          return [box.x + 3, box.y + box.height / 2];
        }""",
        f"{ROW.format(chosen)} a[href='/alarms/{chosen}']",
    )
    queue_url = page.url

    # Mains lost: a priority above the chosen alarm's, so its row lands above and pushes it down.
    new = site.world.new_alarm(kind="power", bar=True)
    page.wait_for_function(
        "(selector) => document.querySelector(selector)", arg=ROW.format(new), polling="raf"
    )
    under = _row_at(page, x, y)
    aimed = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('a')?.getAttribute('href')", [x, y]
    )
    assert under != str(chosen), "the rows did not shift under the pointer"
    assert aimed == f"/alarms/{under}", "the point is not on the number of the row under it"
    page.mouse.click(x, y)
    expect(page.locator(ROW.format(under))).to_have_class(re.compile(r"\bmoved-refused\b"))
    expect(page.locator("#flash")).to_contain_text(FLASH)
    assert page.url == queue_url

    # Once the guard has lapsed, the same click opens the page of the alarm under the pointer.
    expect(page.locator(ROW.format(under))).not_to_have_attribute("data-moved", re.compile(".*"))
    page.mouse.click(x, y)
    expect(page).to_have_url(re.compile(rf"/alarms/{under}$"))
