"""Why an alarm still to work has ended: the queue's rows carry the reason of its last clear.

An alarm can end with its rule and nothing observed: an exclusion zone's hours over with the
wearer still inside, an obligation lifted, a curfew's window over with him still out. The
queue told every end as "the condition has ended (the wearer came back…)"; it now has the
engine's reason to say which.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import episodes
from vigie.store.models import Alarm


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def row(world: World, alarm_id: int, **params: Any) -> dict[str, Any]:
    answer = world.centre.client.get(
        "/api/alarms", params=params, headers=world.centre.headers("operator")
    )
    assert answer.status_code == 200, answer.text
    (found,) = [a for a in answer.json() if a["id"] == alarm_id]
    return dict(found)


def test_the_queue_says_why_an_alarm_ended(world: World) -> None:
    zone = world.new_alarm(kind="zone_entry")
    absence = world.new_alarm(kind="absence")
    came_back = world.new_alarm(kind="zone_entry")
    still_open = world.new_alarm(kind="absence")
    world.end_alarm(zone, "zone_inactive", zone="Z1")
    world.end_alarm(absence, "window_end", present=False)
    world.end_alarm(came_back, "fix", zone="Z1", depth_m=-40.0)
    assert row(world, zone)["cleared_reason"] == "zone_inactive"
    assert row(world, absence)["cleared_reason"] == "window_end"
    assert row(world, came_back)["cleared_reason"] == "fix"
    assert row(world, still_open)["cleared_reason"] is None


def test_the_reason_is_the_last_clears_and_goes_with_a_new_raise(world: World) -> None:
    alarm = world.new_alarm(kind="zone_entry")
    world.end_alarm(alarm, "fix")
    with world.centre.db.session() as session:
        found = session.get_one(Alarm, alarm)
        raise_again = {"t": clock.now(), "case": found.case_ref, "kind": found.kind}
        raise_again |= {"state": "raised", "device": found.device, "detail": {}}
        episodes.fold(session, [raise_again], clock.now())
    assert row(world, alarm)["cleared_reason"] is None  # its condition holds again
    world.end_alarm(alarm, "obligation_removed")
    assert row(world, alarm)["cleared_reason"] == "obligation_removed"


def test_a_bar_clear_gives_its_reason_alone(world: World) -> None:
    """Only the reason leaves the clear's detail: never its distance (nor a position)."""
    alarm = world.new_alarm(kind="alert", bar=True)
    world.end_alarm(alarm, "fix", distance_m=12_345.0, protected_lat=48.1, protected_lon=2.2)
    found = row(world, alarm)
    assert found["cleared_reason"] == "fix"
    assert "12345" not in str(found) and "48.1" not in str(found)
