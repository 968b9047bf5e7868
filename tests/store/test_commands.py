"""`vigie audit verify` and `vigie db purge-locations`, run as a person would run them."""

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from vigie import clock
from vigie.cli import app
from vigie.settings import settings
from vigie.store import Database, audit
from vigie.store import observations as log


@pytest.fixture
def vigie(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Callable[..., Result]]:
    """Run the `vigie` command in-process on the test database."""
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    settings.cache_clear()


def test_audit_verify_exit_codes(db: Database, vigie: Callable[..., Result]) -> None:
    with db.session() as session:
        ids = [audit.record(session, "ops", "read", f"case:{i}").id for i in range(3)]
    ok = vigie("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "3 entries verified" in ok.output
    with db.session() as session:
        if db.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        session.execute(
            text("UPDATE audit_log SET detail = '{\"x\": 1}' WHERE id = :id"), {"id": ids[1]}
        )
    broken = vigie("audit", "verify")
    assert broken.exit_code == 1
    assert f"entry {ids[1]}" in broken.output


def test_purge_locations_is_audited(db: Database, vigie: Callable[..., Result]) -> None:
    now = clock.now()
    old = {"kind": "obs", "device": "B1", "type": "position", "lat": 1.0, "lon": 2.0}
    with db.session() as session:
        log.append(
            session,
            [
                log.row_for(old | {"t": "old"}, now - timedelta(days=100), now, source="test"),
                log.row_for(old | {"t": "new"}, now - timedelta(days=1), now, source="test"),
            ],
        )
    result = vigie("db", "purge-locations", "--older-than", "30")
    assert result.exit_code == 0, result.output
    assert "purged 1 position" in result.output
    with db.session() as session:
        assert log.count(session) == 1
        actions = session.execute(text("SELECT action, detail FROM audit_log")).all()
    assert [a for a, _ in actions] == ["purge_locations_started", "purge_locations"]
    detail = actions[1][1]
    assert (json.loads(detail) if isinstance(detail, str) else detail)["purged"] == 1
    with db.session() as session:
        assert audit.verify(session)[1] is None


def test_create_user_then_log_in(db: Database, vigie: Callable[..., Result]) -> None:
    from vigie.api.security import authenticate

    args = ["centre", "create-user", "chef", "--role", "admin", "--full-name", "Chef"]
    created = vigie(*args, "--password", "long enough secret")
    assert created.exit_code == 0, created.output
    again = vigie(*args, "--password", "long enough secret")
    assert again.exit_code == 2 and "exists" in again.output
    weak = vigie(
        "centre", "create-user", "x", "--role", "boss", "--full-name", "X", "--password", "p"
    )
    assert weak.exit_code == 2
    common = vigie(*args[:2], "other", *args[3:], "--password", "Password2024!")
    assert common.exit_code == 2 and "too common" in common.output
    with db.session() as session:
        assert authenticate(session, "chef", "long enough secret").role == "admin"


def test_create_user_refuses_what_the_api_refuses(
    db: Database, vigie: Callable[..., Result]
) -> None:
    """The command checks with the API's own model: a login the console could not type, a name
    carrying a terminal escape, are refused here as `POST /api/users` refuses them."""
    from vigie.store.models import User

    secret = ["--password", "Correct-horse-battery-9"]
    for name, full_name, hint in (
        ("bo$s", "Boss", "USERNAME"),
        ("boss", "Boss\x1b[2J", "--full-name"),
        ("boss", "", "--full-name"),
    ):
        result = vigie(
            "centre", "create-user", name, "--role", "admin", "--full-name", full_name, *secret
        )
        assert result.exit_code == 2, result.output
        assert f"Invalid value for {hint}" in result.output
    with db.session() as session:
        assert session.scalars(select(User).where(User.username.like("bo%"))).all() == []
