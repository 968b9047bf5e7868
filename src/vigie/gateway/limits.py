"""What the gateway tolerates: connections, idle time, frame and body sizes, per-device rates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.observation import TimeBounds


@dataclass(frozen=True)
class Limits:
    """The gateway's limits; every one is a knob of `vigie gateway serve`."""

    max_connections: int = 5000
    idle_timeout_s: float = 300.0  # trackers keep the link open and report every few minutes
    frame_timeout_s: float = 10.0  # a frame (or an HTTP request) must arrive whole within this
    max_body_bytes: int = 64 * 1024
    rate_per_s: float = 50.0  # readings per device per second, sustained
    burst: float = 2000.0  # a tracker back in coverage empties hours of buffer at once
    # A reading's time against its receipt (the centre's VIGIE_MAX_CLOCK_SKEW_S and horizon).
    bounds: TimeBounds = field(default_factory=TimeBounds)
    local_zone: str = "Europe/Paris"  # OsmAnd apps may send wall-clock times without a zone
    # How long a group commit is retried through a database failover before the devices waiting
    # on it go unacknowledged (they keep their readings and resend): VIGIE_DB_RETRY_S.
    db_retry_s: float = 30.0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.local_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"local_zone {self.local_zone!r} is not a known time zone") from exc


class RateExceeded(RuntimeError):
    """A device sent more than its rate allows."""


@dataclass
class RateLimiter:
    """A token bucket per device: `rate_per_s` tokens a second, up to `burst` saved."""

    rate_per_s: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, device: str, count: int, now: float | None = None) -> None:
        """Spend `count` tokens of `device`, or raise `RateExceeded` (and spend none)."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(device, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
        if count > tokens:
            self._buckets[device] = (tokens, now)
            raise RateExceeded(
                f"device {device!r} sent {count} readings with {tokens:.0f} allowed now "
                f"({self.rate_per_s:g}/s, bursts of {self.burst:g})"
            )
        self._buckets[device] = (tokens - count, now)


@dataclass
class ConnectionSlots:
    """Counts open connections against the limit, so one flood cannot starve the rest."""

    limit: int
    open: int = 0

    def acquire(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1
