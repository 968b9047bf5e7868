"""The alarm bell: wakes every live queue the moment detection changes alarms.

Without it a console learns of a new alarm at its next poll of the store (up to a second);
with it, as soon as the pipeline's step has committed. The stream still polls, as a fallback,
for changes made elsewhere (another process, an operator's action).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class AlarmBell:
    """A broadcast that any thread may ring and any number of coroutines may wait on.

    A ring is never missed: waiters say which ring they last saw (`generation`), and a wait
    returns at once if a ring came since.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self) -> None:
        """Wake every waiter; callable from any thread."""
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # its loop closed: nobody left to wake
                loop.call_soon_threadsafe(event.set)

    async def wait(self, seen: int, timeout: float) -> bool:
        """Until a ring after generation `seen`, or `timeout` seconds; True if it rang."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._generation != seen:
                return True
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)
