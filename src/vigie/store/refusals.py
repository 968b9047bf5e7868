"""Refusals audited without letting their flood fill the audit log: at most one entry a minute
per source (a device on a protocol, a user on a route), counting the refusals held back since
(`refused_since_last_entry`). Every refusal is logged; every one is counted in the chain."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from vigie.store import Database, audit

logger = logging.getLogger(__name__)
EVERY_S = 60.0


class AuditedRefusals:
    """One audit entry per key every `every_s` seconds (monotonic: a clock set back or ahead
    neither floods nor silences it), with the count of those held back since the last one."""

    def __init__(
        self,
        database: Database,
        every_s: float = EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._every_s = every_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: dict[Hashable, tuple[float, int]] = {}

    def record(
        self, key: Hashable, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> bool:
        """Audit this refusal unless its key had an entry within `every_s`; then it is counted
        in the next one. True if an entry was written. The database away (a failover), the
        refusal stands, logged; the next one tries again, counting this one."""
        now = self._monotonic()
        with self._lock:
            last, held = self._last.get(key, (now - self._every_s, 0))
            if now - last < self._every_s:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        try:
            with self._db.session() as session:
                audit.record(
                    session, actor, action, target, {**detail, "refused_since_last_entry": held}
                )
        except Exception:
            logger.exception("%s on %s: the refusal could not be audited", action, target)
            with self._lock:
                self._last[key] = (now - self._every_s, held + 1)
            return False
        return True
