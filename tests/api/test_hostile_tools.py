"""Hostile input on the night shift's tools, through the API on both databases.

Search, the handover notes, bulk acknowledgement, contacts, her position, known absences,
device commands, the report's preview and observations: each is sent what an attacker or a
broken client would send (huge, reversed, out of range, control characters, ids of nothing or
of another kind) and must answer a 4xx naming the field, or do the one safe thing, with nothing
else changed and no 500.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.store.bounds import INT32_MAX
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlertSuspension,
    AuditEntry,
    Contact,
    DeviceCommand,
    HandoverRead,
    Observation,
    Report,
)

TOO_BIG = INT32_MAX + 1  # an INTEGER column of PostgreSQL holds no more


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def get(world: World, path: str, role: str, **params: Any) -> Any:
    return world.centre.client.get(path, params=params, headers=world.centre.headers(role))


def post(world: World, path: str, role: str, body: Any = None) -> Any:
    return world.centre.client.post(path, json=body, headers=world.centre.headers(role))


def refused(answer: Any, field: str, status: int = 422) -> dict[str, Any]:
    """The answer is a refusal of `status` naming `field`; its body."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["field"] == field, body
    return body


def count(world: World, model: Any) -> int:
    with world.centre.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def actions(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# Search


@pytest.mark.parametrize("q", ["x" * 81, "C1" * 5000])
def test_search_refuses_a_huge_query_naming_q(world: World, q: str) -> None:
    refused(get(world, "/api/search", "operator", q=q), "q")
    assert actions(world, "search") == []


@pytest.mark.parametrize("q", ["%%", "__", "%_%", "_1", "\\%", "C%", "%1"])
def test_search_takes_like_wildcards_literally(world: World, q: str) -> None:
    answer = get(world, "/api/search", "operator", q=q)
    assert answer.status_code == 200 and answer.json() == [], q


@pytest.mark.parametrize("q", ["C1\x00", "\x00\x00", "Ma\x1brtin", "C1\x7f"])
def test_search_refuses_control_characters_naming_q(world: World, q: str) -> None:
    body = refused(get(world, "/api/search", "operator", q=q), "q")
    assert "control" in body["message"]
    assert actions(world, "search") == []


@pytest.mark.parametrize(
    "q",
    [
        "ＭＡＲＴＩＮ",  # full-width letters: not Martin
        "MART\u0130N",  # a dotted capital I: lower-cases to two characters
        "Mar\u200btin",  # a zero-width space inside
        "\u202eC1",  # a right-to-left override
        "ﬀ" * 40,  # ligatures that grow when case-folded
    ],
)
def test_search_survives_unicode_tricks_and_matches_nothing_by_accident(
    world: World, q: str
) -> None:
    answer = get(world, "/api/search", "operator", q=q)
    assert answer.status_code == 200, answer.text
    assert answer.json() == []


def test_search_by_a_url_encoded_lone_surrogate_is_answered(world: World) -> None:
    answer = world.centre.client.get(
        "/api/search?q=%ED%A0%80%ED%A0%80", headers=world.centre.headers("operator")
    )
    assert answer.status_code in (200, 422), answer.text


# Handover notes


def test_a_handover_note_too_long_or_with_a_nul_is_refused_naming_text(world: World) -> None:
    refused(post(world, "/api/handover", "operator", {"text": "x" * 8001}), "text")
    refused(post(world, "/api/handover", "operator", {"text": "batterie\x00 C1"}), "text")
    refused(post(world, "/api/handover", "operator", {"text": "x", "author": 1}), "author")
    assert actions(world, "handover_written") == []
    assert post(world, "/api/handover", "operator", {"text": "x" * 8000}).status_code == 201


@pytest.mark.parametrize("note_id", ["0", "-1", str(TOO_BIG), "1e3", "abc"])
def test_marking_a_note_of_no_storable_id_names_note_id(world: World, note_id: str) -> None:
    refused(post(world, f"/api/handover/{note_id}/read", "operator"), "note_id")


def test_marking_a_note_that_does_not_exist_is_a_404_and_changes_nothing(world: World) -> None:
    answer = post(world, f"/api/handover/{INT32_MAX}/read", "operator")
    assert answer.status_code == 404 and "not found" in answer.json()["message"]
    assert count(world, HandoverRead) == 0 and actions(world, "handover_read") == []


def test_the_author_cannot_mark_her_own_note_read_for_the_next_shift(world: World) -> None:
    note = post(world, "/api/handover", "operator", {"text": "C1 : à rappeler"}).json()["id"]
    body = refused(post(world, f"/api/handover/{note}/read", "operator"), "note_id", 409)
    assert "operator1" in body["message"]
    # Another operator's acknowledgement is hers to give only once, and only as herself.
    night = world.centre.headers("operator", "operator2")
    assert world.centre.client.post(f"/api/handover/{note}/read", headers=night).status_code == 200
    recent = get(world, "/api/handover", "supervisor").json()
    assert [r["user"] for r in recent[0]["read_by"]] == ["operator2"]
    assert [e.actor for e in actions(world, "handover_read")] == ["operator2"]


# Ids past what PostgreSQL's INTEGER columns hold (the 64-bit bound let them reach the driver)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/alarms/{big}", "alarm_id"),
        ("GET", "/api/alarms?after={big}", "after"),
        ("POST", "/api/handover/{big}/read", "note_id"),
        ("GET", "/api/placements/{big}/suspensions", "placement_id"),
        ("GET", "/api/alarms/{big}/protected-position", "alarm_id"),
    ],
)
def test_an_id_between_32_and_64_bits_is_refused_naming_it(
    world: World, method: str, path: str, field: str
) -> None:
    url = path.format(big=2**40)
    headers = world.centre.headers("operator")
    refused(world.centre.client.request(method, url, headers=headers), field)


