"""Every endpoint against every role: allowed ones succeed, others get 403 (no token: 401)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.world import ROLES, World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import handing, handover, suspensions
from vigie.api import create_app
from vigie.api.deps import PATH_KEPT
from vigie.api.security import create_user
from vigie.cases import placements, withdrawal
from vigie.cases.forms import DeviceWithdrawalIn, PlacementIn
from vigie.export import keys
from vigie.settings import Settings
from vigie.store import audit, open_database
from vigie.store.models import Alarm, AuditEntry, OutboxMessage, Placement, Report, User

READERS = {"operator", "supervisor", "spip", "judge", "prosecutor"}
CASE_FILES = READERS | {"admin"}  # the admin sets cases up
SET_UP = {"supervisor", "admin"}
CENTRE = {"operator", "supervisor"}
_n = itertools.count(1)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: Callable[[World], str]
    allowed: set[str]
    body: Callable[[World], Any] | None = None


def another_operator(world: World) -> str:
    """An operator on duty besides operator1, to hand an alarm to."""
    world.centre.headers("operator", "operator2")
    return "operator2"


def handed_to_operator1(w: World) -> int:
    """A taken alarm handed to operator1 by operator2, not yet taken over."""
    alarm_id = w.new_alarm("acknowledged")  # operator1's
    another_operator(w)
    with w.centre.db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        first, second = (
            session.scalars(select(User).where(User.username == name)).one()
            for name in ("operator1", "operator2")
        )
        handing.hand_over(session, alarm, first, "operator2", "pause", clock.now())
        handing.hand_over(session, alarm, second, "operator1", "retour", clock.now())
    return alarm_id


def withdrawn_device(w: World) -> str:
    """A device of its own, withdrawn (broken), for each call that reinstates one."""
    device = w.new_device()
    with w.centre.db.session() as session:
        withdrawal.withdraw(session, device, DeviceWithdrawalIn(reason="broken"), "t", clock.now())
    return device


def _spare_user(w: World) -> int:
    """An account of its own for each call that changes one (not one the table logs in with)."""
    with w.centre.db.session() as session:
        return create_user(session, f"spare{next(_n)}", "a password", "operator", "Spare").id


def placement_body(w: World) -> dict[str, Any]:
    return {
        "person_id": w.person,
        "measure": "ddse",
        "court_order_ref": f"JAP-{next(_n)}",
        "court_order_date": "2026-11-20",
        "start_date": "2026-11-23",
        "law": make.ddse_law(),
        "judge_id": w.contacts["judge"],
        "prosecutor_id": w.contacts["prosecutor"],
        "spip_id": w.contacts["spip"],
        "schedule": [{"days": "mon-fri", "from": "20:00", "to": "07:00"}],
    }


def suspension_body(w: World) -> dict[str, Any]:
    now = clock.now()
    return {
        "reason": "hearing",
        "note": "audience au tribunal",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
    }


def new_suspension(w: World) -> int:
    with w.centre.db.session() as session:
        placement = session.get_one(Placement, w.placement)
        body = suspension_body(w)
        made = suspensions.create(
            session,
            placement,
            "hospital",
            "x",
            datetime.fromisoformat(body["starts_at"]),
            datetime.fromisoformat(body["ends_at"]),
            "supervisor1",
            clock.now(),
        )
        return made.id


def new_placement(w: World) -> int:
    """A placement of its own for each call that ends one (a measure ends once)."""
    with w.centre.db.session() as session:
        body = PlacementIn.model_validate(placement_body(w))
        return placements.create(session, body, "supervisor1").id


def new_note(w: World) -> int:
    """A handover note by an account none of the table's roles logs in with."""
    with w.centre.db.session() as session:
        author = create_user(session, f"shift{next(_n)}", "a password", "operator", "Shift")
        return handover.write(session, author, "consigne", clock.now()).id


