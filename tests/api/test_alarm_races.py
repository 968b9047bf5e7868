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
    with centre.db.session() as session:
        episode = session.get_one(Alarm, alarm)
        key, counted = (episode.case_ref, episode.kind, episode.device), episode.event_count
    closing, go_on = threading.Event(), threading.Event()
    produce = report.produce

    def produce_then_wait(*args: Any, **kwargs: Any) -> Any:
        made = produce(*args, **kwargs)
        closing.set()
        go_on.wait(timeout=5)  # the close holds its alarm, not yet committed
        return made

    monkeypatch.setattr(report, "produce", produce_then_wait)
    raised = {"t": clock.now(), "case": key[0], "kind": key[1], "state": "raised"}
    raised |= {"device": key[2], "detail": {}}

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