# Bulk acknowledgement


def test_bulk_acknowledge_refuses_thousands_of_ids_before_reading_one(world: World) -> None:
    info = world.new_alarm(kind="signal_lost")
    body = refused(
        post(
            world, "/api/alarms/acknowledge-many", "operator", {"ids": [info] * 5000, "note": "n"}
        ),
        "ids",
    )
    assert "500" in body["message"]
    with world.centre.db.session() as session:
        assert session.get_one(Alarm, info).status == "open"


def test_bulk_acknowledge_takes_a_duplicated_id_once(world: World) -> None:
    info = world.new_alarm(kind="low_battery")
    answer = post(
        world, "/api/alarms/acknowledge-many", "operator", {"ids": [info, info, info], "note": "v"}
    )
    assert answer.status_code == 200, answer.text
    assert [a["id"] for a in answer.json()] == [info]
    with world.centre.db.session() as session:
        notes = session.scalars(select(AlarmAction).where(AlarmAction.alarm_id == info)).all()
    assert len(notes) == 1


def test_bulk_acknowledge_names_the_id_of_no_alarm_and_acknowledges_nothing(
    world: World,
) -> None:
    info = world.new_alarm(kind="power")
    for ids, field in (([info, 10**12], "ids[1]"), ([info, TOO_BIG], "ids[1]"), ([0], "ids[0]")):
        answer = post(world, "/api/alarms/acknowledge-many", "operator", {"ids": ids, "note": "v"})
        assert answer.status_code in (404, 422), answer.text
        assert answer.json()["field"] == field, answer.json()
    with world.centre.db.session() as session:
        assert session.get_one(Alarm, info).status == "open"
    assert actions(world, "bulk_acknowledge") == []


def test_bulk_acknowledge_refuses_a_closed_alarm_by_its_place(world: World) -> None:
    info = world.new_alarm(kind="signal_lost")
    closed = world.new_alarm("closed", kind="signal_lost")
    body = refused(
        post(
            world, "/api/alarms/acknowledge-many", "operator", {"ids": [info, closed], "note": "v"}
        ),
        "ids[1]",
    )
    assert body["alarm_id"] == closed
    with world.centre.db.session() as session:
        assert session.get_one(Alarm, info).status == "open"