ENDPOINTS = {
    "users.list": Endpoint("GET", lambda w: "/api/users", {"admin"}),
    "users.create": Endpoint(
        "POST",
        lambda w: "/api/users",
        {"admin"},
        lambda w: {
            "username": f"new{next(_n)}",
            "password": "a long enough password",
            "role": "operator",
            "full_name": "New Operator",
        },
    ),
    "users.disable": Endpoint("POST", lambda w: f"/api/users/{_spare_user(w)}/disable", {"admin"}),
    "users.enable": Endpoint("POST", lambda w: f"/api/users/{_spare_user(w)}/enable", {"admin"}),
    "users.password": Endpoint(
        "POST",
        lambda w: f"/api/users/{_spare_user(w)}/password",
        {"admin"},
        lambda w: {"password": "another long enough one"},
    ),
    "persons.list": Endpoint("GET", lambda w: "/api/persons", CASE_FILES),
    "persons.get": Endpoint("GET", lambda w: f"/api/persons/{w.person}", CASE_FILES),
    "persons.create": Endpoint(
        "POST",
        lambda w: "/api/persons",
        SET_UP,
        lambda w: {"last_name": "A", "first_name": "B"},
    ),
    "contacts.list": Endpoint("GET", lambda w: "/api/contacts", {"supervisor", "admin"}),
    "contacts.create": Endpoint(
        "POST",
        lambda w: "/api/contacts",
        {"supervisor", "admin"},
        lambda w: {"role": "judge", "name": "Juge B", "email": "jb@justice.test"},
    ),
    "placements.list": Endpoint("GET", lambda w: "/api/placements", CASE_FILES),
    "placements.get": Endpoint("GET", lambda w: f"/api/placements/{w.placement}", CASE_FILES),
    "placements.create": Endpoint("POST", lambda w: "/api/placements", SET_UP, placement_body),
    "placements.change": Endpoint(
        "PATCH",
        lambda w: f"/api/placements/{w.placement}",
        SET_UP,
        lambda w: {"grace_s": 60},
    ),
    "placements.summary": Endpoint(
        "GET", lambda w: f"/api/placements/{w.placement}/summary.html", READERS
    ),
    "placements.renew": Endpoint(
        "POST", lambda w: f"/api/placements/{w.placement}/renew", {"supervisor"}, lambda w: {}
    ),
    "placements.end": Endpoint(
        "POST",
        lambda w: f"/api/placements/{new_placement(w)}/end",
        {"supervisor"},
        lambda w: {"reason": "lifted", "decision_ref": "JAP-2026-0107"},
    ),
    "zones.list": Endpoint("GET", lambda w: f"/api/placements/{w.placement}/zones", READERS),
    "zones.put": Endpoint(
        "PUT",
        lambda w: f"/api/placements/{w.placement}/zones/ZP",
        {"supervisor"},
        lambda w: {"id": "ZP", "type": "exclusion", "geometry": make.square(45.0, 5.0, 0.01)},
    ),
    "zones.delete": Endpoint(
        "DELETE", lambda w: f"/api/placements/{w.placement}/zones/{w.new_zone()}", {"supervisor"}
    ),
    "placements.assign_device": Endpoint(
        "POST",
        lambda w: f"/api/placements/{w.placement}/devices",
        {"supervisor"},
        lambda w: {"device_id": w.new_device("home_unit"), "role": "home_unit"},
    ),
    "devices.list": Endpoint("GET", lambda w: "/api/devices", {"operator", "supervisor", "admin"}),
    "devices.create": Endpoint(
        "POST",
        lambda w: "/api/devices",
        {"supervisor", "admin"},
        lambda w: {"id": f"N{next(_n)}", "kind": "bracelet"},
    ),
    "devices.secret": Endpoint(
        "POST",
        lambda w: f"/api/devices/{w.new_device('home_unit')}/secret",
        {"supervisor", "admin"},
    ),
    "devices.withdraw": Endpoint(
        "POST",
        lambda w: f"/api/devices/{w.new_device()}/withdraw",
        {"supervisor", "admin"},
        lambda w: {"reason": "broken"},
    ),
    "devices.reinstate": Endpoint(
        "POST",
        lambda w: f"/api/devices/{withdrawn_device(w)}/reinstate",
        {"supervisor", "admin"},
        lambda w: {"note": "repaired"},
    ),
    "devices.commands.queue": Endpoint(
        "POST",
        lambda w: "/api/devices/B1/commands",
        {"supervisor"},
        lambda w: {"kind": "query_status"},
    ),
    "devices.commands.history": Endpoint("GET", lambda w: "/api/devices/B1/commands", CENTRE),
    "observations.post": Endpoint(
        "POST",
        lambda w: "/api/observations",
        {"integration"},
        lambda w: {
            "observations": [
                {"device": "B1", "t": clock.now().isoformat(), "type": "battery", "level": 0.5}
            ]
        },
    ),
    "alarms.list": Endpoint("GET", lambda w: "/api/alarms", READERS),
    "alarms.get": Endpoint("GET", lambda w: f"/api/alarms/{w.new_alarm()}", READERS),
    "alarms.acknowledge": Endpoint(
        "POST", lambda w: f"/api/alarms/{w.new_alarm()}/acknowledge", CENTRE
    ),
    "alarms.action": Endpoint(
        "POST",
        lambda w: f"/api/alarms/{w.new_alarm('acknowledged')}/actions",
        CENTRE,
        lambda w: {"action": "note", "note": "called back"},
    ),
    "alarms.close": Endpoint(
        "POST",
        lambda w: f"/api/alarms/{w.new_alarm('in_progress')}/close",
        CENTRE,
        lambda w: {"qualification": "false_alarm"},
    ),
    "alarms.hand_over_to": Endpoint(
        "GET", lambda w: f"/api/alarms/{w.new_alarm('acknowledged')}/hand-over", CENTRE
    ),
    # Taken by operator1, who may hand it over, as a supervisor may (`test_hand_over.py`).
    "alarms.hand_over": Endpoint(
        "POST",
        lambda w: f"/api/alarms/{w.new_alarm('acknowledged')}/hand-over",
        CENTRE,
        lambda w: {"to": another_operator(w), "reason": "relève de poste"},
    ),
    # Handed to operator1, who says he has it; only an operator is handed an alarm.
    "alarms.take_over": Endpoint(
        "POST", lambda w: f"/api/alarms/{handed_to_operator1(w)}/take-over", {"operator"}
    ),
    "alarms.report_preview": Endpoint(
        "POST",
        lambda w: f"/api/alarms/{w.new_alarm('in_progress')}/report/preview",
        CENTRE,
        lambda w: {"qualification": "breach"},
    ),
    "alarms.protected_position": Endpoint(
        "GET",
        lambda w: (
            f"/api/alarms/{w.new_alarm('acknowledged', 'alert', bar=True)}/protected-position"
        ),
        {"operator"},
    ),
    "alarms.contacts": Endpoint(
        "GET",
        lambda w: f"/api/alarms/{w.new_alarm('acknowledged', 'alert', bar=True)}/contacts",
        READERS,
    ),
    "reports.html": Endpoint(
        "GET", lambda w: f"/api/alarms/{w.new_alarm('closed')}/report.html", READERS
    ),
    "reports.pdf": Endpoint(
        "GET", lambda w: f"/api/alarms/{w.new_alarm('closed')}/report.pdf", READERS
    ),
    "law.assess": Endpoint(
        "POST",
        lambda w: "/api/law/assess",
        READERS,
        lambda w: {"measure": "ddse", "birth_date": "1990-01-01"} | make.ddse_law(),
    ),
    "outbox.undelivered": Endpoint("GET", lambda w: "/api/outbox/undelivered", {"supervisor"}),
    "outbox.resend": Endpoint(
        "POST", lambda w: f"/api/outbox/{unsent_message(w)}/resend", {"supervisor"}
    ),
    "audit.list": Endpoint("GET", lambda w: "/api/audit", {"admin"}),
    "audit.verify": Endpoint("GET", lambda w: "/api/audit/verify", {"admin"}),
    "quarantine.list": Endpoint("GET", lambda w: "/api/quarantine", {"admin"}),
    "search": Endpoint("GET", lambda w: "/api/search?q=C1", CASE_FILES),
    "alarms.acknowledge_many": Endpoint(
        "POST",
        lambda w: "/api/alarms/acknowledge-many",
        CENTRE,
        lambda w: {"ids": [w.new_alarm(kind="low_battery")], "note": "tournée"},
    ),
    "suspensions.list": Endpoint(
        "GET", lambda w: f"/api/placements/{w.placement}/suspensions", CASE_FILES
    ),
    "suspensions.create": Endpoint(
        "POST",
        lambda w: f"/api/placements/{w.placement}/suspensions",
        {"supervisor"},
        suspension_body,
    ),
    "suspensions.end": Endpoint(
        "POST", lambda w: f"/api/suspensions/{new_suspension(w)}/end", {"supervisor"}
    ),
    "handover.write": Endpoint("POST", lambda w: "/api/handover", CENTRE, lambda w: {"text": "x"}),
    "handover.list": Endpoint("GET", lambda w: "/api/handover", CENTRE),
    "handover.pending": Endpoint("GET", lambda w: "/api/handover/pending", CENTRE),
    "handover.read": Endpoint("POST", lambda w: f"/api/handover/{new_note(w)}/read", CENTRE),
    # The judge gets the evidence export of their own case (tests/export/test_api.py).
    "exports.create": Endpoint(
        "POST", lambda w: "/api/exports", {"admin", "judge"}, lambda w: {"case_ref": w.case_ref}
    ),
}


