"""The broker's logins kept in step with the centre's devices: a device withdrawn from service,
or given a new secret, loses its live MQTT session within about a second and cannot log in again.

A withdrawal (`vigie.cases.withdrawal`) or a new secret (`vigie.cases.device_secrets.issue`)
changes a device's login in the store, usually from the API's process; the broker is the
gateway's. So the gateway reads once a second the store's count of login changes (one row, kept
by trigger: migration 0036), and the logins themselves (the password file's text, one query)
when it moved, and once a minute all the same. When they changed, it writes Mosquitto's password
file and reloads it:
Mosquitto 2 then checks every connected client against the new file and closes those it no
longer admits (`mosquitto_security_apply_default`). A unit reinstated and given a new secret is
admitted the same way, without restarting the broker.

Why the password file and not the dynamic-security plugin (whose `disableClient` also closes a
session): the centre keeps only a hash of each secret, and the plugin's API sets a client's
password from its clear text, which only the API's process sees, once; the password file takes
the hash as stored, and the broker's own reload does the closing.

The broker down (crashed, being restarted): the file is written all the same (a broker that
starts reads it, so the device cannot come back), the reload is tried again at every pass, and
the failure is logged as an error naming the devices whose sessions may still be open. A
revocation is audited once the broker applied it (`broker_login_revoked`, with the attempts it
took); the withdrawal itself never waits for the broker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping

from sqlalchemy import select

from vigie.cases import device_secrets
from vigie.gateway.broker import BrokerError, Mosquitto, logins_of
from vigie.store import Database, audit
from vigie.store.models import Device

logger = logging.getLogger(__name__)
REPORT_EVERY_S = 60.0  # a failure that lasts is logged again this often, with its count
# The logins are read whole this often even when the store's count of their changes did not
# move: a database restored from a backup may count again from the very value the gateway saw
# last, with other logins.
READ_ALL_EVERY_S = 60.0


class BrokerLogins:
    """Keeps `broker`'s password file to the store's device secrets and `accounts` (username ->
    hash: the logins that are no device's, the gateway's own), every `poll_s` seconds."""

    def __init__(
        self,
        database: Database,
        broker: Mosquitto,
        accounts: Mapping[str, str],
        poll_s: float = 1.0,
        read_all_s: float = READ_ALL_EVERY_S,
    ) -> None:
        self._db = database
        self._broker = broker
        self._accounts = dict(accounts)
        self._poll_s = poll_s
        self._read_all_s = read_all_s
        self._applied = logins_of(broker.passwords)  # what the running broker admits
        self._changed: int | None = None  # the store's count of login changes when applied
        self._read_all_at = -math.inf  # when the logins were last read whole (monotonic)
        self._attempts = 0  # reloads tried for the change not yet applied
        self._unaudited: list[tuple[str, int]] = []  # (device, attempts): applied, not audited
        self._failures = 0
        self._reported = -math.inf
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vigie-broker-logins")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync)
            except Exception as exc:
                self._report(exc)
            else:
                if self._failures:
                    logger.warning(
                        "MQTT broker 127.0.0.1:%d: logins in step again after %d failed passes",
                        self._broker.port,
                        self._failures,
                    )
                self._failures, self._reported = 0, -math.inf
            await asyncio.sleep(self._poll_s)

    def sync(self) -> list[str]:
        """Bring the broker's logins to the store's; returns the devices whose login the broker
        has just revoked (their live sessions closed). `BrokerError` when it is not running."""
        self._audit_unaudited()
        now = time.monotonic()
        with self._db.reading() as session:  # never queues behind the intake's writes
            # One row when nothing changed since the logins the broker has (the usual pass);
            # read before the logins, so a change committed between the two is seen next pass.
            changed = device_secrets.logins_changed(session)
            if (
                changed == self._changed
                and not self._attempts
                and now - self._read_all_at < self._read_all_s
            ):
                return []
            passwords = device_secrets.password_file(session, self._accounts)
        self._read_all_at = now
        wanted = logins_of(passwords)
        if wanted == self._applied:
            self._changed = changed
            return []
        revoked = sorted(
            device
            for device, hashed in self._applied.items()
            if device not in self._accounts and wanted.get(device) != hashed
        )
        self._attempts += 1
        if passwords != self._broker.passwords:
            self._broker.write_passwords(passwords)  # what a broker (re)starting reads
        try:
            self._broker.reload()
        except BrokerError as exc:
            if revoked:
                raise BrokerError(
                    f"{exc}: the login of {', '.join(revoked)} is revoked in its password file, "
                    "but a session open before it went down stays open until it is reloaded"
                ) from exc
            raise
        self._applied, attempts, self._attempts = wanted, self._attempts, 0
        self._changed = changed
        if revoked:
            logger.info(
                "MQTT broker 127.0.0.1:%d revoked the login of %s; their open sessions closed",
                self._broker.port,
                ", ".join(revoked),
            )
            self._unaudited += [(device, attempts) for device in revoked]
            self._audit_unaudited()
        return revoked

    def _audit_unaudited(self) -> None:
        """Audit the revocations the broker applied (kept for the next pass if the store
        refuses: the database away, in a failover)."""
        if not self._unaudited:
            return
        devices = [device for device, _ in self._unaudited]
        with self._db.session() as session:
            rows = session.execute(
                select(Device.id, Device.withdrawn_reason, Device.secret_hash).where(
                    Device.id.in_(devices)
                )
            )
            why = {
                device: (
                    f"withdrawn from service ({withdrawn})"
                    if withdrawn is not None
                    else ("new secret" if hashed is not None else "secret removed")
                )
                for device, withdrawn, hashed in rows
            }
            broker = f"127.0.0.1:{self._broker.port}"
            audit.record_many(
                session,
                [
                    (
                        "gateway",
                        "broker_login_revoked",
                        f"device:{device}",
                        {
                            "broker": broker,
                            "reason": why.get(device, "unregistered"),
                            "attempts": attempts,
                        },
                    )
                    for device, attempts in self._unaudited
                ],
            )
        self._unaudited = []

    def _report(self, exc: Exception) -> None:
        """Log a failed pass at once, then once every `REPORT_EVERY_S` while they go on."""
        self._failures += 1
        now = time.monotonic()
        if now - self._reported < REPORT_EVERY_S:
            return
        self._reported = now
        logger.error(
            "MQTT broker 127.0.0.1:%d: logins not brought in step with the centre's devices "
            "(%d failed passes; retrying every %.1f s): %s",
            self._broker.port,
            self._failures,
            self._poll_s,
            exc,
            exc_info=not isinstance(exc, BrokerError),
        )