# Contacts


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "06 11 22 33 44\x00"),
        ("phone", "06 11\n22 33 44"),
        ("phone", "appelez-moi"),
        ("phone", "<script>alert(1)</script>"),
        ("phone", "0" * 41),
        ("name", "Juge\x00Martin"),
        ("name", "x" * 201),
        ("service", "TJ\x1b[31m"),
        ("email", "juge@tj.fr\r\nBcc: x@y.z"),
        ("user_id", TOO_BIG),
        ("role", "admin"),
    ],
)
def test_a_contact_with_a_hostile_value_is_refused_naming_it(
    world: World, field: str, value: Any
) -> None:
    before = count(world, Contact)
    body = {
        "role": "judge",
        "name": "Juge Martin",
        "email": "juge@tj.fr",
        "phone": "01 44 32 51 51",
    }
    refused(post(world, "/api/contacts", "supervisor", body | {field: value}), field)
    assert count(world, Contact) == before


def test_a_contact_of_an_account_that_does_not_exist_is_refused(world: World) -> None:
    body = {"role": "judge", "name": "Juge", "email": "j@tj.fr", "user_id": 999_999}
    answer = refused(post(world, "/api/contacts", "supervisor", body), "user_id")
    assert "does not exist" in answer["message"]
    good = body | {"user_id": None, "phone": "+33 (0)1 44.32-51-51"}
    assert post(world, "/api/contacts", "supervisor", good).status_code == 201


def test_an_alarms_contacts_for_no_alarm_or_a_case_that_does_not_exist(world: World) -> None:
    refused(get(world, f"/api/alarms/{TOO_BIG}/contacts", "operator"), "alarm_id")
    assert get(world, f"/api/alarms/{INT32_MAX}/contacts", "operator").status_code == 404
    # An alarm whose case reference names no case (an old device's, a typing error upstream).
    alarm = world.new_alarm(kind="absence")
    with world.centre.db.session() as session:
        session.get_one(Alarm, alarm).case_ref = "NO-SUCH-CASE"
    answer = get(world, f"/api/alarms/{alarm}/contacts", "operator")
    assert answer.status_code in (200, 404), answer.text


# Her position


def _refused_position(world: World, alarm: int | str, role: str, username: str) -> Any:
    headers = world.centre.headers(role, username)
    return world.centre.client.get(f"/api/alarms/{alarm}/protected-position", headers=headers)


def test_her_position_is_never_given_and_every_refusal_is_audited(world: World) -> None:
    held = world.new_alarm("acknowledged", kind="alert", bar=True)  # operator1 holds it
    closed = world.new_alarm("closed", kind="alert", bar=True)
    open_ = world.new_alarm(kind="alert", bar=True)  # held by no one yet
    absence = world.new_alarm("acknowledged", kind="absence")  # not a BAR alarm nor an SOS
    cases = [
        (held, "operator", "operator2"),
        (held, "supervisor", "supervisor1"),
        (held, "judge", "judge1"),
        (closed, "operator", "operator1"),
        (open_, "operator", "operator1"),
        (absence, "operator", "operator1"),
    ]
    for alarm, role, username in cases:
        answer = _refused_position(world, alarm, role, username)
        assert answer.status_code == 403, (alarm, username, answer.text)
        assert "48.85" not in answer.text and "protected_lat" not in answer.text
    denied = [(e.actor, e.target) for e in actions(world, "protected_position_denied")]
    assert denied == [(u, f"alarm:{a}") for a, _, u in cases]
    assert actions(world, "read_protected_position") == []
    # The holder reads it, audited as such.
    assert _refused_position(world, held, "operator", "operator1").status_code == 200
    assert len(actions(world, "read_protected_position")) == 1


