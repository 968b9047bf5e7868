"""A home unit withdrawn from service, or given a new secret, loses its live session on the real
Mosquitto within a bounded time and cannot log in again; reinstated with a new secret, it can.
The withdrawal does not wait for the broker: with the broker down it succeeds, and the broker
applies it when it is back."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from sqlalchemy import delete, select, update

from tests.gateway.conftest import (
    GATEWAY_MQTT,
    HOME_UNIT,
    TEST_LIMITS,
    connack,
    give_secrets,
    key,
    minutes_ago,
    stored,
    wait_for,
)
from vigie import clock
from vigie.cases import device_secrets, devices, withdrawal
from vigie.cases.forms import DeviceIn, DeviceReinstateIn, DeviceWithdrawalIn
from vigie.gateway.broker import GATEWAY_USER, Mosquitto, logins_of
from vigie.gateway.broker_logins import BrokerLogins
from vigie.gateway.mqtt import topic_for
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.ports import free_port
from vigie.store import Database
from vigie.store.models import AuditEntry, Device, LoginsChanged

SPARE = "H-SPARE"  # a home unit in stock (no case may hold a device being withdrawn)
POLL_S = 0.2
CLOSED_WITHIN_S = 3.0  # a pass (POLL_S) and Mosquitto's reload, with room for a slow machine


class UnitSession:
    """A unit's MQTT session as firmware keeps it: paho logs in again whenever it is closed.
    Records every CONNACK and when the broker closed the session."""

    def __init__(self, port: int, device: str, secret: str) -> None:
        self.answers: list[str] = []
        self.connected = threading.Event()
        self.closed_at: float | None = None
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{device}-unit")
        self.client.username_pw_set(device, secret)
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10), f"{device}: {self.answers}"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.answers.append(str(reason))
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        if self.connected.is_set():
            self.connected.clear()
            self.closed_at = time.monotonic()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def logins(seeded: Database, broker: Mosquitto) -> Iterator[BrokerLogins]:
    """The gateway on the broker, keeping its logins; the spare unit registered and given its
    secret after the broker started (the gateway's first pass admits it)."""
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE, kind="home_unit"), "t")
    give_secrets(seeded, SPARE)
    accounts = {GATEWAY_USER: logins_of(broker.passwords)[GATEWAY_USER]}
    keeper = BrokerLogins(seeded, broker, accounts, poll_s=POLL_S)
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, mqtt_client_id="vigie-gateway-test", broker_logins=keeper),
        Listen("127.0.0.1", None, None, ("127.0.0.1", broker.port), GATEWAY_MQTT),
    )
    runner.start()
    wait_for(lambda: connack(broker, (SPARE, key(SPARE))) == "Success", 10)
    yield keeper
    runner.stop()


def withdraw(db: Database, device: str = SPARE) -> None:
    with db.session() as session:
        form = DeviceWithdrawalIn(reason="stolen", note="taken from the wearer's car")
        done = withdrawal.withdraw(session, device, form, "supervisor1", clock.now())
        assert done.withdrawn_at is not None


def revocations(db: Database) -> list[AuditEntry]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "broker_login_revoked")
                .order_by(AuditEntry.id)
            )
        )


