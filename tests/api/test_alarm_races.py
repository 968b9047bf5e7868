"""Two operators change one alarm at the same moment: one wins, the other is told it is taken
or closed (409). On PostgreSQL, two closes at once ended the second on the report's unique key
(a 500: a double click on "Clôturer"), and two takes at once both answered 200, the second
holder overwriting the first, who went on working an alarm the centre said was another's."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import bulk, episodes, report, workflow
from vigie.store.models import Alarm, Report


def held_open(wrapped: Callable[..., Any], meeting: threading.Barrier) -> Callable[..., Any]:
    """`wrapped`, then a wait for the other request to reach the same point (at most 2 s):
    both have passed the alarm's state check and neither has committed, unless the first
    holds the alarm so that the second waits for its commit (then the meeting times out)."""

    def held(*args: Any, **kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=2)
        return result

    return held


def paused_after(
    wrapped: Callable[..., Any], reached: threading.Event, go_on: threading.Event, wait_s: float
) -> Callable[..., Any]:
    """`wrapped`, then `reached` set and a wait for `go_on` (at most `wait_s`): the request
    holds what it changed, not yet committed."""

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        reached.set()
        go_on.wait(timeout=wait_s)
        return result

    return paused


def raised_again(centre: Centre, alarm: int) -> tuple[dict[str, Any], int]:
    """A detection event raising the alarm's condition again, and the alarm's event count."""
    with centre.db.session() as session:
        episode = session.get_one(Alarm, alarm)
        event = {"t": clock.now(), "case": episode.case_ref, "kind": episode.kind}
        event |= {"state": "raised", "device": episode.device, "detail": {}}
        return event, episode.event_count


def test_two_takes_at_once_make_one_holder(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(centre)
    alarm = world.new_alarm("open")
    meeting = threading.Barrier(2)
    monkeypatch.setattr(workflow, "acknowledge", held_open(workflow.acknowledge, meeting))
    takers = [centre.headers("operator", name) for name in ("operator1", "operator2")]

    def take(headers: dict[str, str]) -> int:
        url = f"/api/alarms/{alarm}/acknowledge"
        return centre.client.post(url, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(take, takers))
    assert sorted(codes) == [200, 409]
    winner = ("operator1", "operator2")[codes.index(200)]
    shown = centre.client.get(f"/api/alarms/{alarm}", headers=takers[0]).json()
    assert shown["holder"]["username"] == winner


def test_two_closes_at_once_make_one_report(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(centre)
    alarm = world.new_alarm("acknowledged")
    meeting = threading.Barrier(2)
    monkeypatch.setattr(report, "produce", held_open(report.produce, meeting))
    operator = centre.headers("operator")

    def close(_: int) -> int:
        body = {"qualification": "breach"}
        return centre.client.post(
            f"/api/alarms/{alarm}/close", json=body, headers=operator
        ).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(close, range(2)))
    assert sorted(codes) == [200, 409]
    with centre.db.session() as session:
        made = select(func.count()).select_from(Report).where(Report.alarm_id == alarm)
        assert session.scalar(made) == 1


def test_two_batches_at_once_take_each_alarm_once(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of the same alarms, given in opposite orders, never wait on each other for ever
    (their rows are locked in one order) and never both take one."""
    world = build(centre)
    alarms = [world.new_alarm("open", kind="signal_lost") for _ in range(3)]
    meeting = threading.Barrier(2)
    monkeypatch.setattr(bulk, "acknowledge", held_open(bulk.acknowledge, meeting))
    takers = [centre.headers("operator", name) for name in ("operator1", "operator2")]
    orders = [alarms, alarms[::-1]]

    def take(k: int) -> int:
        body = {"ids": orders[k], "note": "signal revenu, vérifié"}
        url = "/api/alarms/acknowledge-many"
        return centre.client.post(url, json=body, headers=takers[k]).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(take, range(2)))
    assert sorted(codes) == [200, 422]
    winner = ("operator1", "operator2")[codes.index(200)]
    for alarm in alarms:
        shown = centre.client.get(f"/api/alarms/{alarm}", headers=takers[0]).json()
        assert shown["holder"]["username"] == winner


