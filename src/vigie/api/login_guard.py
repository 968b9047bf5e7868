"""Login throttling: failed attempts counted per username and per client address, and the
password checks bounded, so that guessing is slow and costs the rest of the centre nothing.

An attempt is admitted or refused *before* any password is hashed: refusing costs a dictionary
look-up, while an argon2 check costs tens of milliseconds of a core and 64 MiB. An admitted
attempt counts against both limits while it runs (so a burst of concurrent guesses cannot all
slip in before the first one fails), and checks run on a few threads of their own, never on the
event loop nor on the pool the other endpoints share; beyond a short queue, logins are refused
at once. Counts live in the API process (one per centre) and time is the centre's clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
import anyio.to_thread

from vigie import clock
from vigie.settings import Settings

T = TypeVar("T")
_SWEEP_ABOVE = 10_000  # keys kept before every stale one is dropped


class Throttled(Exception):
    """Too many failures (or logins waiting): retry after `retry_after_s` seconds."""

    def __init__(self, reason: str, retry_after_s: int, announce: bool) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        # True for the first refusal of a lockout: the one worth an audit entry.
        self.announce = announce


@dataclass
class _Count:
    failures: deque[datetime] = field(default_factory=deque)
    running: int = 0
    announced_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, ...]


class LoginGuard:
    """The throttle of one API process; used from its event loop only (no lock needed)."""

    def __init__(self, config: Settings) -> None:
        self._window = timedelta(seconds=config.login_window_s)
        self._limits = {
            "user": config.login_max_failures_per_user,
            "client": config.login_max_failures_per_client,
        }
        self._counts: dict[str, _Count] = {}
        self._limiter = anyio.CapacityLimiter(config.login_concurrency)
        self._max_waiting = config.login_max_waiting
        self._waiting = 0

    def admit(self, username: str, client: str) -> Attempt:
        """Count an attempt in, or raise Throttled naming when to retry."""
        now = clock.now()
        if len(self._counts) > _SWEEP_ABOVE:
            self._sweep(now)
        keys = (f"user:{username.casefold()}", f"client:{client}")
        for key in keys:
            count = self._fresh(key, now)
            if len(count.failures) + count.running >= self._limits[key.split(":")[0]]:
                first = count.failures[0] if count.failures else now
                retry = max(1, math.ceil((first + self._window - now).total_seconds()))
                announce = count.announced_at is None or now - count.announced_at >= self._window
                if announce:
                    count.announced_at = now
                what = "this username" if key.startswith("user:") else "this address"
                raise Throttled(f"too many failed logins for {what}", retry, announce)
        for key in keys:
            self._counts[key].running += 1
        return Attempt(keys)

    def failed(self, attempt: Attempt) -> None:
        now = clock.now()
        for key in attempt.keys:
            count = self._counts.setdefault(key, _Count())
            count.running = max(0, count.running - 1)
            count.failures.append(now)

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: the username's failures are forgotten (not the address's)."""
        for key in attempt.keys:
            count = self._counts.get(key)
            if count is None:
                continue
            count.running = max(0, count.running - 1)
            if key.startswith("user:"):
                count.failures.clear()
                count.announced_at = None

    def abandoned(self, attempt: Attempt) -> None:
        """No password was checked (the queue was full): the attempt counts for nothing."""
        for key in attempt.keys:
            count = self._counts.get(key)
            if count is not None:
                count.running = max(0, count.running - 1)

    async def check(self, verify: Callable[[], T]) -> T:
        """Run a password check on the guard's own threads; Throttled if too many wait."""
        if self._waiting >= self._max_waiting + self._limiter.total_tokens:
            raise Throttled("too many logins at once", 1, announce=False)
        self._waiting += 1
        try:
            return await anyio.to_thread.run_sync(verify, limiter=self._limiter)
        finally:
            self._waiting -= 1

    def _fresh(self, key: str, now: datetime) -> _Count:
        count = self._counts.setdefault(key, _Count())
        while count.failures and count.failures[0] <= now - self._window:
            count.failures.popleft()
        return count

    def _sweep(self, now: datetime) -> None:
        for key in list(self._counts):
            count = self._fresh(key, now)
            if not count.failures and not count.running:
                del self._counts[key]
