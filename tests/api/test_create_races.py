"""Two creations of one name at the same moment (a case reference, a device, an account): each
checks that the name is free, so on PostgreSQL the second to commit met the unique key and
answered a 500. It gets the refusal a third, made after them, gets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.api.test_alarm_races import held_open
from tests.api.world import build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.api.routers import users
from vigie.cases import legal
from vigie.cases.forms import DeviceIn
from vigie.store.models import Person


def _twice_then_once(post: Callable[[], Any]) -> tuple[list[int], int, str]:
    with ThreadPoolExecutor(2) as pool:
        answers = [f.result() for f in [pool.submit(post), pool.submit(post)]]
    after = post()
    return sorted(a.status_code for a in answers), after.status_code, after.json()["message"]


def _refusals(answers: tuple[list[int], int, str]) -> None:
    codes, later, _ = answers
    assert later in (409, 422)
    assert codes == sorted([201, later])


def test_one_case_reference_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(centre)
    monkeypatch.setattr(legal, "assess", held_open(legal.assess, threading.Barrier(2)))
    with centre.db.session() as session:
        wearer = session.get_one(Person, world.person)
        form = make.placement_form(wearer, make.contacts(session), case_ref="TWICE-1")
    body = form.model_dump(mode="json")
    supervisor = centre.headers("supervisor")
    answers = _twice_then_once(
        lambda: centre.client.post("/api/placements", json=body, headers=supervisor)
    )
    _refusals(answers)
    assert answers[2] == "case 'TWICE-1' already exists"


def test_one_device_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The barrier: the form's dump, after the check that the id is free.)"""
    monkeypatch.setattr(
        DeviceIn, "model_dump", held_open(DeviceIn.model_dump, threading.Barrier(2))
    )
    supervisor = centre.headers("supervisor")
    body = {"id": "TWICE-B1", "kind": "bracelet"}
    answers = _twice_then_once(
        lambda: centre.client.post("/api/devices", json=body, headers=supervisor)
    )
    _refusals(answers)
    assert answers[2] == "device 'TWICE-B1' is already registered"


def test_one_account_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "_check_password", held_open(users._check_password, threading.Barrier(2))
    )
    admin = centre.headers("admin")
    body = {
        "username": "twice",
        "password": "a long enough passphrase 42",
        "role": "operator",
        "full_name": "Deux Fois",
    }
    answers = _twice_then_once(lambda: centre.client.post("/api/users", json=body, headers=admin))
    _refusals(answers)
    assert answers[2] == "user 'twice' exists"