@pytest.fixture(scope="module", autouse=True)
def export_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The centre's export signing key, so that exports succeed for the roles allowed."""
    path = tmp_path_factory.mktemp("export-key") / "centre.key"
    keys.generate(path, "signing")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(keys.KEY_VARIABLE, str(path))
        yield


def unsent_message(w: World) -> int:
    """An outbox message of a freshly closed alarm's report (not yet sent)."""
    alarm = w.new_alarm("closed")
    with w.centre.db.session() as session:
        report = session.scalars(select(Report.id).where(Report.alarm_id == alarm)).one()
        return (
            session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.report_id == report)
            ).first()
            or 0
        )


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[World]:
    database = open_database(module_database_url)
    config = Settings(database_url=module_database_url, run_pipeline=False)
    with TestClient(create_app(config)) as client:
        yield build(Centre(client, database))
    database.dispose()


def call(world: World, endpoint: Endpoint, headers: dict[str, str]) -> Any:
    body = endpoint.body(world) if endpoint.body else None
    return world.centre.client.request(
        endpoint.method, endpoint.path(world), json=body, headers=headers
    )


# Refusals a route makes itself, past the role check, audited under their own name.
OWN_DENIALS = {"protected_position_denied"}


def templates(world: World, method: str, path: str) -> set[str]:
    """The OpenAPI path templates that this call's path fits, for this method."""
    spec = world.centre.client.get("/openapi.json").json()["paths"]
    return {
        template
        for template, methods in spec.items()
        if method.lower() in methods
        and re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path)
    }


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_role_on_every_endpoint(world: World, name: str) -> None:
    endpoint = ENDPOINTS[name]
    assert endpoint.allowed <= set(ROLES)
    refused: list[str] = []
    with world.centre.db.session() as session:  # the world is shared: this test's own denials
        before = session.scalar(select(func.max(AuditEntry.id))) or 0
    for role in ROLES:
        response = call(world, endpoint, world.centre.headers(role))
        if role in endpoint.allowed:
            assert response.status_code < 300, (name, role, response.status_code, response.text)
        else:
            assert response.status_code == 403, (name, role, response.status_code, response.text)
            assert response.json()["error"] == "forbidden"
            refused.append(role)
    # Each refusal is audited, naming the route's template (not the ids it was called with); one
    # entry a minute per user and route: reports.html and reports.pdf share theirs.
    fitting = {
        f"route:{endpoint.method} {template}"
        for template in templates(world, endpoint.method, response.request.url.path)
    }
    with world.centre.db.session() as session:
        audited = {
            entry.actor
            for entry in session.scalars(select(AuditEntry))
            if (entry.action == "forbidden" and entry.target in fitting)
            or (entry.action in OWN_DENIALS and entry.id > before)
        }
    assert fitting and audited == {f"{role}1" for role in refused}, (name, fitting)
    anonymous = call(world, endpoint, {})
    assert anonymous.status_code == 401, (name, anonymous.text)


