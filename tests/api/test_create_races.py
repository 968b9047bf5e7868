"""Two creations of one name at the same moment (a case reference, a device, an account): each
checks that the name is free, so on PostgreSQL the second to commit met the unique key and
answered a 500. It gets the refusal a third, made after them, gets."""

from __future__ import annotations

import threading
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


def _twice_then_once(centre: Centre, url: str, body: dict[str, Any], role: str) -> str:
    """POST `body` twice at once, then once more: one creation and two refusals of the same
    kind (409 or 422), never a 500. The later refusal's message."""
    headers = centre.headers(role)

    def post() -> Any:
        return centre.client.post(url, json=body, headers=headers)

    with ThreadPoolExecutor(2) as pool:
        answers = [f.result() for f in [pool.submit(post), pool.submit(post)]]
    after = post()
    assert after.status_code in (409, 422)
    assert sorted(a.status_code for a in answers) == sorted([201, after.status_code])
    return str(after.json()["message"])


def test_one_case_reference_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(centre)
    monkeypatch.setattr(legal, "assess", held_open(legal.assess, threading.Barrier(2)))
    with centre.db.session() as session:
        wearer = session.get_one(Person, world.person)
        form = make.placement_form(wearer, make.contacts(session), case_ref="TWICE-1")
    body = form.model_dump(mode="json")
    told = _twice_then_once(centre, "/api/placements", body, "supervisor")
    assert told == "case 'TWICE-1' already exists"


def test_one_device_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The barrier: the form's dump, after the check that the id is free.)"""
    monkeypatch.setattr(
        DeviceIn, "model_dump", held_open(DeviceIn.model_dump, threading.Barrier(2))
    )
    body = {"id": "TWICE-B1", "kind": "bracelet"}
    told = _twice_then_once(centre, "/api/devices", body, "supervisor")
    assert told == "device 'TWICE-B1' is already registered"


def test_one_account_twice_at_once(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "_check_password", held_open(users._check_password, threading.Barrier(2))
    )
    body = {
        "username": "twice",
        "password": "a long enough passphrase 42",
        "role": "operator",
        "full_name": "Deux Fois",
    }
    assert _twice_then_once(centre, "/api/users", body, "admin") == "user 'twice' exists"
