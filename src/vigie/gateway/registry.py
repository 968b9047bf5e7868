"""The device registry: the identifier a device announces -> the device -> its placement.

A device announces the identifier it was registered under in `vigie.cases` (a tracker's IMEI,
the Traccar Client's device id): an unknown one is refused and logged, never accepted. Lookups
are cached for a few seconds, so a thousand reconnecting trackers cost a handful of queries,
while a device registered or withdrawn at the centre is seen within that delay.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from vigie.store import Database
from vigie.store.models import Device, DeviceAssignment, Placement

logger = logging.getLogger(__name__)


class UnknownDevice(LookupError):
    """A device the centre has not registered."""

    def __init__(self, identifier: str) -> None:
        super().__init__(
            f"device {identifier!r} is not registered at the centre: register it "
            "(vigie.cases devices) before it may send"
        )
        self.identifier = identifier


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    id: str
    kind: str
    case_ref: str | None  # the placement it is assigned to now, if any


class Registry:
    """Registered devices read from the store, cached for `ttl_s` seconds."""

    def __init__(self, database: Database, ttl_s: float = 5.0) -> None:
        self._db = database
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, RegisteredDevice | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, identifier: str) -> RegisteredDevice:
        """The registered device, or `UnknownDevice` (logged)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(identifier)
        if cached is None or now - cached[0] > self._ttl_s:
            cached = (now, self._read(identifier))
            with self._lock:
                self._cache[identifier] = cached
        device = cached[1]
        if device is None:
            logger.warning("refused unknown device %r", identifier)
            raise UnknownDevice(identifier)
        return device

    def _read(self, identifier: str) -> RegisteredDevice | None:
        with self._db.session() as session:
            device = session.get(Device, identifier)
            if device is None:
                return None
            case_ref = session.scalar(
                select(Placement.case_ref)
                .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
                .where(DeviceAssignment.device_id == identifier, DeviceAssignment.until.is_(None))
            )
            return RegisteredDevice(device.id, device.kind, case_ref)