def test_a_refusal_with_a_hostile_path_is_audited_all_the_same(world: World) -> None:
    """The path is the caller's to write: a NUL (which jsonb refuses), an endless id, non-ASCII."""
    judge = world.centre.headers("judge", "judge9")  # his own: the world is shared
    for path in (
        "/api/alarms/%00/acknowledge",
        "/api/alarms/" + "9" * 5000 + "/close",
        "/api/alarms/%C3%A9/actions",
    ):
        response = world.centre.client.post(path, headers=judge, json={})
        assert response.status_code == 403, (path, response.text)
    with world.centre.db.session() as session:
        kept = {
            entry.target: entry.detail["path"]
            for entry in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "forbidden", AuditEntry.actor == "judge9"
                )
            )
        }
        assert audit.verify(session)[1] is None
    assert kept == {
        "route:POST /api/alarms/{alarm_id}/acknowledge": "/api/alarms/%00/acknowledge",
        "route:POST /api/alarms/{alarm_id}/close": ("/api/alarms/" + "9" * 5000)[:PATH_KEPT],
        "route:POST /api/alarms/{alarm_id}/actions": "/api/alarms/%C3%A9/actions",
    }


# Open, or ending or replacing the caller's own token, or the scraper's: tested on their own
# (test_accounts.py, test_console_session.py for the renewal, test_metrics.py).
UNTABLED = (
    "/api/auth/token",
    "/api/health",
    "/metrics",
    "/api/auth/logout",
    "/api/auth/password",
    "/api/auth/refresh",
)


def test_table_covers_every_route(world: World) -> None:
    spec = world.centre.client.get("/openapi.json").json()
    operations = [
        (method, path)
        for path, methods in spec["paths"].items()
        for method in methods
        if path not in UNTABLED
    ]
    # One route, /api/alarms/{id}/report.{fmt}, serves both rows reports.html and reports.pdf.
    assert len(operations) == len(ENDPOINTS) - 1
