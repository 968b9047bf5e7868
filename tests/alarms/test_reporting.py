"""Reporting rates in the live centre: the whole-centre pass looks only at the cases that can
need a change (an alarm not closed, a rate raised), and still raises, keeps and restores every
rate it should, leaving the other cases' devices alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.alarms.test_pipeline import T0, Clock, fix, seed, store
from tests.cases import factories as make
from vigie import clock
from vigie.alarms import workflow
from vigie.alarms.pipeline import Pipeline
from vigie.api.security import create_user
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.gateway import command_queue
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, DeviceCommand


def asked(db: Database) -> list[tuple[str, int, str | None]]:
    with db.session() as session:
        commands = session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.kind == "report_every")
            .order_by(DeviceCommand.id)
        )
        return [(c.device_id, c.args["seconds"], c.reason) for c in commands]


def test_the_rate_pass_raises_keeps_restores_and_leaves_the_others_alone(db: Database) -> None:
    seed(db)  # case C1: bracelet B1 and a home unit (never asked a rate)
    # Case C2: a bracelet and no home unit, which detection cannot watch: its `unmonitored`
    # alarm asks no rate (more fixes would not help it), so C2 stays at the normal rate.
    with db.session() as session:
        wearer, who = make.person(session, "Durand"), make.contacts(session)
        other = placements.create(session, make.placement_form(wearer, who, case_ref="C2"), "t")
        devices.create_device(session, DeviceIn(id="B2", kind="bracelet"), "t")
        devices.assign(session, other, AssignmentIn(device_id="B2", role="wearer"), "t")
    now = Clock(T0)
    # The whole-centre pass at every step.
    pipeline = Pipeline(db, Settings(escalation_after_s=3600, report_rate_check_s=0), now)
    store(db, fix(0, 48.91, 2.41))
    pipeline.step()
    assert asked(db) == []  # no alarm: every device keeps the rate it was set up with
    store(db, fix(2, 48.90, 2.40))  # into the exclusion zone
    now.now = T0 + timedelta(minutes=2.5)
    pipeline.step()
    with db.session() as session:
        alarm_id = session.scalars(select(Alarm.id).where(Alarm.case_ref == "C1")).one()
    raised = [("B1", 30, f"alarm {alarm_id} open")]  # DDSE's alarm rate, for C1's bracelet only
    assert asked(db) == raised
    pipeline.step()
    assert asked(db) == raised  # still open: asked once
    with db.session() as session:
        operator = create_user(session, "op1", "correct horse battery", "operator", "Op")
        alarm = session.get_one(Alarm, alarm_id)
        workflow.acknowledge(session, alarm, operator, clock.now())
        workflow.close(session, alarm, operator, "false_alarm", "test", clock.now())
    pipeline.step()
    restored = [*raised, ("B1", 300, "no alarm open")]  # found by its raised rate
    assert asked(db) == restored
    pipeline.step()
    assert asked(db) == restored  # back to normal: nothing more to ask


def test_a_rate_the_device_cannot_take_is_asked_once_not_at_every_check(db: Database) -> None:
    """A phone on Traccar Client (OsmAnd) takes no command: the gateway marks each one failed.
    Counted as not asked, the rate was asked again at every check (5 s) while the alarm stayed
    open: 674 failed commands over about a quarter of an hour of demo runs, each one audited."""
    seed(db)
    now = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600, report_rate_check_s=0), now)
    store(db, fix(0, 48.91, 2.41))
    store(db, fix(2, 48.90, 2.40))  # into the exclusion zone
    now.now = T0 + timedelta(minutes=2.5)
    pipeline.step()
    with db.session() as session:
        (command,) = session.scalars(select(DeviceCommand))
        command_queue.mark_failed(session, command.id, "osmand", "unsupported by osmand", now.now)
    for _ in range(3):
        pipeline.step()
    with db.session() as session:
        states = [c.state for c in session.scalars(select(DeviceCommand))]
    assert states == ["failed"]