def test_a_withdrawn_units_session_is_closed_and_it_cannot_log_in_until_reinstated_with_a_secret(
    seeded: Database, broker: Mosquitto, logins: BrokerLogins
) -> None:
    stolen = UnitSession(broker.port, SPARE, key(SPARE))
    other = UnitSession(broker.port, HOME_UNIT, key(HOME_UNIT))
    try:
        assert revocations(seeded) == []  # admitting a new secret revokes nothing
        withdrawn_at = time.monotonic()
        withdraw(seeded)
        wait_for(lambda: stolen.closed_at is not None, CLOSED_WITHIN_S)
        assert stolen.closed_at is not None and stolen.closed_at - withdrawn_at < CLOSED_WITHIN_S
        # Its firmware logs in again at once, and is refused every time.
        wait_for(lambda: stolen.answers.count("Not authorized") >= 2, 10)
        assert not stolen.connected.is_set()
        assert connack(broker, (SPARE, key(SPARE))) == "Not authorized"
        # The other unit's session and the gateway's subscription went through the reload.
        assert other.connected.is_set() and other.closed_at is None
        reading = {"t": minutes_ago(1), "type": "power", "mains": True}
        other.client.publish(topic_for(HOME_UNIT), json.dumps(reading), qos=1).wait_for_publish(10)
        wait_for(lambda: len(stored(seeded, HOME_UNIT)) == 1)
    finally:
        stolen.close()
        other.close()
    (entry,) = revocations(seeded)
    assert (entry.actor, entry.target) == ("gateway", f"device:{SPARE}")
    assert entry.detail == {
        "broker": f"127.0.0.1:{broker.port}",
        "reason": "withdrawn from service (stolen)",
        "attempts": 1,
    }

    with seeded.session() as session:
        back = DeviceReinstateIn(note="found by the police")
        withdrawal.reinstate(session, SPARE, back, "supervisor1", clock.now())
    time.sleep(3 * POLL_S)  # passes over a reinstated device without a secret: still refused
    assert connack(broker, (SPARE, key(SPARE))) == "Not authorized"
    with seeded.session() as session:
        secret = device_secrets.issue(session, SPARE, "supervisor1")
    wait_for(lambda: connack(broker, (SPARE, secret)) == "Success", CLOSED_WITHIN_S)
    assert connack(broker, (SPARE, key(SPARE))) == "Not authorized"
    assert len(revocations(seeded)) == 1


def test_a_new_secret_closes_the_session_opened_with_the_old_one(
    seeded: Database, broker: Mosquitto, logins: BrokerLogins
) -> None:
    unit = UnitSession(broker.port, SPARE, key(SPARE))
    try:
        with seeded.session() as session:
            secret = device_secrets.issue(session, SPARE, "supervisor1")
        wait_for(lambda: unit.closed_at is not None, CLOSED_WITHIN_S)
        wait_for(lambda: "Not authorized" in unit.answers, 10)
        assert not unit.connected.is_set()
    finally:
        unit.close()
    assert connack(broker, (SPARE, secret)) == "Success"
    (entry,) = revocations(seeded)
    assert entry.target == f"device:{SPARE}" and entry.detail["reason"] == "new secret"


def test_a_withdrawal_with_the_broker_down_succeeds_and_is_applied_when_it_is_back(
    seeded: Database, broker: Mosquitto, logins: BrokerLogins, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vigie.gateway.broker_logins")
    unit = UnitSession(broker.port, SPARE, key(SPARE))
    try:
        broker.stop()
        withdraw(seeded)  # does not wait for the broker
        with seeded.session() as session:
            (withdrawn,) = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "withdraw_device")
            )
        assert withdrawn.target == f"device:{SPARE}"
        wait_for(lambda: "is not running" in caplog.text, 10)
        (failure,) = [  # once, not at every pass
            r
            for r in caplog.records
            if r.name == "vigie.gateway.broker_logins" and r.levelno == logging.ERROR
        ]
        assert SPARE in failure.getMessage() and "stays open" in failure.getMessage()
        assert revocations(seeded) == []  # not applied: not audited as done
        # Written for the broker's next start: it will not admit the unit again.
        assert SPARE not in logins_of((broker.folder / "passwords").read_text())
        broker.start()
        assert connack(broker, (SPARE, key(SPARE))) == "Not authorized"
        wait_for(lambda: len(revocations(seeded)) == 1, 10)
        assert unit.answers.count("Success") == 1  # its own reconnections were refused
    finally:
        unit.close()
    (entry,) = revocations(seeded)
    assert entry.detail["reason"] == "withdrawn from service (stolen)"
    assert entry.detail["attempts"] > 1
    assert "in step again" in caplog.text


