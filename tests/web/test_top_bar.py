"""The console's top bar holds on one line on a 1,400-pixel screen, in French, for the roles of
the console, in Chromium: it wrapped the theme and log-out buttons onto a second line, a bar
twice as tall above every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in


@pytest.mark.parametrize("user", ["operator1", "supervisor1", "admin1", "judge1", "spip1"])
def test_the_top_bar_is_one_line_at_1400_pixels(page: Page, site: Site, user: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, site, user, lang="fr")
    expect(page.locator("#who")).not_to_be_empty()  # the session drawn: every item in place
    expect(page.locator("html")).to_have_attribute("data-role", user[:-1])  # its menu shown
    # Each item's middle: on one line they lie within a few pixels (a button is taller than a
    # word); a second line is a button's height (about 40 px) lower.
    middles = page.evaluate(
        """() => [...document.querySelector('header.top').children]
          .filter((e) => e.getClientRects().length)
          .map((e) => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; })"""
    )
    assert len(middles) >= 6 and max(middles) - min(middles) < 12, middles
    # The theme button keeps its name for whoever cannot see its sign.
    expect(page.locator("#theme-toggle")).to_have_accessible_name("Thème sombre")
