"""Commands over the API: the supervisor queues, the centre reads; warn_wearer on a BAR alarm."""

from __future__ import annotations

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.cases import devices
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.gateway import command_queue
from vigie.store.models import Placement


def test_supervisor_queues_and_the_centre_reads_the_history(centre: Centre) -> None:
    build(centre)
    supervisor, operator = centre.headers("supervisor"), centre.headers("operator")
    body = {"kind": "report_every", "args": {"seconds": 60}, "reason": "court hearing"}
    made = centre.client.post("/api/devices/B1/commands", json=body, headers=supervisor)
    assert made.status_code == 201, made.text
    command = made.json()
    assert (command["state"], command["requested_by"], command["args"]) == (
        "queued",
        "user:supervisor1",
        {"seconds": 60},
    )
    history = centre.client.get("/api/devices/B1/commands", headers=operator)
    assert history.status_code == 200 and [c["id"] for c in history.json()] == [command["id"]]
    audit = centre.client.get("/api/audit", headers=centre.headers("admin")).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    assert any(e["action"] == "device_command_queued" for e in entries)


def test_refusals_name_their_field(centre: Centre) -> None:
    build(centre)
    supervisor = centre.headers("supervisor")
    post = centre.client.post
    refused = post("/api/devices/B1/commands", json={"kind": "reboot"}, headers=supervisor)
    assert refused.status_code == 422 and refused.json()["field"] == "kind"
    body = {"kind": "vibrate", "args": {"seconds": 600}}
    refused = post("/api/devices/B1/commands", json=body, headers=supervisor)
    assert refused.status_code == 422 and "1..60" in refused.text
    assert refused.json()["field"] == "args"
    missing = post("/api/devices/NOPE/commands", json={"kind": "vibrate"}, headers=supervisor)
    assert missing.status_code == 404
    by_operator = post(
        "/api/devices/B1/commands", json={"kind": "vibrate"}, headers=centre.headers("operator")
    )
    assert by_operator.status_code == 403
    assert centre.client.get("/api/devices/NOPE/commands", headers=supervisor).status_code == 404


def test_warn_the_wearer_at_a_bar_pre_alert(centre: Centre) -> None:
    world = build(centre)
    with centre.db.session() as session:
        devices.create_device(session, DeviceIn(id="B2", kind="bracelet"), "t")
        placement = session.get_one(Placement, world.bar_placement)
        devices.assign(session, placement, AssignmentIn(device_id="B2", role="wearer"), "t")
    alarm = world.new_alarm("acknowledged", kind="pre_alert", bar=True)
    operator = centre.headers("operator")
    done = centre.client.post(
        f"/api/alarms/{alarm}/actions", json={"action": "warn_wearer"}, headers=operator
    )
    assert done.status_code == 201, done.text
    with centre.db.session() as session:
        (command,) = command_queue.history(session, "B2")
        assert (command.kind, command.alarm_id, command.requested_by) == (
            "vibrate",
            alarm,
            "operator1",
        )
        # The gateway delivers it and the bracelet answers.
        command_queue.mark_sent(session, command.id, "teltonika", "setdigout 1 5", clock.now())
    with centre.db.session() as session:
        command_queue.answer(session, "B2", "DOUT1:1 Timeout:5s", clock.now())
    shown = centre.client.get(f"/api/alarms/{alarm}", headers=operator).json()
    (action,) = [a for a in shown["actions"] if a["action"] == "warn_wearer"]
    assert action["note"].startswith(f"command {command.id}: vibrate B2")
    (listed,) = shown["commands"]
    assert (listed["state"], listed["reply"]) == ("answered", "DOUT1:1 Timeout:5s")
    # Not for other alarms.
    other = world.new_alarm("acknowledged", kind="absence")
    refused = centre.client.post(
        f"/api/alarms/{other}/actions", json={"action": "warn_wearer"}, headers=operator
    )
    assert refused.status_code in (409, 422) and "pre-alert" in refused.text


def test_the_case_file_shows_the_commands(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for body in ({"kind": "query_status"}, {"kind": "vibrate", "args": {"seconds": 3}}):
        assert centre.client.post(
            "/api/devices/B1/commands", json=body, headers=supervisor
        ).is_success
    with centre.db.session() as session:
        first = command_queue.history(session, "B1")[-1]
        command_queue.mark_sent(session, first.id, "teltonika", "getstatus", clock.now())
        command_queue.answer(session, "B1", "Data Link: 1", clock.now())
    activity = centre.client.get(
        f"/api/console/placements/{world.placement}/activity", headers=centre.headers("operator")
    ).json()
    assert [(c["kind"], c["state"], c["reply"]) for c in activity["commands"]] == [
        ("vibrate", "queued", None),
        ("query_status", "answered", "Data Link: 1"),
    ]
