"""`vigie gateway device-secret` and `mqtt-passwords`, and `vigie centre create-user --role
integration`, run as a person would run them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.gateway.conftest import PHONE
from vigie.cases import device_secrets
from vigie.cli import app
from vigie.gateway.broker import ACL, GATEWAY_USER
from vigie.settings import settings
from vigie.store import Database
from vigie.store.models import Device, User
from vigie.store.users import by_username


@pytest.fixture
def vigie(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Callable[..., Result]]:
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, **env: runner.invoke(app, list(args), env=env or None)
    settings.cache_clear()


def test_device_secret_is_printed_once_and_only_its_hash_stored(
    seeded: Database, vigie: Callable[..., Result], tmp_path: Path
) -> None:
    issued = vigie("gateway", "device-secret", PHONE)
    assert issued.exit_code == 0, issued.output
    secret = issued.output.strip()
    assert len(secret) >= 40
    with seeded.session() as session:
        hashed = session.get_one(Device, PHONE).secret_hash
    assert hashed is not None and secret not in hashed and hashed.startswith("$7$")
    assert device_secrets.verify(secret, hashed) and not device_secrets.verify("x", hashed)
    unknown = vigie("gateway", "device-secret", "NOPE")
    assert unknown.exit_code != 0 and "not found" in unknown.output

    passwords, acl = tmp_path / "passwords", tmp_path / "acl"
    refused = vigie("gateway", "mqtt-passwords", "--output", str(passwords))
    assert refused.exit_code != 0 and "VIGIE_MQTT_PASSWORD" in refused.output
    written = vigie(
        "gateway",
        "mqtt-passwords",
        "--output",
        str(passwords),
        "--acl",
        str(acl),
        VIGIE_MQTT_PASSWORD="the gateway's long password",
    )
    assert written.exit_code == 0, written.output
    lines = dict(line.split(":", 1) for line in passwords.read_text().splitlines())
    assert lines[PHONE] == hashed
    assert device_secrets.verify("the gateway's long password", lines[GATEWAY_USER])
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert acl.read_text() == ACL


def test_an_integration_account_is_made_by_create_user(
    db: Database, vigie: Callable[..., Result]
) -> None:
    made = vigie(
        "centre",
        "create-user",
        "feed",
        "--role",
        "integration",
        "--full-name",
        "Partner feed",
        "--password",
        "a long enough password",
    )
    assert made.exit_code == 0, made.output
    with db.session() as session:
        user = by_username(session, "feed")
        assert isinstance(user, User) and user.role == "integration"
