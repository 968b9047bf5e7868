"""An alarm's zone depth says on which side of the zone the wearer is, in Chromium.

The engine counts a zone breach's depth on the forbidden side: inside an exclusion zone, but
outside an inclusion zone (his home, say). The page read every depth as "in the zone by": a
wearer 220 m out of his inclusion zone was shown in it, which reads as no breach at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in


@pytest.mark.parametrize(
    ("kind", "zone_type", "said"),
    [
        ("zone_exit", "inclusion", "Distance hors de la zone : 220 m"),
        ("zone_entry", "exclusion", "Profondeur dans la zone : 220 m"),
        ("zone_entry", None, "Distance à la limite de la zone : 220 m"),
    ],
)
def test_the_depth_says_where_the_wearer_is(
    page: Page, site: Site, kind: str, zone_type: str | None, said: str
) -> None:
    detail: dict[str, Any] = {"zone": "domicile", "depth_m": 220.0, "accuracy_m": 6.0}
    if zone_type:
        detail["zone_type"] = zone_type
    alarm = site.world.new_alarm(kind=kind, detail=detail)
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{alarm}")
    expect(page.locator("#a-detail")).to_contain_text(said)
    if zone_type == "inclusion":
        expect(page.locator("#a-detail")).not_to_contain_text("dans la zone")


def test_a_cleared_depth_is_said_on_its_own_side(page: Page, site: Site) -> None:
    """A depth below zero is on the allowed side: back in his inclusion zone by 15 m."""
    log_in(page, site, "operator1")
    words = page.evaluate(
        "(d) => Vigie.detailText(d)", {"zone_type": "inclusion", "depth_m": -15.0}
    )
    assert words == "Type de zone : inclusion · Profondeur dans la zone : 15 m"


def test_an_unmonitored_alarm_says_what_detection_refused(page: Page, site: Site) -> None:
    """Its detail (the field refused, the engine's words, since when, a reminder) showed as
    nothing: the page says only the keys it knows."""
    log_in(page, site, "operator1")
    detail = {
        "field": "home_unit",
        "error": "DDSE: a home unit is needed",
        "watched_as_before": True,
        "again": True,
    }
    words = page.evaluate("(d) => Vigie.detailText(d)", detail)
    assert words == (
        "Donnée refusée par la détection : boîtier de domicile · "
        "Motif (détection) : DDSE: a home unit is needed · "
        "Surveillée selon sa version précédente · Rappel : le défaut dure toujours"
    )
    zone = page.evaluate("(d) => Vigie.detailText(d)", {"field": "zones.0.geometry"})
    assert zone == "Donnée refusée par la détection : zones"
    since = page.evaluate("(d) => Vigie.detailText(d)", {"since": "2026-11-23T08:00:00+00:00"})
    assert since == "Non surveillée depuis : 23/11/2026 09:00:00"  # Paris time
