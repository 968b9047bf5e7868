"""A case's dates are days a court could write: the API saved a court order of year 1, a start
in 9999 and an end before the start (by create, change or renewal), shown and counted as they
were (an end of 0001-01-01 listed the measure as past its end on the supervision page)."""

from __future__ import annotations

from datetime import timedelta

from tests.api.test_watchable import HOURS, _form
from tests.api.world import build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.cases.forms import FIRST_YEAR, LAST_YEAR
from vigie.store.models import Placement


def test_dates_out_of_the_years_are_refused_naming_them(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for field in ("court_order_date", "start_date", "end_date"):
        for day in (
            "0001-01-01",
            f"{FIRST_YEAR - 1}-12-31",
            f"{LAST_YEAR + 1}-01-01",
            "9999-12-31",
        ):
            answer = centre.client.post(
                "/api/placements",
                json=_form(world, "ddse", make.ddse_law(), schedule=HOURS, **{field: day}),
                headers=supervisor,
            )
            assert answer.status_code == 422, (field, day, answer.text)
            assert answer.json()["field"] == field
    # The years' own ends are taken.
    taken = centre.client.post(
        "/api/placements",
        json=_form(world, "ddse", make.ddse_law(), schedule=HOURS, end_date=f"{LAST_YEAR}-12-31"),
        headers=supervisor,
    )
    assert taken.status_code == 201, taken.text
    born = centre.client.post(
        "/api/persons",
        json={"last_name": "Ancien", "first_name": "Paul", "birth_date": "1850-01-01"},
        headers=supervisor,
    )
    assert born.status_code == 422, born.text
    assert born.json()["field"] == "birth_date"


def test_an_end_before_the_start_is_refused_on_create_change_and_renewal(
    centre: Centre,
) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    made = centre.client.post(
        "/api/placements",
        json=_form(
            world,
            "ddse",
            make.ddse_law(),
            schedule=HOURS,
            start_date="2026-11-23",
            end_date="2026-11-22",
        ),
        headers=supervisor,
    )
    assert made.status_code == 422, made.text
    assert made.json()["field"] == "end_date"
    assert "before the measure's start" in made.json()["message"]
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.placement)
        start, end, revision = placement.start_date, placement.end_date, placement.revision
    day_before = (start - timedelta(days=1)).isoformat()
    for method, path in (
        ("PATCH", f"/api/placements/{world.placement}"),
        ("POST", f"/api/placements/{world.placement}/renew"),
    ):
        answer = centre.client.request(
            method, path, json={"end_date": day_before}, headers=supervisor
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "end_date"
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.placement)
        assert (placement.end_date, placement.revision) == (end, revision)
    # Its start day itself is an end (a measure of one day).
    same_day = centre.client.patch(
        f"/api/placements/{world.placement}",
        json={"end_date": start.isoformat()},
        headers=supervisor,
    )
    assert same_day.status_code == 200, same_day.text
