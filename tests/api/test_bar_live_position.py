"""The holder of a live BAR alert reads where she is now, not only where she was when it was
raised (vigie.alarms.live_positions): the police are sent to her latest fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.test_protected_privacy import HER, NOT_HOLDERS, offset
from tests.api.test_sos import fix, pipeline, post, queue
from tests.api.world import equip
from tests.conftest import Centre
from vigie import clock


def test_the_holder_of_a_bar_alert_reads_her_latest_fix(centre: Centre) -> None:
    equip(centre)
    t = clock.now() - timedelta(minutes=5)
    near = offset(HER, 90.0, 500)  # well inside the alert distance
    post(centre, [fix("PP", t, HER, 8.0), fix("WB", t + timedelta(seconds=30), near)])
    steps = pipeline(centre)
    steps.step()
    (alert,) = [a for a in queue(centre) if a["kind"] == "alert"]
    holder = centre.headers("operator")
    taken = centre.client.post(f"/api/alarms/{alert['id']}/acknowledge", headers=holder)
    assert taken.status_code == 200 and taken.json()["holding"]

    # She flees north, he follows: both phones keep reporting; no new event for the alarm.
    her_now, his_now = offset(HER, 0.0, 1200), offset(HER, 0.0, 700)
    later = t + timedelta(minutes=3)
    post(centre, [fix("PP", later, her_now, 6.0), fix("WB", later + timedelta(seconds=9), his_now)])
    steps.step()
    where = f"/api/alarms/{alert['id']}/protected-position"
    located = centre.client.get(where, headers=holder)
    assert located.status_code == 200, located.text
    body = located.json()
    raised = body["protected"]["protected_position"]  # where she was at the raise
    assert (raised["lat"], raised["lon"]) == pytest.approx(HER, abs=1e-6)
    live = body["live"]
    assert (live["protected_position"]["lat"], live["protected_position"]["lon"]) == pytest.approx(
        her_now, abs=1e-6
    )
    assert live["protected_wearer_position"]["lat"] == pytest.approx(his_now[0], abs=1e-6)
    assert live["wearer_device"] == "WB"
    assert 450 < live["protected_distance_m"] < 550
    for role, username in NOT_HOLDERS:  # nobody else, as before
        refused = centre.client.get(where, headers=centre.headers(role, username))
        assert refused.status_code == 403, (username, refused.text)


def test_a_bar_alert_about_a_protected_place_keeps_the_place(centre: Centre) -> None:
    """Her phone far away, the wearer at her workplace: the alert is the place's, whose position
    is fixed; her phone's position is no answer to it (its circles, its distance)."""
    world = equip(centre)
    work = offset(HER, 90.0, 8000)
    place = {"id": "work", "label": "Travail", "lat": work[0], "lon": work[1]}
    set_up = centre.client.patch(
        f"/api/placements/{world.bar_placement}",
        json={"protected_places": [place]},
        headers=centre.headers("admin"),
    )
    assert set_up.status_code == 200, set_up.text
    t = clock.now() - timedelta(minutes=5)
    post(centre, [fix("PP", t, HER, 8.0), fix("WB", t + timedelta(seconds=30), work)])
    pipeline(centre).step()
    (alert,) = [a for a in queue(centre) if a["kind"] == "alert"]
    holder = centre.headers("operator")
    assert centre.client.post(f"/api/alarms/{alert['id']}/acknowledge", headers=holder).is_success
    located = centre.client.get(f"/api/alarms/{alert['id']}/protected-position", headers=holder)
    assert located.status_code == 200, located.text
    body = located.json()
    assert "live" not in body
    at = body["protected"]["protected_position"]
    assert (at["lat"], at["lon"]) == pytest.approx(work, abs=1e-6)