def test_a_breach_raised_again_while_its_alarm_is_closed_opens_another(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detection folds a breach raised again into its episode while the episode is open. On
    PostgreSQL, a step that read the episode while an operator's close of it was not yet
    committed folded the new breach into the alarm just closed: in no queue, unseen."""
    world = build(centre)
    alarm = world.new_alarm("acknowledged")
    raised, counted = raised_again(centre, alarm)
    closing, go_on = threading.Event(), threading.Event()
    monkeypatch.setattr(report, "produce", paused_after(report.produce, closing, go_on, 5))

    def step() -> list[int]:
        with centre.db.session() as session:
            return [a.id for a in episodes.fold(session, [raised], clock.now())]

    operator = centre.headers("operator")
    with ThreadPoolExecutor(2) as pool:
        closed = pool.submit(
            centre.client.post,
            f"/api/alarms/{alarm}/close",
            json={"qualification": "breach"},
            headers=operator,
        )
        assert closing.wait(timeout=10)
        folded = pool.submit(step)
        time.sleep(0.5)  # the step has read the alarms meanwhile (or waits to)
        go_on.set()
        assert closed.result().status_code == 200
        opened = folded.result()
    assert len(opened) == 1 and opened[0] != alarm
    with centre.db.session() as session:
        assert session.get_one(Alarm, alarm).event_count == counted
        assert session.get_one(Alarm, opened[0]).status == "open"


def test_an_alarm_taken_while_escalation_runs_is_not_escalated(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escalation flags an alarm left untaken; the incident report then tells the judge that
    "faute de prise en compte, le superviseur est alerté". On PostgreSQL, escalation read the
    alarm while an operator's take of it was not yet committed and flagged it after the take:
    the report blamed an operator who had taken it in time."""
    world = build(centre)
    alarm = world.new_alarm("open")
    taking, go_on = threading.Event(), threading.Event()
    monkeypatch.setattr(
        workflow, "acknowledge", paused_after(workflow.acknowledge, taking, go_on, 2)
    )
    later = clock.now() + timedelta(hours=1)  # long past every priority's delay

    def escalate() -> list[int]:
        with centre.db.session() as session:
            escalated = [a.id for a in workflow.escalate_overdue(session, later, 60.0)]
            go_on.set()
            session.commit()
            return escalated

    operator = centre.headers("operator")
    with ThreadPoolExecutor(2) as pool:
        taken = pool.submit(
            centre.client.post, f"/api/alarms/{alarm}/acknowledge", headers=operator
        )
        assert taking.wait(timeout=10)
        escalated = pool.submit(escalate)
        assert taken.result().status_code == 200
        assert alarm not in escalated.result()
    with centre.db.session() as session:
        shown = session.get_one(Alarm, alarm)
        assert shown.status == "acknowledged"
        assert shown.escalated_at is None


def test_a_breach_raised_again_as_the_close_begins_opens_another(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, with the step between the close's read of the alarm and its first write. On
    SQLite (one writer, but pysqlite begins a transaction at its first write only) the
    detector's process folded the breach into the alarm the close had read, then closed."""
    world = build(centre)
    alarm = world.new_alarm("acknowledged")
    raised, counted = raised_again(centre, alarm)
    opened: list[int] = []

    def step() -> None:
        with centre.db.session() as session:
            opened.extend(a.id for a in episodes.fold(session, [raised], clock.now()))

    close = workflow.close
    folding = threading.Thread(target=step)

    def step_then_close(*args: Any, **kwargs: Any) -> Any:
        folding.start()
        folding.join(timeout=1)  # done, or waiting for this close to commit
        return close(*args, **kwargs)

    monkeypatch.setattr(workflow, "close", step_then_close)
    operator = centre.headers("operator")
    closed = centre.client.post(
        f"/api/alarms/{alarm}/close", json={"qualification": "breach"}, headers=operator
    )
    assert closed.status_code == 200
    folding.join(timeout=10)
    assert len(opened) == 1 and opened[0] != alarm
    with centre.db.session() as session:
        assert session.get_one(Alarm, alarm).event_count == counted
        assert session.get_one(Alarm, opened[0]).status == "open"
