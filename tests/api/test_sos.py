"""Her SOS through the API and the real pipeline: the queue's first alarm, its procedure, the
holder's live view of where she is (no one else's), the raised reporting rate, the report."""

from __future__ import annotations

import html
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from tests.api.test_protected_privacy import HER, HIS_HOME, NOT_HOLDERS, offset, shows_her
from tests.api.world import equip
from tests.conftest import Centre
from vigie import clock, observation
from vigie.alarms.pipeline import Pipeline
from vigie.export.case_export import ExportRequest, export_case
from vigie.settings import Settings
from vigie.store.models import Alarm, AuditEntry, DeviceCommand


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def post(centre: Centre, records: list[dict[str, Any]]) -> None:
    answer = centre.client.post(
        "/api/observations",
        json={"observations": records},
        headers=centre.headers("integration"),
    )
    assert answer.status_code == 200, answer.text


def fix(device: str, t: datetime, where: tuple[float, float], acc: float = 10.0) -> dict[str, Any]:
    return {
        "kind": "obs",
        "device": device,
        "t": iso(t),
        "type": "position",
        "lat": where[0],
        "lon": where[1],
        "accuracy_m": acc,
    }


def sos(device: str, t: datetime) -> dict[str, Any]:
    return {"kind": "obs", "device": device, "t": iso(t), "type": "sos"}


def pipeline(centre: Centre) -> Pipeline:
    return Pipeline(centre.db, Settings(escalation_after_s=10**6, report_rate_check_s=0))


def queue(centre: Centre, role: str = "operator") -> list[dict[str, Any]]:
    answer = centre.client.get("/api/alarms", headers=centre.headers(role))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_the_one_model_reads_an_sos() -> None:
    """`sos` is a type of the one observation model: device and time only, extras kept."""
    record = {"kind": "obs", "device": "PP", "t": "2026-11-23T21:00:00+01:00", "type": "sos"}
    parsed = observation.parse(record | {"button": "long press"})
    assert isinstance(parsed, observation.Sos)
    assert observation.wire_record(parsed) == record | {
        "t": "2026-11-23T20:00:00Z",
        "button": "long press",
    }
    with pytest.raises(observation.Refused) as refused:
        observation.parse(record | {"device": ""})
    assert refused.value.field == "device"


def test_an_sos_is_refused_with_a_position_field_that_is_not_one(centre: Centre) -> None:
    """The one model: an sos is a type of its own; a malformed one is named, nothing stored."""
    bad = sos("PP", clock.now()) | {"t": "yesterday"}
    answer = centre.client.post(
        "/api/observations", json={"observations": [bad]}, headers=centre.headers("integration")
    )
    assert answer.status_code == 422 and answer.json()["field"] == "observations[0].sos.t"


def test_her_sos_sorts_above_a_bar_alert_in_the_queue(centre: Centre) -> None:
    equip(centre)
    t = clock.now() - timedelta(minutes=3)
    near = offset(HER, 90.0, 500)  # well inside the alert distance
    post(centre, [fix("PP", t, HER), fix("WB", t + timedelta(seconds=30), near)])
    steps = pipeline(centre)
    steps.step()
    assert [a["kind"] for a in queue(centre)][:1] == ["alert"]
    post(centre, [sos("PP", t + timedelta(minutes=1))])
    steps.step()
    alarms = queue(centre)
    assert [(a["kind"], a["priority"]) for a in alarms][:2] == [("sos", 0), ("alert", 1)]
    assert alarms[0]["device"] == "PP" and alarms[0]["status"] == "open"


