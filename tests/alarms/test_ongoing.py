"""An alarm closed while its condition goes on is raised again (vigie.alarms.ongoing).

Detection raises a condition once, when it begins. A wearer who stayed in his exclusion zone
after an operator closed its alarm was unseen until he left and came back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tests.alarms.test_pipeline import T0, Clock, fix, seed, store
from vigie import clock
from vigie.alarms import episodes, ongoing, report, workflow
from vigie.alarms.narrative import event_sentence
from vigie.alarms.obligations import PRIORITY
from vigie.alarms.pipeline import Pipeline
from vigie.api.security import create_user
from vigie.cases import ending
from vigie.cases.forms import MeasureEndIn
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, Placement, User

# A zone entry (priority 2) is raised again half the delay after its close: 300 s.
CONFIG = Settings(escalation_after_s=3600, ongoing_remind_s=600)
AGAIN_S = 300
INSIDE, OUTSIDE = (48.90, 2.40), (48.91, 2.41)


def entries(db: Database) -> list[Alarm]:
    with db.session() as session:
        found = list(
            session.scalars(select(Alarm).where(Alarm.kind == "zone_entry").order_by(Alarm.id))
        )
        session.expunge_all()
        return found


def take_and_close(db: Database, alarm_id: int, now: datetime) -> Alarm:
    with db.session() as session:
        user = session.scalars(select(User).where(User.username == "op")).first()
        if user is None:
            user = create_user(session, "op", "op password 1", "operator", "Op")
        alarm = session.get_one(Alarm, alarm_id)
        workflow.acknowledge(session, alarm, user, now)
        workflow.close(session, alarm, user, "breach", None, now)
        session.flush()
        session.expunge(alarm)
        return alarm


class Centre:
    """The pipeline on a clock of its own, fed one fix a minute of the wearer's bracelet."""

    def __init__(self, db: Database, config: Settings = CONFIG) -> None:
        seed(db)
        self.db = db
        self.clock = Clock(T0)
        self.pipeline = Pipeline(db, config, self.clock)

    def at(self, minutes: float, where: tuple[float, float] | None = None) -> None:
        """A fix taken at `minutes` (if `where`), then a step 30 s later."""
        if where is not None:
            store(self.db, fix(minutes, *where))
        self.clock.now = T0 + timedelta(minutes=minutes, seconds=30)
        self.pipeline.step()


