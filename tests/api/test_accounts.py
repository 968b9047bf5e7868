"""Accounts: throttled logins, revocable tokens, the admin's account actions, the password
policy, and a centre that will not serve with a token secret anyone can read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from tests.conftest import Centre
from vigie import clock
from vigie.api import create_app
from vigie.api.password_policy import WeakPassword, check
from vigie.api.security import create_user
from vigie.cli import app as cli
from vigie.settings import DEFAULT_SECRET, InsecureSettings, Settings
from vigie.store import Database
from vigie.store.models import AuditEntry, RevokedToken, User

PASSWORD = "correct horse battery"


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The centre's clock, held still and moved by the test (`frozen[0] += ...`)."""
    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    yield now


def login(centre: Centre, username: str, password: str = PASSWORD) -> Any:
    return centre.client.post("/api/auth/token", json={"username": username, "password": password})


def account(centre: Centre, username: str, role: str = "operator") -> int:
    with centre.db.session() as session:
        return create_user(session, username, PASSWORD, role, username.title()).id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(db: Database, actor: str) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == actor).order_by(AuditEntry.id)
            )
        )


# ---------------------------------------------------------------- the token secret


def test_production_refuses_the_default_or_a_short_secret() -> None:
    with pytest.raises(InsecureSettings, match="development default"):
        create_app(Settings(dev=False, jwt_secret=DEFAULT_SECRET))
    with pytest.raises(InsecureSettings, match="shorter than 32"):
        create_app(Settings(dev=False, jwt_secret="short-secret"))
    create_app(Settings(dev=False, jwt_secret="x" * 16 + "a-real-random-secret-of-40-chars"))
    create_app(Settings(dev=True, jwt_secret=DEFAULT_SECRET))  # development says so


def test_serve_command_refuses_the_default_secret(tmp_path: Any) -> None:
    env = {"VIGIE_DEV": "false", "VIGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'v.sqlite'}"}
    refused = CliRunner().invoke(cli, ["centre", "serve"], env=env)
    assert refused.exit_code == 2
    assert "VIGIE_JWT_SECRET is the development default" in refused.output
    assert "VIGIE_DEV=true for development only" in refused.output
    assert not (tmp_path / "v.sqlite").exists()  # refused before touching anything


# ---------------------------------------------------------------- throttling


def test_login_throttled_per_user_until_the_window_passes(
    centre: Centre, frozen: list[datetime]
) -> None:
    account(centre, "victim")
    for _ in range(5):
        assert login(centre, "victim", "wrong password!").status_code == 401
    refused = login(centre, "victim")  # the right password, but too late
    assert refused.status_code == 429
    assert refused.json()["error"] == "throttled"
    assert int(refused.headers["Retry-After"]) == 900
    frozen[0] += timedelta(seconds=600)
    again = login(centre, "victim")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) == 300
    assert login(centre, "someone-else").status_code == 401  # the address is not locked
    frozen[0] += timedelta(seconds=301)
    assert login(centre, "victim").status_code == 200
    actions = audit_actions(centre.db, "victim")
    # Five failures, the lockout once (not each refused attempt), then the login.
    assert actions == ["login_failed"] * 5 + ["login_throttled", "login"]


def test_a_success_forgets_the_users_failures(centre: Centre, frozen: list[datetime]) -> None:
    account(centre, "forgetful")
    for _ in range(4):
        assert login(centre, "forgetful", "wrong password!").status_code == 401
    assert login(centre, "forgetful").status_code == 200
    for _ in range(4):
        assert login(centre, "forgetful", "wrong password!").status_code == 401
    assert login(centre, "forgetful").status_code == 200


def test_login_throttled_per_client_address(
    centre_settings: Settings, db: Database, frozen: list[datetime]
) -> None:
    config = centre_settings.model_copy(update={"login_max_failures_per_client": 3})
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        account(centre, "real")
        for name in ("guess1", "guess2", "guess3"):
            assert login(centre, name).status_code == 401
        refused = login(centre, "real")
        assert refused.status_code == 429 and "this address" in refused.json()["message"]
        frozen[0] += timedelta(seconds=config.login_window_s)
        assert login(centre, "real").status_code == 200
    with db.session() as session:
        throttled = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "login_throttled")
        ).all()
    assert [d["client"] for d in throttled] == ["testclient"]


# ---------------------------------------------------------------- revocation


def test_logout_revokes_that_token_only(centre: Centre) -> None:
    account(centre, "leaving")
    first, second = (login(centre, "leaving").json()["access_token"] for _ in range(2))
    assert centre.client.get("/api/alarms", headers=bearer(first)).status_code == 200
    assert centre.client.post("/api/auth/logout", headers=bearer(first)).status_code == 204
    after = centre.client.get("/api/alarms", headers=bearer(first))
    assert after.status_code == 401 and "logged out" in after.json()["message"]
    assert centre.client.get("/api/alarms", headers=bearer(second)).status_code == 200
    assert centre.client.post("/api/auth/logout").status_code == 401
    assert "logout" in audit_actions(centre.db, "leaving")


def test_revoked_tokens_are_forgotten_once_expired(centre: Centre, frozen: list[datetime]) -> None:
    account(centre, "twice")
    old = login(centre, "twice").json()["access_token"]
    centre.client.post("/api/auth/logout", headers=bearer(old))
    frozen[0] += timedelta(hours=9)  # past the 8 h lifetime: the old token is dead anyway
    new = login(centre, "twice").json()["access_token"]
    centre.client.post("/api/auth/logout", headers=bearer(new))
    with centre.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RevokedToken)) == 1


