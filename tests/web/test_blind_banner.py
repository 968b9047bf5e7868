"""Every operator sees when the centre is blind: a banner fed by /api/health (issue 11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.alarms.test_end_to_end import eventually
from tests.web.conftest import Site, log_in
from vigie.clock import PARIS


def _rename(site: Site, old: str, new: str) -> None:
    with site.db.session() as session:
        session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_blind_centre_shows_every_operator_since_when(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    banner = page.locator("#blind")
    eventually(lambda: site.http.get("/api/health").status_code == 200)
    expect(banner).to_be_hidden()
    _rename(site, "engine_state", "engine_state_away")  # every detection step now fails
    try:
        failing: Any = eventually(
            lambda: (r := site.http.get("/api/health")).status_code == 503 and r.json()
        )
        since = datetime.fromisoformat(failing["pipeline"]["blind_since"]).astimezone(PARIS)
        expect(banner).to_be_visible(timeout=20_000)
        expect(banner).to_contain_text(f"Centre aveugle depuis {since:%H:%M}")
        page.goto(f"{site.url}/cases?lang=en")  # on every page, in either language
        expect(banner).to_contain_text(f"Centre blind since {since:%H:%M}", timeout=20_000)
    finally:
        _rename(site, "engine_state_away", "engine_state")
    eventually(lambda: site.http.get("/api/health").status_code == 200)
    expect(banner).to_be_hidden(timeout=20_000)