def test_asking_her_position_on_no_alarm_is_refused_and_audited(world: World) -> None:
    answer = _refused_position(world, INT32_MAX, "operator", "operator1")
    assert answer.status_code == 404
    (entry,) = actions(world, "protected_position_denied")
    assert entry.target == f"alarm:{INT32_MAX}" and entry.detail["status"] == "not_found"
    # Another case's alarm, for a judge who may not see it: refused as missing, audited.
    held = world.new_alarm("acknowledged", kind="alert", bar=True)
    stranger = _refused_position(world, held, "judge", "judge9")
    assert stranger.status_code == 404 and "48.85" not in stranger.text
    assert [e.actor for e in actions(world, "protected_position_denied")] == [
        "operator1",
        "judge9",
    ]
    refused(_refused_position(world, TOO_BIG, "operator", "operator1"), "alarm_id")


# Known absences


def _suspend(world: World, **times: Any) -> Any:
    now = clock.now()
    body = {
        "reason": "hearing",
        "note": "audience au TJ",
        "starts_at": (now - timedelta(minutes=10)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    } | {k: v if isinstance(v, str) else v.isoformat() for k, v in times.items()}
    return post(world, f"/api/placements/{world.placement}/suspensions", "supervisor", body)


def test_a_suspension_far_in_the_future_or_out_of_any_calendar_is_refused(world: World) -> None:
    now = clock.now()
    far = now + timedelta(days=3 * 365)
    refused(_suspend(world, starts_at=far, ends_at=far + timedelta(hours=3)), "starts_at")
    refused(
        _suspend(world, starts_at="0001-01-01T00:00:00+14:00", ends_at=now + timedelta(hours=1)),
        "starts_at",
    )
    refused(
        _suspend(world, starts_at=now, ends_at="9999-12-31T23:59:59-14:00"),
        "ends_at",
    )
    refused(_suspend(world, ends_at=now - timedelta(hours=1)), "ends_at")  # reversed
    refused(_suspend(world, ends_at=now + timedelta(days=10_000)), "ends_at")  # enormous
    refused(_suspend(world, note="x" * 2001), "note")
    refused(_suspend(world, note="hôpital\x00"), "note")
    assert count(world, AlertSuspension) == 0 and actions(world, "suspend_alerts") == []


def test_a_suspension_is_ended_once_even_before_it_starts(world: World) -> None:
    soon = clock.now() + timedelta(days=2)
    made = _suspend(world, starts_at=soon, ends_at=soon + timedelta(hours=3))
    assert made.status_code == 201, made.text
    path = f"/api/suspensions/{made.json()['id']}/end"
    assert post(world, path, "supervisor").status_code == 200
    again = refused(post(world, path, "supervisor"), "suspension")
    assert "already" in again["message"]
    assert len(actions(world, "end_alert_suspension")) == 1
    assert post(world, f"/api/suspensions/{INT32_MAX}/end", "supervisor").status_code == 404
    refused(post(world, f"/api/suspensions/{TOO_BIG}/end", "supervisor"), "suspension_id")


# Device commands


def _command(world: World, device: str, body: dict[str, Any]) -> Any:
    return post(world, f"/api/devices/{device}/commands", "supervisor", body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "self_destruct"}, "kind"),
        ({"kind": "x" * 31}, "kind"),
        ({"kind": "vibrate", "args": {"seconds": 10**30}}, "args"),
        ({"kind": "vibrate", "args": {"seconds": -1}}, "args"),
        ({"kind": "report_every", "args": {"seconds": 5, "kind": 1}}, "args"),
        ({"kind": "query_status", "args": {"kind": 1}}, "args"),
        ({"kind": "locate", "args": {"seconds": 10}}, "args"),
        ({"kind": "locate", "args": {f"a{i}": i for i in range(5)}}, "args"),
        ({"kind": "vibrate", "args": {"seconds": "ten"}}, "args.seconds"),
        ({"kind": "locate", "ttl_s": 10**9}, "ttl_s"),
        ({"kind": "locate", "reason": "x" * 501}, "reason"),
    ],
)
def test_a_bad_command_is_refused_naming_its_field_and_nothing_is_queued(
    world: World, body: dict[str, Any], field: str
) -> None:
    refused(_command(world, "B1", body), field)
    assert count(world, DeviceCommand) == 0 and actions(world, "device_command_queued") == []