def test_a_breach_going_on_after_its_close_is_raised_again(db: Database) -> None:
    centre = Centre(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    (first,) = entries(db)
    assert workflow.summary(first)["ongoing"]  # what the console's close confirmation says
    closed = take_and_close(db, first.id, centre.clock.now)
    assert closed.ongoing_when_closed and workflow.summary(closed)["ongoing"]
    closed_at = centre.clock.now
    with db.session() as session:  # the judge reads that it went on, and comes back
        told = report.render_html(session, session.get_one(Alarm, first.id), closed_at)
    assert "non terminé à la clôture : le centre le signale de nouveau s'il dure" in told
    for minute in range(2, 6):  # still inside, within the delay: nothing new
        centre.at(minute, INSIDE)
    assert [a.id for a in entries(db)] == [first.id]
    centre.at(7, INSIDE)  # the delay has passed since the close
    assert centre.clock.now - closed_at > timedelta(seconds=AGAIN_S)
    again = entries(db)[1]
    assert (again.status, again.case_ref, again.device) == ("open", "C1", "B1")
    assert again.detail["closed_alarm"] == first.id
    assert again.detail["ongoing_since"] == "2026-11-23T20:01:00Z"  # the fix that raised it
    assert again.detail["zone"] == "Z1"
    assert "toujours en cours" in event_sentence("zone_entry", "raised", again.detail)
    assert not entries(db)[0].ongoing_when_closed  # raised again once
    assert not workflow.summary(entries(db)[0])["ongoing"]
    for minute in range(8, 20):
        centre.at(minute, INSIDE)
    assert len(entries(db)) == 2  # the new alarm is open: nothing more

    # Closed again with him still inside: raised again, from the same start.
    take_and_close(db, again.id, centre.clock.now)
    for minute in range(20, 27):
        centre.at(minute, INSIDE)
    third = entries(db)[2]
    assert third.detail["closed_alarm"] == again.id
    assert third.detail["ongoing_since"] == "2026-11-23T20:01:00Z"


def test_a_restarted_detector_raises_it_on_time(db: Database) -> None:
    centre = Centre(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    (first,) = entries(db)
    take_and_close(db, first.id, centre.clock.now)
    centre.pipeline = Pipeline(db, CONFIG, centre.clock)  # a new process: from the store
    centre.at(7)
    assert [a.detail.get("closed_alarm") for a in entries(db)] == [None, first.id]


def test_a_breach_ended_before_or_after_its_close_is_not_raised_again(db: Database) -> None:
    centre = Centre(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    centre.at(2, OUTSIDE)  # he left: the alarm is cleared, then closed
    (first,) = entries(db)
    assert not workflow.summary(first)["ongoing"]
    assert not take_and_close(db, first.id, centre.clock.now).ongoing_when_closed
    with db.session() as session:
        told = report.render_html(session, session.get_one(Alarm, first.id), centre.clock.now)
    assert "de nouveau" not in told
    centre.at(3, INSIDE)  # back in: a new alarm, raised by detection
    second = entries(db)[1]
    assert "closed_alarm" not in second.detail
    take_and_close(db, second.id, centre.clock.now)  # closed while he is inside
    centre.at(4, OUTSIDE)  # then he left: the condition ended after the close
    assert not entries(db)[1].ongoing_when_closed
    for minute in range(5, 20):
        centre.at(minute, OUTSIDE)
    assert len(entries(db)) == 2


def test_a_condition_detection_raises_itself_meanwhile_is_not_raised_twice(
    db: Database,
) -> None:
    centre = Centre(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    (first,) = entries(db)
    take_and_close(db, first.id, centre.clock.now)
    centre.at(2, OUTSIDE)
    centre.at(3, INSIDE)  # out and back in within the delay: detection raises it
    for minute in range(4, 20):
        centre.at(minute, INSIDE)
    alarms = entries(db)
    assert len(alarms) == 2 and "closed_alarm" not in alarms[1].detail


def test_what_is_raised_again_is_what_detection_clears() -> None:
    """Her SOS ends with its close; the `unmonitored` alarm has its own reminder; the
    centre's and the clock's are the pipeline's own."""
    assert (
        set(PRIORITY)
        - {
            "sos",
            "wearer_sos",
            "unmonitored",
            "unwatched",
            "clock_fault",
        }
        == ongoing.KINDS
    )
    for kind in PRIORITY:
        live = Alarm(kind=kind, status="acknowledged", cleared_at=None)
        assert ongoing.goes_on(live) == (kind in ongoing.KINDS)
        assert not ongoing.goes_on(Alarm(kind=kind, status="acknowledged", cleared_at=T0))
        for status in ("acknowledged", "closed"):  # another centre's, imported: its record
            imported = Alarm(kind=kind, status=status, ongoing_when_closed=True)
            imported.imported_from = "SHA256:0f1e"
            assert not ongoing.goes_on(imported)


def test_a_measure_ended_after_the_close_raises_nothing_again(db: Database) -> None:
    """Its end clears what detection held raised (`obligation_removed`): no reminder for a
    measure that is over."""
    centre = Centre(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    (first,) = entries(db)
    take_and_close(db, first.id, centre.clock.now)
    with db.session() as session:
        placement = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        ending.end(session, placement, MeasureEndIn(reason="term"), "t", clock.now())
    for minute in range(2, 20):
        centre.at(minute, INSIDE)
    assert [a.id for a in entries(db)] == [first.id]
    assert not entries(db)[0].ongoing_when_closed


def test_a_partition_raises_its_own_alarms_again_only(db: Database) -> None:
    """In a cluster each partition's owner raises the alarms it opened (as it escalates them)."""
    opened = {}
    with db.session() as session:
        for case, partition in (("C1", 1), ("C2", 2)):
            tamper = {"t": T0, "case": case, "kind": "tamper", "state": "raised"}
            tamper |= {"device": f"B-{case}", "detail": {"what": "strap_cut"}}
            (opened[case],) = episodes.fold(session, [tamper], T0, partition=partition)
    for alarm in opened.values():
        take_and_close(db, alarm.id, T0)
    later = T0 + timedelta(hours=1)
    with db.session() as session:
        mine = ongoing.reminders(session, later, 600, CONFIG.escalation_factors, 1)
    assert [(e["case"], e["detail"]["closed_alarm"]) for e in mine] == [("C1", opened["C1"].id)]
    with db.session() as session:  # unscoped (embedded): every partition's not yet raised
        rest = ongoing.reminders(session, later, 600, CONFIG.escalation_factors, None)
    assert [(e["case"], e["kind"], e["detail"]["what"]) for e in rest] == [
        ("C2", "tamper", "strap_cut")
    ]


def test_delays_past_their_bounds_are_refused_not_left_to_stop_detection(db: Database) -> None:
    """An infinite delay (`VIGIE_ONGOING_REMIND_S=inf`) was taken, and every step then failed
    on its time arithmetic: detection stopped. The largest delays taken still let steps run."""
    for field, top in (("ongoing_remind_s", 86_400), ("escalation_after_s", 10_000_000)):
        for value in (float("inf"), 1e300, top + 1):
            with pytest.raises(ValidationError, match=field):
                Settings(**{field: value})
    widest = Settings(ongoing_remind_s=86_400, escalation_after_s=10_000_000)
    widest = widest.model_copy(update={"escalation_factors": {p: 1000.0 for p in range(6)}})
    seed(db)
    Pipeline(db, widest, Clock(T0)).step()  # a step that looks for escalations and reminders
