"""A legal case whose dates leave the calendar is refused with a 422 naming the field: the API
answered 500 (the law engine ended on an OverflowError) and saved nothing, unexplained."""

from __future__ import annotations

from tests.api.test_watchable import HOURS, _form
from tests.api.world import build
from tests.cases import factories as make
from tests.conftest import Centre


def test_a_law_input_out_of_the_calendar_is_a_422_naming_it(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for change, field in (
        ({"pretrial_days": 4_000_000}, "law.pretrial_days"),
        ({"committal_date": "9999-12-01", "as_of": "9999-12-02"}, "law.as_of"),
        (
            {"sentences": [{"quantum": "P1000000Y", "category": "delit", "offences": []}]},
            "law.sentences[0].quantum",
        ),
    ):
        law = make.ddse_law() | change
        answer = centre.client.post(
            "/api/placements", json=_form(world, "ddse", law, schedule=HOURS), headers=supervisor
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
        changed = centre.client.patch(
            f"/api/placements/{world.placement}", json={"law": law}, headers=supervisor
        )
        assert changed.status_code == 422, changed.text
        assert changed.json()["field"] == field