def exported_text(centre: Centre, case_ref: str, out: Path) -> str:
    """Every member of the case's archive (no recipient: her data left out), as text."""
    export_case(centre.db, ExportRequest(case_ref, "admin1"), Ed25519PrivateKey.generate(), out)
    with zipfile.ZipFile(out) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def test_the_whole_sos_procedure_privacy_rate_and_report(centre: Centre, tmp_path: Path) -> None:
    world = equip(centre)
    t = clock.now() - timedelta(minutes=5)
    far = HIS_HOME  # about 25 km away: no BAR alarm, only her call
    post(centre, [fix("WB", t, far), fix("PP", t, HER, 8.0), sos("PP", t)])
    steps = pipeline(centre)
    steps.step()
    (alarm,) = queue(centre)
    assert (alarm["kind"], alarm["priority"], alarm["event_count"]) == ("sos", 0, 1)
    sos_id = alarm["id"]

    # A second press while it is open: the same alarm, one more event; nothing clears it.
    her_now = offset(HER, 0.0, 300)  # she moved 300 m north since
    post(centre, [fix("PP", t + timedelta(minutes=2), her_now, 6.0)])
    post(centre, [sos("PP", t + timedelta(minutes=2))])
    steps.step()
    (alarm,) = queue(centre)
    assert (alarm["id"], alarm["event_count"], alarm["cleared_at"]) == (sos_id, 2, None)

    # Her phone is asked for the alarm rate (BAR: 10 s) while the SOS is open, and so is his.
    with centre.db.session() as session:
        asked = {
            (c.device_id, c.args["seconds"], c.alarm_id)
            for c in session.scalars(
                select(DeviceCommand).where(DeviceCommand.kind == "report_every")
            )
        }
    assert {("PP", 10, sos_id), ("WB", 10, sos_id)} <= asked

    # operator1 takes it: hers to locate, live (her newest fix, his, their distance), audited.
    holder = centre.headers("operator")
    taken = centre.client.post(f"/api/alarms/{sos_id}/acknowledge", headers=holder)
    assert taken.status_code == 200 and taken.json()["holding"] is True
    located = centre.client.get(f"/api/alarms/{sos_id}/protected-position", headers=holder)
    assert located.status_code == 200, located.text
    live = located.json()["live"]
    assert (live["protected_position"]["lat"], live["protected_position"]["lon"]) == pytest.approx(
        her_now
    )
    assert live["protected_wearer_position"]["lat"] == pytest.approx(far[0])
    assert 24_000 < live["protected_distance_m"] < 27_000
    # The alarm's own detail: where she was at her latest press.
    assert located.json()["protected"]["protected_position"]["lat"] == pytest.approx(her_now[0])

    # No one else: the API refuses (and audits) the position, and no answer carries it.
    for role, username in NOT_HOLDERS:
        headers = centre.headers(role, username)
        refused = centre.client.get(f"/api/alarms/{sos_id}/protected-position", headers=headers)
        assert refused.status_code == 403, (username, refused.text)
        for path in (
            f"/api/alarms/{sos_id}",
            "/api/alarms",
            f"/api/console/alarms/{sos_id}/context",
            f"/api/console/placements/{world.bar_placement}/activity?hours=2",
        ):
            answer = centre.client.get(path, headers=headers)
            if answer.status_code != 200:
                continue
            text = answer.text
            assert not shows_her(text), (username, path)
            assert "protected_position" not in text and "wearer_position" not in text
        one = centre.client.get(f"/api/alarms/{sos_id}", headers=headers).json()
        assert one["holding"] is False
        assert one["detail"]["distance_m"] % 500 == 0  # rounded, as for a BAR alarm
    with centre.db.session() as session:
        audited = [
            (e.actor, e.action)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.target == f"alarm:{sos_id}")
            )
        ]
    assert ("operator1", "read_protected_position") in audited
    assert ("judge1", "protected_position_denied") in audited

    # The procedure: call her back, the police, him, the outcome; then close.
    for action, note in (
        ("call_protected", "she answers: he is outside her door"),
        ("police_alerted", "patrol sent"),
        ("call_wearer", "no answer"),
        ("note", "police on site 12 min after her call; he had left"),
    ):
        done = centre.client.post(
            f"/api/alarms/{sos_id}/actions", json={"action": action, "note": note}, headers=holder
        )
        assert done.status_code == 201, done.text
    closed = centre.client.post(
        f"/api/alarms/{sos_id}/close",
        json={"qualification": "breach", "note": "assisted"},
        headers=holder,
    )
    assert closed.status_code == 200, closed.text
    after = centre.client.get(f"/api/alarms/{sos_id}/protected-position", headers=holder)
    assert after.status_code == 403  # closed: no longer hers to locate

    # The report (judge, prosecutor): she called for help, when, what was done; never where.
    for role in ("judge", "prosecutor"):
        made = centre.client.get(f"/api/alarms/{sos_id}/report.html", headers=centre.headers(role))
        assert made.status_code == 200, made.text
        text = html.unescape(made.text)
        assert "La personne protégée a appelé à l'aide" in text
        assert "2 appui(s)" in text and "Forces de l'ordre alertées" in text
        assert "police on site" in text and "patrol sent" in text
        assert not shows_her(text)
        assert f"{far[0]:.5f}" not in text  # nor his position at her call

    # Closed: her phone and his bracelet go back to the normal rate.
    steps.step()
    with centre.db.session() as session:
        last = {
            c.device_id: c.args["seconds"]
            for c in session.scalars(
                select(DeviceCommand)
                .where(DeviceCommand.kind == "report_every")
                .order_by(DeviceCommand.id)
            )
        }
        assert last["PP"] == 300 and last["WB"] == 300
        sos_alarm = session.get_one(Alarm, sos_id)
        assert sos_alarm.cleared_at is None  # only closed, by the operator

    # The case's export for the court does not carry her position either.
    exported = exported_text(centre, world.bar_case_ref, tmp_path / "case.zip")
    assert '"kind":"sos"' in exported.replace(" ", "")
    assert not shows_her(exported)