@pytest.mark.parametrize("device", ["B1%00", "%00", "B1%1B", "D" * 65])
def test_a_command_to_a_device_id_of_control_characters_or_too_long(
    world: World, device: str
) -> None:
    refused(_command(world, device, {"kind": "locate"}), "device_id")
    answer = world.centre.client.get(
        f"/api/devices/{device}/commands", headers=world.centre.headers("supervisor")
    )
    refused(answer, "device_id")
    assert count(world, DeviceCommand) == 0


def test_a_command_to_no_device_is_a_404_and_to_a_device_of_no_case_is_audited(
    world: World,
) -> None:
    assert _command(world, "NOPE", {"kind": "locate"}).status_code == 404
    spare = world.new_device()  # in stock, on no case
    made = _command(world, spare, {"kind": "locate", "reason": "test en atelier"})
    assert made.status_code == 201, made.text
    (entry,) = actions(world, "device_command_queued")
    assert entry.actor == "user:supervisor1" and entry.target == f"device:{spare}"


# The report's preview


def test_a_report_preview_with_a_bad_qualification_or_of_a_closed_alarm(world: World) -> None:
    alarm = world.new_alarm("in_progress", kind="absence")
    path = f"/api/alarms/{alarm}/report/preview"
    refused(post(world, path, "operator", {"qualification": "guilty"}), "qualification")
    refused(post(world, path, "operator", {"qualification": "breach", "note": "x" * 4001}), "note")
    refused(post(world, path, "operator", {}), "qualification")
    closed = world.new_alarm("closed", kind="absence")
    late = post(
        world, f"/api/alarms/{closed}/report/preview", "operator", {"qualification": "breach"}
    )
    assert late.status_code == 409 and "closed" in late.json()["message"]
    missing = f"/api/alarms/{INT32_MAX}/report/preview"
    assert post(world, missing, "operator", {"qualification": "breach"}).status_code == 404
    # Nothing was saved, sent or changed by any of them.
    with world.centre.db.session() as session:
        assert session.get_one(Alarm, alarm).status == "in_progress"
        assert session.scalar(select(func.count()).select_from(Report)) == 1  # the closed one's
    assert actions(world, "preview_report") == []


# Observations: her SOS, and times out of any clock


def _observe(world: World, records: list[dict[str, Any]]) -> Any:
    return post(world, "/api/observations", "integration", {"observations": records})


def _sos(**extra: Any) -> dict[str, Any]:
    t = (clock.now() - timedelta(seconds=5)).isoformat()
    return {"device": "B1", "t": t, "type": "sos"} | extra


@pytest.mark.parametrize(
    "t",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "later",
        "2026-11-30T12:00:00",  # no offset: whose clock?
    ],
)
def test_an_sos_at_a_time_out_of_any_calendar_is_refused_naming_t(world: World, t: str) -> None:
    answer = _observe(world, [_sos(), _sos(t=t)])
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"].startswith("observations[1].") and "t" in answer.json()["field"]
    assert count(world, Observation) == 0


@pytest.mark.parametrize(
    ("ahead", "words"), [(timedelta(days=3), "ahead"), (-timedelta(days=366), "days before")]
)
def test_an_sos_far_in_the_future_or_over_a_year_old_is_refused(
    world: World, ahead: timedelta, words: str
) -> None:
    t = (clock.now() + ahead).isoformat()
    body = refused(_observe(world, [_sos(), _sos(t=t)]), "observations[1].t")
    assert words in body["message"]
    assert count(world, Observation) == 0


def test_an_sos_with_extra_fields_is_kept_whole_but_they_must_be_text(world: World) -> None:
    """An SOS is never refused for what it carries besides (her call must not be lost); what
    it carries is stored as sent, so it must be storable text (no NUL, no half character)."""
    kept = _observe(world, [_sos(button="long press", battery={"level": 3})])
    assert kept.status_code == 200 and kept.json()["accepted"] == 1
    body = refused(
        _observe(world, [_sos(t=clock.now().isoformat(), note="a\x00b")]), "observations[0].sos"
    )
    assert "NUL" in body["message"]
    assert count(world, Observation) == 1