def test_disabled_user_loses_every_token_and_cannot_log_in(centre: Centre) -> None:
    user_id = account(centre, "gone")
    token = login(centre, "gone").json()["access_token"]
    admin = centre.headers("admin")
    disabled = centre.client.post(f"/api/users/{user_id}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert centre.client.get("/api/alarms", headers=bearer(token)).status_code == 401
    assert login(centre, "gone").status_code == 401
    assert centre.client.post(f"/api/users/{user_id}/enable", headers=admin).status_code == 200
    assert login(centre, "gone").status_code == 200
    assert centre.client.get("/api/alarms", headers=bearer(token)).status_code == 401  # still
    with centre.db.session() as session:
        admin_id = session.scalars(select(User.id).where(User.username == "admin1")).one()
    itself = centre.client.post(f"/api/users/{admin_id}/disable", headers=admin)
    assert itself.status_code == 409
    assert centre.client.post("/api/users/999999/disable", headers=admin).status_code == 404
    assert audit_actions(centre.db, "admin1")[-2:] == ["disable", "enable"]


def test_password_change_revokes_older_tokens(centre: Centre) -> None:
    account(centre, "mover")
    old = login(centre, "mover").json()["access_token"]
    other_session = login(centre, "mover").json()["access_token"]

    def change(current: str, new: str) -> Any:
        body = {"current_password": current, "new_password": new}
        return centre.client.post("/api/auth/password", json=body, headers=bearer(old))

    weak = change(PASSWORD, "Password2024!")
    assert weak.status_code == 422 and weak.json()["field"] == "new_password"
    assert "too common" in weak.json()["message"]
    wrong = change("not my password", "Bright-Kettle-Orbit-42")
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    assert centre.client.get("/api/alarms", headers=bearer(old)).status_code == 200
    changed = change(PASSWORD, "Bright-Kettle-Orbit-42")
    assert changed.status_code == 200
    for token in (old, other_session):
        assert centre.client.get("/api/alarms", headers=bearer(token)).status_code == 401
    fresh = changed.json()["access_token"]
    assert centre.client.get("/api/alarms", headers=bearer(fresh)).status_code == 200
    assert login(centre, "mover").status_code == 401
    assert login(centre, "mover", "Bright-Kettle-Orbit-42").status_code == 200
    assert "password_changed" in audit_actions(centre.db, "mover")


def test_admin_resets_a_password(centre: Centre) -> None:
    user_id = account(centre, "forgot")
    old = login(centre, "forgot").json()["access_token"]
    admin = centre.headers("admin")
    path = f"/api/users/{user_id}/password"
    own_name = centre.client.post(path, json={"password": "forgot-me-not-2026"}, headers=admin)
    assert own_name.status_code == 422 and own_name.json()["field"] == "password"
    assert "username" in own_name.json()["message"]
    reset = centre.client.post(path, json={"password": "Quiet-Harbour-Lamp-7"}, headers=admin)
    assert reset.status_code == 200
    assert centre.client.get("/api/alarms", headers=bearer(old)).status_code == 401
    assert login(centre, "forgot", "Quiet-Harbour-Lamp-7").status_code == 200
    assert "reset_password" in audit_actions(centre.db, "admin1")
    with centre.db.session() as session:
        target = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "reset_password")
        ).one()
    assert target == f"user:{user_id}"


def test_a_recreated_username_does_not_inherit_old_tokens(centre: Centre) -> None:
    account(centre, "ghost")
    token = login(centre, "ghost").json()["access_token"]
    with centre.db.session() as session:
        session.execute(delete(User).where(User.username == "ghost"))
    assert centre.client.get("/api/alarms", headers=bearer(token)).status_code == 401
    account(centre, "ghost")  # same name, new account (on SQLite possibly the same id)
    answer = centre.client.get("/api/alarms", headers=bearer(token))
    assert answer.status_code == 401 and "revoked" in answer.json()["message"]


def test_old_style_tokens_without_a_key_are_refused(centre: Centre) -> None:
    import jwt

    centre.headers("operator")
    now = clock.now()
    claims = {"sub": "operator1", "role": "operator", "exp": now + timedelta(hours=1)}
    forged = jwt.encode(claims, DEFAULT_SECRET, algorithm="HS256")
    assert centre.client.get("/api/alarms", headers=bearer(forged)).status_code == 401


# ---------------------------------------------------------------- the password policy


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10"),
        ("aaaaabbbbb", "different characters"),
        ("12345678901", "only digits"),
        ("Password123!", "too common"),
        ("Motdepasse 2024", "too common"),
        ("AZERTYUIOP", "too common"),
        ("soleilsoleil", "too common"),
        ("jdupont-rules-here", "username"),
        ("Dupont de Nemours!", "name"),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check(password, "jdupont", "Jean Dupont")


def test_policy_accepts_a_passphrase() -> None:
    check("Bright-Kettle-Orbit-42", "jdupont", "Jean Dupont")
    check("trois mots au hasard", "jdupont", "Jean Dupont")


def test_user_creation_applies_the_policy(centre: Centre) -> None:
    admin = centre.headers("admin")
    body = {"username": "newbie", "role": "operator", "full_name": "Nina Newbie"}

    def create(password: str) -> Any:
        return centre.client.post("/api/users", json=body | {"password": password}, headers=admin)

    common = create("azertyuiop")
    assert common.status_code == 422 and common.json()["field"] == "password"
    named = create("Nina is 2026!")
    assert named.status_code == 422 and "name" in named.json()["message"]
    assert create("Bright-Kettle-Orbit-42").status_code == 201
