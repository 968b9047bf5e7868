"""axe-core (npm, installed by `make web-assets` into build/npm) on every console page, for
every role: no serious or critical violation, in the light and the dark theme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.web.conftest import Site, log_in

AXE = Path(__file__).parents[2] / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
ROLES = ("operator", "supervisor", "spip", "judge", "prosecutor", "admin")


@pytest.fixture(scope="module")
def alarm_id(site: Site) -> int:
    return site.world.new_alarm(kind="alert", bar=True)


def pages(site: Site, alarm: int) -> dict[str, str]:
    placement = site.world.placement
    return {
        "queue": "/",
        "alarm": f"/alarms/{alarm}",
        "cases": "/cases",
        "case": f"/cases/{placement}",
        "zones": f"/cases/{site.world.bar_placement}/zones",
        "law": "/law",
        "exports": "/exports",
        "supervision": "/supervision",
        "map": "/map",
        "handover": "/handover",
        "devices": "/devices",
    }


def serious(page: Page) -> list[str]:
    """The serious and critical violations axe finds on the page as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Served from the page's own origin (the console's CSP allows scripts from 'self' only).
        page.route("**/static/test-only/axe.min.js", lambda route: route.fulfill(path=AXE))
        page.add_script_tag(url="/static/test-only/axe.min.js")
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, { resultTypes: ['violations'] })"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_core_is_installed() -> None:
    assert AXE.is_file(), "run `make web-assets` (npm ci installs axe-core into build/npm)"


def test_the_login_page_passes_axe(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/login")
    assert serious(page) == []


@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe_for_every_role(
    page: Page, site: Site, alarm_id: int, role: str
) -> None:
    log_in(page, site, f"{role}1")
    found: dict[str, list[str]] = {}
    for name, path in pages(site, alarm_id).items():
        page.goto(site.url + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(600)  # the page's first API answers drawn
        if name == "law" and role != "admin":
            page.click("#law-form button[type=submit]")
            page.wait_for_selector("#law-outcome, #law-error")
        for theme in ("light", "dark"):
            page.evaluate("(theme) => document.documentElement.dataset.theme = theme", theme)
            if problems := serious(page):
                found[f"{name} ({theme})"] = problems
    assert not found, "\n".join(f"{page}: {problems}" for page, problems in found.items())