@pytest.mark.processes  # the command's own process: libfaketime does not carry into it
def test_the_gateway_command_keeps_the_broker_it_starts_to_the_devices(
    seeded: Database, database_url: str, tmp_path: Path
) -> None:
    """`vigie gateway serve --start-broker`, as run in service: a unit withdrawn from the store
    (by the API's process, say) loses its session on the broker the command started."""
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE, kind="home_unit"), "t")
    give_secrets(seeded, SPARE)
    port = free_port()
    argv = [sys.executable, "-c", "from vigie.cli import main; main()", "gateway", "serve"]
    argv += ["--mqtt-port", str(port), "--start-broker", "--broker-folder", str(tmp_path)]
    log = tmp_path / "gateway.log"
    with log.open("ab") as errors:
        command = subprocess.Popen(
            argv, env=os.environ | {"VIGIE_DATABASE_URL": database_url}, stderr=errors
        )
    unit = None
    try:
        deadline = time.monotonic() + 60
        while unit is None:
            try:
                unit = UnitSession(port, SPARE, key(SPARE))
            except (OSError, AssertionError):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        withdraw(seeded)
        wait_for(lambda: unit.closed_at is not None, 10)
        wait_for(lambda: "Not authorized" in unit.answers, 10)
        assert not unit.connected.is_set()
    finally:
        if unit is not None:
            unit.close()
        command.send_signal(signal.SIGTERM)
        command.wait(timeout=30)
    (entry,) = revocations(seeded)
    assert entry.detail["reason"] == "withdrawn from service (stolen)"


def changes(db: Database) -> int:
    with db.reading() as session:
        return device_secrets.logins_changed(session)


def test_the_store_counts_every_change_of_a_login_and_nothing_else(db: Database) -> None:
    """Migration 0036's trigger: a device made, given a secret, withdrawn or deleted moves the
    count the gateway reads; a change that leaves its login alone does not."""
    before = changes(db)
    with db.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE, kind="home_unit"), "t")
    made = changes(db)
    assert made > before
    give_secrets(db, SPARE)
    given = changes(db)
    assert given > made
    with db.session() as session:
        session.get_one(Device, SPARE).model = "HU-2"
    assert changes(db) == given
    withdraw(db)
    withdrawn = changes(db)
    assert withdrawn > given
    with db.session() as session:
        session.execute(delete(Device).where(Device.id == SPARE))
    assert changes(db) > withdrawn


class Reads:
    """`device_secrets.password_file`, counting its calls (the real one runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = device_secrets.password_file

        def counted(*args: Any, **kwargs: Any) -> str:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(device_secrets, "password_file", counted)


def test_a_pass_reads_the_logins_only_when_the_store_says_they_changed(
    seeded: Database, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE, kind="home_unit"), "t")
    give_secrets(seeded, SPARE)
    accounts = {GATEWAY_USER: logins_of(broker.passwords)[GATEWAY_USER]}
    keeper = BrokerLogins(seeded, broker, accounts)
    reads = Reads(monkeypatch)
    assert keeper.sync() == []  # the first pass reads them all and admits the spare unit
    assert reads.count == 1
    assert SPARE in logins_of(broker.passwords)
    assert keeper.sync() == [] and keeper.sync() == []
    assert reads.count == 1  # nothing changed: the count alone was read
    withdraw(seeded)
    assert keeper.sync() == [SPARE]
    assert reads.count == 2
    assert SPARE not in logins_of(broker.passwords)
    assert keeper.sync() == []
    assert reads.count == 2


def test_a_change_the_count_missed_is_read_all_the_same(
    seeded: Database, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restored from a backup may count again from an older value: the logins are
    read whole every `read_all_s` whatever the count says."""
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE, kind="home_unit"), "t")
    give_secrets(seeded, SPARE)
    accounts = {GATEWAY_USER: logins_of(broker.passwords)[GATEWAY_USER]}
    keeper = BrokerLogins(seeded, broker, accounts, read_all_s=0.0)
    assert keeper.sync() == []
    counted = changes(seeded)
    withdraw(seeded)
    with seeded.session() as session:
        session.execute(update(LoginsChanged).values(value=counted))
    reads = Reads(monkeypatch)
    assert keeper.sync() == [SPARE]
    assert reads.count == 1
