"""What a role may not use is hidden before the page paints (role.js and console.css), not only
by console.js after its first paint, in Chromium.

The scripts at the page's end (console.js and the rest) are kept from loading here: what the
page then shows is what it showed before they ran. A judge's page used to show the operators'
alarm bar, then shift when console.js hid it.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, Route, expect

from tests.web.conftest import Site, log_in
from vigie.api.security import ROLES

CSS = Path(__file__).parents[2] / "src/vigie/web/static/console.css"


HEAD_SCRIPTS = ("/static/theme.js", "/static/role.js")


def _as_first_painted(page: Page, site: Site) -> None:
    """The cases page with only the scripts of its <head>."""

    def only_the_head(route: Route) -> None:
        if route.request.url.endswith(HEAD_SCRIPTS):
            route.continue_()
        else:
            route.abort()

    page.route("**/*.js", only_the_head)
    page.goto(f"{site.url}/cases")


def test_a_judges_page_never_shows_the_operators_alarm_bar(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    _as_first_painted(page, site)
    expect(page.locator("html")).to_have_attribute("data-role", "judge")
    expect(page.locator("#search")).to_be_visible()  # the judge's own tools stay
    expect(page.locator(".top nav a[href='/exports']")).to_be_visible()
    expect(page.locator(".top nav a[href='/supervision']")).to_be_hidden()
    expect(page.locator("#alarm-bar")).to_be_hidden()
    assert page.locator("#alarm-bar").evaluate("n => getComputedStyle(n).display") == "none"


def test_an_operators_page_shows_the_alarm_bar_at_once(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    _as_first_painted(page, site)
    expect(page.locator("html")).to_have_attribute("data-role", "operator")
    expect(page.locator("#alarm-bar")).to_be_visible()
    expect(page.locator(".top nav a[href='/supervision']")).to_be_visible()
    expect(page.locator(".top nav a[href='/exports']")).to_be_hidden()


def test_the_style_names_every_role_of_the_api() -> None:
    rules = re.findall(r'html\[data-role="([a-z]+)"\] ([^,{]+?)\s*[,{]', CSS.read_text())
    hidden = {role for role, what in rules if what == f'[data-roles]:not([data-roles~="{role}"])'}
    shown = {role for role, what in rules if what == f'.top nav a[hidden][data-roles~="{role}"]'}
    assert hidden == shown == set(ROLES)
