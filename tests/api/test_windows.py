"""A weekly window is read one way by the API and by detection (`vigie.weekly`): the API took
`from` equal to `to`, which detection refuses (the placement saved, then not watched), and
refused `daily`, `Sat` and `24:00`, which detection reads."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.api.world import build
from tests.conftest import Centre
from vigie.cases.forms import Window
from vigie.detect.scenario import ScenarioError, WindowSpec
from vigie.detect.schedule import WeeklySchedule

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[2.30, 48.80], [2.31, 48.80], [2.31, 48.81], [2.30, 48.81], [2.30, 48.80]]],
}
WINDOWS = [
    ({"days": "daily", "from": "22:00", "to": "24:00"}, True),
    ({"days": "Sat, fri-mon", "from": "08:00", "to": "07:00"}, True),
    ({"days": "*", "from": "00:00", "to": "24:00"}, True),
    ({"days": "mon-fri", "from": "20:00", "to": "07:00"}, True),
    ({"days": "mon", "from": "08:00", "to": "08:00"}, False),
    ({"days": "mon", "from": "24:00", "to": "08:00"}, False),
    ({"days": "mon", "from": "8:00", "to": "09:00"}, False),
    ({"days": "mon", "from": "08:00", "to": "24:30"}, False),
    ({"days": "funday", "from": "08:00", "to": "09:00"}, False),
    ({"days": "mon-", "from": "08:00", "to": "09:00"}, False),
    ({"days": "", "from": "08:00", "to": "09:00"}, False),
]


def _engine_reads(window: dict[str, str]) -> bool:
    try:
        WeeklySchedule.parse([WindowSpec.model_validate(window)], "Europe/Paris", "schedule")
    except ScenarioError:
        return False
    return True


def _form_takes(window: dict[str, str]) -> bool:
    try:
        Window.model_validate(window)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("window", "valid"), WINDOWS)
def test_the_api_takes_a_window_exactly_when_detection_reads_it(
    window: dict[str, str], valid: bool
) -> None:
    assert _engine_reads(window) is valid
    assert _form_takes(window) is valid


def _put_zone(centre: Centre, placement: int, schedule: list[dict[str, str]]) -> Any:
    return centre.client.put(
        f"/api/placements/{placement}/zones/Z7",
        json={"id": "Z7", "type": "exclusion", "geometry": SQUARE, "schedule": schedule},
        headers=centre.headers("supervisor"),
    )


def test_a_zone_window_detection_would_refuse_is_refused_naming_it(centre: Centre) -> None:
    world = build(centre)
    answer = _put_zone(centre, world.placement, [{"days": "mon", "from": "08:00", "to": "08:00"}])
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"].startswith("schedule[0]")
    assert "00:00-24:00" in answer.json()["message"]
    answer = _put_zone(centre, world.placement, [{"days": "lun", "from": "08:00", "to": "09:00"}])
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "schedule[0].days"
    assert "mon..sun" in answer.json()["message"]


def test_a_window_as_detection_reads_it_is_saved_as_given(centre: Centre) -> None:
    world = build(centre)
    schedule = [
        {"days": "daily", "from": "22:00", "to": "24:00"},
        {"days": "Sat, fri-mon", "from": "08:00", "to": "07:00"},
    ]
    answer = _put_zone(centre, world.placement, schedule)
    assert answer.status_code == 200, answer.text
    shown = centre.client.get(
        f"/api/placements/{world.placement}", headers=centre.headers("supervisor")
    ).json()
    zone = next(z for z in shown["zones"] if z["id"] == "Z7")
    assert zone["schedule"] == schedule
