"""Property: whatever arrives (any JSON the API is sent, any row in the store), true events
still raise their alarms and the centre stays healthy (issue 11, section 1)."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.alarms.test_quarantine import Clock, alarms, iso, obs, pipeline_of, post
from tests.cases import factories as make
from tests.conftest import Centre
from vigie import clock
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.settings import Settings
from vigie.store import observations as log
from vigie.store.models import Person

_cases = itertools.count(1)
TYPES = ["position", "presence", "tamper", "battery", "power", "tick", "obs", ""]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@st.composite
def records(draw: st.DrawFn, devices_: list[str]) -> dict[str, Any]:
    """An observation-shaped record gone wrong in any way: device, time, type, any field."""
    near = draw(st.sampled_from(["now", "skew", "any"]))
    now = clock.now()
    if near == "now":
        t: datetime = now + timedelta(seconds=draw(st.integers(-3600, 3600)))
    elif near == "skew":
        t = now + timedelta(seconds=draw(st.integers(250, 350)))
    else:
        t = draw(times)
    record: dict[str, Any] = {
        "device": draw(st.sampled_from(devices_) | st.text(min_size=1, max_size=8)),
        "t": iso(t),
        "type": draw(st.sampled_from(TYPES) | st.text(max_size=8)),
    }
    for name in draw(
        st.lists(
            st.sampled_from(
                ["lat", "lon", "accuracy_m", "present", "mains", "what", "level", "seq"]
            ),
            max_size=5,
        )
    ):
        record[name] = draw(
            json_value
            | st.sampled_from(["strap_open", "strap_opened", "restored", "true", 1, 0.5, 91.0])
        )
    record.update(draw(st.dictionaries(st.text(min_size=1, max_size=5), json_value, max_size=2)))
    return record


def new_case(centre: Centre) -> tuple[str, str]:
    """A DDSE case of its own with its own bracelet: this example's true events are its own."""
    n = next(_cases)
    case, bracelet = f"PT{n}", f"PB{n}"
    with centre.db.session() as session:
        wearer = session.scalars(select(Person)).first() or make.person(session)
        placement = placements.create(
            session, make.placement_form(wearer, make.contacts(session), case_ref=case), "t"
        )
        for device, kind, role in (
            (bracelet, "bracelet", "wearer"),
            (f"PH{n}", "home_unit", "home_unit"),
        ):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
    return case, bracelet


def _without_nul(value: Any) -> Any:
    """A store keeps no NUL character in text (PostgreSQL refuses it): no writer can store one."""
    if isinstance(value, str):
        return value.replace("\x00", "") or "?"
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def raw_row(record: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    """The record as a writer that checks nothing would store it (its columns must still hold:
    text without NUL, numbers a float column takes), and its time."""
    stored = _without_nul(record)
    stored["device"] = stored["device"][:64]
    stored["type"] = str(record["type"])[:20]
    for name in ("lat", "lon", "accuracy_m"):
        value = record.get(name)
        number = isinstance(value, float | int) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and abs(value) < 1e300):
            stored.pop(name, None)
    stored.pop("seq", None)
    try:  # an extra field drawn as "t" may have replaced the time with any JSON value
        t = datetime.fromisoformat(str(record["t"]).replace("Z", "+00:00"))
    except ValueError:
        t = clock.now()
    return stored, t if t.tzinfo else t.replace(tzinfo=UTC)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_nothing_sent_stops_true_events_from_raising_their_alarms(
    centre: Centre, at: Clock, data: st.DataObject
) -> None:
    case, bracelet = new_case(centre)
    pipeline = pipeline_of(centre, at)
    at.now += timedelta(seconds=1)
    pipeline.step()
    hostile = data.draw(st.lists(records([bracelet, "NOT-REGISTERED"]), max_size=6), "hostile")
    for record in hostile:
        answer = post(centre, record)
        assert answer.status_code in (200, 422), answer.text  # refused, never a crash
    # Written past every way in (an older version's rows): anything PostgreSQL can hold, so no
    # NUL character, which its text and jsonb refuse (every way in refuses it too).
    storable = records([bracelet]).filter(lambda r: "\\u0000" not in json.dumps(r))
    for record in data.draw(st.lists(storable, max_size=4), "stored as is"):
        stored, t = raw_row(record)
        with centre.db.session() as session:  # a duplicate is skipped, as the store does
            log.append(session, [log.row_for(stored | {"kind": "obs"}, t, at.now, source="test")])
    fix = obs(bracelet, iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
    cut = obs(bracelet, iso(at.now + timedelta(seconds=1)), "tamper", what="strap_cut")
    assert post(centre, fix, cut).is_success
    at.now += timedelta(seconds=2)
    pipeline.step()
    assert (case, "tamper", bracelet) in alarms(centre.db)
    at.now += timedelta(seconds=1000)  # past the signal timeout and any clock skew allowed
    pipeline.step()
    assert (case, "signal_lost", bracelet) in alarms(centre.db)
    health = centre.client.get("/api/health")
    assert health.status_code == 200, health.text


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    stopped = Clock(clock.now())
    monkeypatch.setattr(clock, "now", stopped)
    return stopped


@pytest.fixture
def centre_settings(database_url: str) -> Settings:
    # Each example moves the stopped clock on by minutes: tokens must outlive the whole run.
    return Settings(database_url=database_url, run_pipeline=False, jwt_ttl_s=10**9)
