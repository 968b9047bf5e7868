"""Two operators change one alarm at the same moment: one wins, the other is told it is taken
or closed (409). On PostgreSQL, two closes at once ended the second on the report's unique key
(a 500: a double click on "Clôturer"), and two takes at once both answered 200, the second
holder overwriting the first, who went on working an alarm the centre said was another's."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.world import build
from tests.conftest import Centre
from vigie.alarms import bulk, report, workflow
from vigie.store.models import Report


def _held_open(wrapped: Callable[..., Any], meeting: threading.Barrier) -> Callable[..., Any]:
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
    monkeypatch.setattr(workflow, "acknowledge", _held_open(workflow.acknowledge, meeting))
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
    monkeypatch.setattr(report, "produce", _held_open(report.produce, meeting))
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
    monkeypatch.setattr(bulk, "acknowledge", _held_open(bulk.acknowledge, meeting))
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
