"""The real centre (uvicorn on 127.0.0.1, live pipeline) over a seeded world, and Debian's
Chromium driven by Playwright. Never `playwright install`: the browser is /usr/bin/chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre, fresh_database, running_loop, served
from vigie import clock
from vigie.api.security import create_user
from vigie.cases import placements
from vigie.settings import Settings
from vigie.store import Database, open_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"  # the password tests.conftest.Centre gives every account


@dataclass
class Site:
    """The running centre: its URL, its database, the seeded world, and an HTTP client."""

    url: str
    db: Database
    world: World
    http: httpx.Client
    other_case: int  # a placement of judge2's, that judge1 must not see

    def token_headers(self, role: str) -> dict[str, str]:
        return self.world.centre.headers(role)


def _seed_track(site_http: httpx.Client, headers: dict[str, str], device: str) -> None:
    """An hour of fixes around the wearer's home in Paris, ending now, and a battery report."""
    now = clock.now()
    fixes: list[dict[str, Any]] = [
        {
            "device": device,
            "t": (now - timedelta(minutes=60 - i)).isoformat(),
            "type": "position",
            "lat": make.HOME[0] + 0.002 * i / 60,
            "lon": make.HOME[1] + 0.004 * (i % 20) / 20,
            "accuracy_m": 8,
        }
        for i in range(0, 60, 2)
    ]
    fixes.append({"device": device, "t": now.isoformat(), "type": "battery", "level": 0.15})
    answer = site_http.post("/api/observations", json={"observations": fixes}, headers=headers)
    answer.raise_for_status()


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """A centre on a fresh SQLite database served by uvicorn on a free port, for one module."""
    with fresh_database(request, "sqlite", tmp_path_factory.mktemp("web-db")) as url:
        # Escalation after an hour, not 2 min: a handed BAR alert is released unanswered after
        # its escalation delay (30 s by default), which a browser slowed by a loaded host or by
        # faketime could reach before its click; no test here waits for an escalation.
        config = Settings(database_url=url, tick_s=0.1, run_pipeline=True, escalation_after_s=3600)
        with served(config) as base:
            db = open_database(url)
            http = httpx.Client(base_url=base, timeout=30)
            try:
                world = build(Centre(http, db))
                with db.session() as session:
                    judge2 = create_user(session, "judge2", PASSWORD, "judge", "Juge Deux")
                    who = make.contacts(session)
                    who.judge.user_id = judge2.id
                    stranger = make.person(session, "Bernard", home_lat=43.3, home_lon=5.4)
                    other = placements.create(
                        session, make.placement_form(stranger, who, case_ref="C3"), "test"
                    )
                    other_id = other.id
                _seed_track(http, world.centre.headers("integration"), "B1")
                yield Site(base, db, world, http, other_id)
            finally:
                http.close()
                db.dispose()


# The context's default timeout (below) does not reach `expect`, whose own is 5 s: too short for
# a page's fetches on a loaded CI host (the handover list once stayed empty past it).
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, for one module, and Playwright's driver stopped with it. The sync API marks its
    event loop running in the main thread until the driver stops (between its calls too): kept
    for the session, it failed the asyncio.run() of every later test (tests/alarms after
    tests/web). tests.conftest checks that no test outside tests/web starts with a loop running."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    leftover = running_loop()
    assert leftover is None, f"Playwright, stopped, left its event loop running: {leftover}"


@contextmanager
def open_tab(browser: Browser, **options: Any) -> Iterator[Page]:
    """A tab in a context of its own (French, 1400 x 900, unless `options` say otherwise);
    any JavaScript error the page raised fails the test when the tab is closed."""
    context = browser.new_context(
        **({"locale": "fr-FR", "viewport": {"width": 1400, "height": 900}} | options)
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with open_tab(browser) as tab:
        yield tab


INTERRUPTED = ("ERR_ABORTED", "is interrupted by another navigation")


class HeldBack:
    """The page's requests whose URL `matches` are held, unanswered, until `release()`, then let
    through with any that come after: what a page draws before its data arrives can be measured
    (the layout tests)."""

    def __init__(self, page: Page, matches: Callable[[str], bool]) -> None:
        self.routes: list[Route] = []
        self._holding = True
        page.route(matches, self._hold)

    def _hold(self, route: Route) -> None:
        if self._holding:
            self.routes.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        self._holding = False
        for route in self.routes:
            route.continue_()


def press(page: Page, selector: str) -> None:
    """Click a control of the alarm page on the control itself, once it is shown and enabled.

    A pointer click aimed before the layout moves lands on whatever moved under it: a click on
    "acknowledge" once hit the card beside it, and nothing was acknowledged. That move was the
    alarm bar's height, which no longer changes. The page's first-clicked controls keep their
    place while it loads (`test_alarm_layout.py`), but its parts are drawn again after each live
    read (another operator acting), which may still change a row's height: the click goes to the
    control itself all the same."""
    control = page.locator(selector)
    expect(control).to_be_visible()
    expect(control).to_be_enabled()
    control.dispatch_event("click")


def despite_interruptions(navigation: Callable[[], object]) -> None:
    """Run a navigation, again (three times at most) when Playwright reports it aborted or
    interrupted by another navigation of the page's own."""
    for attempt in range(3):
        try:
            navigation()
            return
        except PlaywrightError as exc:
            if not any(why in str(exc) for why in INTERRUPTED) or attempt == 2:
                raise


def logged_out(page: Page, site: Site) -> None:
    """Wait until `page` shows the login page after a logout (its own, or another tab's). The
    console may navigate there twice (the logout's handler, the session's "ended" signal), and
    Playwright then reports the first navigation aborted: wait for the next."""
    despite_interruptions(lambda: page.wait_for_url(f"{site.url}/login"))


def log_in(page: Page, site: Site, username: str, lang: str = "fr") -> None:
    # The page being left may navigate on its own meanwhile (ERR_ABORTED); Playwright has also
    # reported the goto "interrupted by another navigation" (once in CI, from /login to
    # /login?lang=fr, where no script of the login page navigates): ask again.
    despite_interruptions(lambda: page.goto(f"{site.url}/login?lang={lang}"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshots_dir(default: Path) -> Path:
    """Where screenshots go: `VIGIE_SCREENSHOTS_DIR` (make screenshots), else a temp folder."""
    import os

    folder = Path(os.environ.get("VIGIE_SCREENSHOTS_DIR") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
