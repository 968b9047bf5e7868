"""Reports are never given up silently (an undelivered item for supervisors, with a resend), and
mail goes over STARTTLS with authentication when configured."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from tests.api.world import World, build
from tests.conftest import Centre, Mailbox
from vigie import clock
from vigie.alarms import outbox
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.store.models import AuditEntry, OutboxMessage

MAX_ATTEMPTS = 2


@pytest.fixture
def centre_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        run_pipeline=False,
        outbox_max_attempts=MAX_ATTEMPTS,
        outbox_retry_base_s=1,
    )


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def _actions(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_report_given_up_is_shown_to_supervisors_and_can_be_resent(
    world: World, centre_settings: Settings, smtp_server: tuple[str, int, Mailbox]
) -> None:
    centre, db = world.centre, world.centre.db
    alarm = world.new_alarm("closed")
    down = _with(centre_settings, smtp_port=free_port())
    now = clock.now()
    for attempt in range(MAX_ATTEMPTS + 1):  # the last pass finds nothing left to try
        assert outbox.deliver_due(db, down, now + timedelta(minutes=attempt)) == 0
    with db.session() as session:
        assert {m.attempts for m in session.scalars(select(OutboxMessage))} == {MAX_ATTEMPTS}
    given_up = _actions(world, "report_undelivered")
    assert len(given_up) == 3 and {e.detail["alarm"] for e in given_up} == {alarm}

    listed = centre.client.get("/api/outbox/undelivered", headers=centre.headers("supervisor"))
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert {i["recipient_role"] for i in items} == {"judge", "prosecutor", "spip"}
    assert all(i["alarm_id"] == alarm and i["case"] == world.case_ref for i in items)
    assert all("ConnectionRefusedError" in i["last_error"] for i in items)
    refused = centre.client.get("/api/outbox/undelivered", headers=centre.headers("operator"))
    assert refused.status_code == 403

    judge = next(i for i in items if i["recipient_role"] == "judge")
    resent = centre.client.post(
        f"/api/outbox/{judge['id']}/resend", headers=centre.headers("supervisor")
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["attempts"] == 0
    (trace,) = _actions(world, "report_resend")
    assert (trace.actor, trace.target) == ("supervisor1", f"outbox:{judge['id']}")
    after = centre.client.get("/api/outbox/undelivered", headers=centre.headers("supervisor"))
    assert judge["id"] not in {i["id"] for i in after.json()}

    host, port, mailbox = smtp_server
    up = _with(centre_settings, smtp_host=host, smtp_port=port)
    assert outbox.deliver_due(db, up, clock.now() + timedelta(minutes=10)) == 1
    assert [rcpts for _, rcpts in mailbox.envelopes] == [["judge@justice.test"]]
    again = centre.client.post(
        f"/api/outbox/{judge['id']}/resend", headers=centre.headers("supervisor")
    )
    assert again.status_code == 409
    missing = centre.client.post("/api/outbox/999999/resend", headers=centre.headers("supervisor"))
    assert missing.status_code == 404


# --- SMTP over STARTTLS with authentication ------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Logins:
    """The authenticator of the test server: one account, every attempt remembered."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"centre"
            and data.password == b"s3cret-mail"
        )
        self.seen.append((data.login.decode() if isinstance(data, LoginPassword) else "", ok))
        return AuthResult(success=ok)


@pytest.fixture
def tls_smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Mailbox, Logins]]:
    """An SMTP server that demands STARTTLS before anything and a login before mail."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    mailbox, logins = Mailbox(), Logins()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=logins,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield controller.port, mailbox, logins
    finally:
        controller.stop()


def _deliver(world: World, config: Settings) -> list[OutboxMessage]:
    world.new_alarm("closed")
    outbox.deliver_due(world.centre.db, config, clock.now())
    with world.centre.db.session() as session:
        return list(session.scalars(select(OutboxMessage)))


def _with(base: Settings, **changes: Any) -> Settings:
    return Settings(**(base.model_dump() | changes))


def _tls_settings(base: Settings, port: int, **more: Any) -> Settings:
    return _with(base, smtp_host="127.0.0.1", smtp_port=port, **more)


def test_mail_goes_over_starttls_with_a_login(
    world: World,
    centre_settings: Settings,
    tls_smtp: tuple[int, Mailbox, Logins],
    certificate: tuple[Path, Path],
) -> None:
    port, mailbox, logins = tls_smtp
    config = _tls_settings(
        centre_settings,
        port,
        smtp_starttls=True,
        smtp_ca_file=str(certificate[0]),
        smtp_username="centre",
        smtp_password="s3cret-mail",
    )
    messages = _deliver(world, config)
    assert all(m.sent_at is not None for m in messages), [m.last_error for m in messages]
    assert len(mailbox.messages) == 3
    assert logins.seen and all(ok for _, ok in logins.seen)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({}, "STARTTLS"),  # the server refuses a client that does not start TLS
        ({"smtp_starttls": True}, "CERTIFICATE_VERIFY_FAILED"),  # not the system's CAs
        ({"smtp_username": "centre", "smtp_password": "s3cret-mail"}, "only sent over STARTTLS"),
    ],
)
def test_mail_is_not_sent_unprotected_or_unverified(
    world: World,
    centre_settings: Settings,
    tls_smtp: tuple[int, Mailbox, Logins],
    certificate: tuple[Path, Path],
    settings: dict[str, Any],
    error: str,
) -> None:
    port, mailbox, logins = tls_smtp
    messages = _deliver(world, _tls_settings(centre_settings, port, **settings))
    assert all(m.sent_at is None and error in (m.last_error or "") for m in messages), [
        m.last_error for m in messages
    ]
    assert mailbox.messages == []
    if "smtp_starttls" not in settings:
        assert logins.seen == []  # the password never left in clear
