"""The device registry: the identifier a device announces -> the device -> its placement.

A device announces the identifier it was registered under in `vigie.cases` (a tracker's IMEI,
the Traccar Client's device id): an unknown one is refused and logged, never accepted; one
withdrawn from service (`vigie.cases.withdrawal`: lost, stolen, broken) is refused too, and
audited: a lost bracelet that speaks again is news for the centre. Lookups
are cached for a few seconds, so a thousand reconnecting trackers cost a handful of queries,
while a device registered or withdrawn at the centre is seen within that delay.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from vigie.cases import device_secrets
from vigie.store import Database
from vigie.store.failover import retrying
from vigie.store.models import Device, DeviceAssignment, Placement
from vigie.store.refusals import AuditedRefusals

logger = logging.getLogger(__name__)


class UnknownDevice(LookupError):
    """A device the centre has not registered."""

    def __init__(self, identifier: str) -> None:
        super().__init__(
            f"device {identifier!r} is not registered at the centre: register it "
            "(vigie.cases devices) before it may send"
        )
        self.identifier = identifier


class WithdrawnDevice(UnknownDevice):
    """A registered device the centre has withdrawn from service: refused as an unknown one."""

    def __init__(self, identifier: str) -> None:
        LookupError.__init__(
            self,
            f"device {identifier!r} was withdrawn from service at the centre: refused until "
            "it is reinstated",
        )
        self.identifier = identifier


class WrongSecret(PermissionError):
    """A registered device's identifier with a missing or wrong secret: a spoof, or a device
    not yet given its secret."""

    def __init__(self, identifier: str, given: bool) -> None:
        super().__init__(
            f"device {identifier!r}: {'wrong' if given else 'no'} key; a device proves itself "
            "with the secret issued for it (vigie gateway device-secret)"
        )
        self.identifier = identifier


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    id: str
    kind: str
    case_ref: str | None  # the placement it is assigned to now, if any
    secret_hash: str | None = None
    withdrawn: bool = False  # out of service: refused


class Registry:
    """Registered devices read from the store, cached for `ttl_s` seconds."""

    def __init__(
        self, database: Database | None, ttl_s: float = 5.0, retry_s: float = 30.0
    ) -> None:
        """`database` None: a subclass reads devices elsewhere, and refusals are only logged."""
        self._db = database
        self._retry_s = retry_s  # reads retried through a database failover, as the intake's
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, RegisteredDevice | None]] = {}
        self._lock = threading.Lock()
        self._refusals = None if database is None else AuditedRefusals(database)
        # (device, its secret's hash) -> digest of the key found right: a phone reporting every
        # few seconds costs one PBKDF2 (~1 ms) per secret, not per report; a new secret, a new
        # entry.
        self._verified: dict[tuple[str, str], bytes] = {}

    def lookup(
        self, identifier: str, protocol: str = "gateway", peer: object = None
    ) -> RegisteredDevice:
        """The registered device in service; else `UnknownDevice` (logged), or
        `WithdrawnDevice` (logged and audited)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(identifier)
        if cached is None or now - cached[0] > self._ttl_s:
            found = retrying(lambda: self._read(identifier), self._retry_s, "device lookup")
            cached = (now, found)
            with self._lock:
                self._cache[identifier] = cached
        device = cached[1]
        if device is None:
            logger.warning("refused unknown device %r", identifier)
            raise UnknownDevice(identifier)
        if device.withdrawn:
            refusal = WithdrawnDevice(identifier)
            logger.warning("%s %s refused: %s", protocol, peer, refusal)
            self._audit_refusal(device, protocol, peer, "withdrawn from service")
            raise refusal
        return device

    def _read(self, identifier: str) -> RegisteredDevice | None:
        assert self._db is not None
        with self._db.session() as session:
            device = session.get(Device, identifier)
            if device is None:
                return None
            case_ref = session.scalar(
                select(Placement.case_ref)
                .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
                .where(DeviceAssignment.device_id == identifier, DeviceAssignment.until.is_(None))
            )
            return RegisteredDevice(
                device.id,
                device.kind,
                case_ref,
                device.secret_hash,
                device.withdrawn_at is not None,
            )

    def authenticate(
        self, identifier: str, key: str | None, protocol: str, peer: object
    ) -> RegisteredDevice:
        """The registered device if `key` is its secret; else `UnknownDevice` or `WrongSecret`,
        each logged, and a wrong secret for a registered device audited (a spoof attempt)."""
        device = self.lookup(identifier, protocol, peer)
        if key is not None and device.secret_hash is not None:
            digest = hashlib.blake2b(key.encode(), digest_size=32).digest()
            with self._lock:
                known = self._verified.get((device.id, device.secret_hash))
            if known is not None and hmac.compare_digest(known, digest):
                return device
            if device_secrets.verify(key, device.secret_hash):
                with self._lock:
                    self._verified[device.id, device.secret_hash] = digest
                return device
        refusal = WrongSecret(identifier, key is not None)
        logger.warning("%s %s refused: %s", protocol, peer, refusal)
        self._audit_refusal(device, protocol, peer, "wrong key" if key is not None else "no key")
        raise refusal

    def _audit_refusal(
        self, device: RegisteredDevice, protocol: str, peer: object, reason: str
    ) -> None:
        """Audited at most once a minute per device and protocol (`vigie.store.refusals`): a
        flood of forged requests cannot flood the audit log."""
        if self._refusals is None:
            return
        detail = {
            "protocol": protocol,
            "peer": str(peer),
            "reason": reason,
            "case": device.case_ref,
        }
        self._refusals.record(
            (device.id, protocol), "gateway", "device_refused", f"device:{device.id}", detail
        )
