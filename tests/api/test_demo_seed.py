"""The demo's seeding, in process: every role can log in, each judge, prosecutor and SPIP officer
sees only their own cases, a restarted demo keeps feeding, and the port check is not fooled by
the TIME-WAIT sockets an earlier demo leaves behind."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy import select

from vigie import clock
from vigie.api.security import authenticate
from vigie.cases.access import placements_visible_to
from vigie.commands import centre
from vigie.ports import free_port
from vigie.store import Database
from vigie.store.models import Placement, User


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Noon in Paris today (mid-day: some of the day's observations past, some to come)."""
    today = clock.today_in_paris()
    noon = datetime(today.year, today.month, today.day, 11, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: noon)
    return noon


def test_a_restarted_demo_feeds_the_rest_of_the_day(db: Database, fixed_now: datetime) -> None:
    _, _, first = centre.seed(db, 6, 1)
    logins, _, again = centre.seed(db, 6, 1)
    assert first, "the first run has observations to feed"
    # The second run (cases already open) feeds the same observations from now on, instead of
    # nothing (a dead centre, a signal-lost alarm for every device).
    assert again == first
    assert all(centre.record_time(o) > fixed_now for o in again)
    with db.session() as session:
        assert session.scalar(select(Placement.id).limit(1)) is not None
        placements = session.scalars(select(Placement.case_ref)).all()
    assert len(placements) == len(set(placements))  # nothing opened twice
    assert len(logins) == len(centre.DEMO_USERS)


def test_every_role_logs_in_and_sees_only_its_cases(db: Database, fixed_now: datetime) -> None:
    logins, _, _ = centre.seed(db, 6, 1)
    roles = {"operator", "supervisor", "admin", "judge", "prosecutor", "spip"}
    assert {key.split()[0] for key in logins} == roles
    with db.session() as session:
        total = len(session.scalars(select(Placement.id)).all())
        for username, password in logins.values():
            user = session.scalars(select(User).where(User.username == username)).one()
            assert authenticate(session, username, password).id == user.id
            seen = set(session.scalars(select(Placement.id).where(placements_visible_to(user))))
            if user.role in ("judge", "prosecutor", "spip"):
                # Two of each role share the cases: each sees some, none sees all.
                assert 0 < len(seen) < total, username
            else:
                assert len(seen) == total, username
        judges = [
            set(session.scalars(select(Placement.id).where(placements_visible_to(u))))
            for u in session.scalars(select(User).where(User.role == "judge"))
        ]
    assert len(judges) == 2 and not judges[0] & judges[1]


def test_the_port_check_ignores_time_wait_but_not_a_listener() -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as server:
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end waits in TIME-WAIT
        client.recv(1)
        client.close()
        with pytest.raises(typer.BadParameter, match="in use"):
            centre._check_port_free("127.0.0.1", port)
    assert _time_wait_on(port), "the test set up no TIME-WAIT socket"
    centre._check_port_free("127.0.0.1", port)  # only TIME-WAIT left: free for the demo


def _time_wait_on(port: int) -> bool:
    """Whether /proc/net/tcp lists a socket on `port` in TIME-WAIT (state 06)."""
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[1].endswith(f":{port:04X}") and row[3] == "06" for row in rows)
