"""Group commit: the writes that wait at the same moment, in one transaction on one thread.

On SQLite a commit writes every page it dirtied, whole, whatever it holds: an ingest commit of
100 readings wrote about 15 pages (`bench/write_breakdown.py`), so what costs is the number of
commits, not the readings. Writes handed here within `window_s` of the first of a group are
committed together, each still answered with its own result; the window is what a write may
wait for company, and bounds what group commit adds to its latency.

A group that fails is not a failure of its members: a failover is retried whole (every write
here must be idempotent, see `vigie.store.failover`), anything else is retried one write at a
time, so that one unstorable write cannot refuse the others.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from vigie.store.database import Database
from vigie.store.failover import DatabaseUnavailable, retrying

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Write:
    work: Callable[[Session], Any]
    size: int
    arrived: float
    done: Future[Any] = field(default_factory=Future)


class GroupCommit:
    """Groups on one writer thread (each write alone on its caller's without a window);
    `submit` hands it a write, `close` stops it after what is queued."""

    def __init__(
        self,
        database: Database,
        window_s: float | None = 0.0,
        max_size: int = 20_000,
        retry_s: float = 30.0,
        name: str = "group commit",
        after: Callable[[], None] | None = None,
    ) -> None:
        """`window_s`: how long the first write of a group waits for others (0: only those
        already queued join it; None: no groups, each write in its own transaction on its
        caller's thread). `max_size`: a group closes once its writes' sizes reach it. `after`:
        called once a group is answered."""
        self._db = database
        self._window_s = window_s
        self._max_size = max_size
        self._retry_s = retry_s
        self._name = name
        self._after = after
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._closed = False
        self._closing = threading.Lock()
        self._thread: threading.Thread | None = None
        if window_s is not None:
            self._thread = threading.Thread(target=self._run, name=f"vigie-{name}", daemon=True)
            self._thread.start()

    def submit(self, work: Callable[[Session], T], size: int = 1) -> Future[T]:
        """`work(session)` in the group's transaction; its future holds what it returned once the
        group committed, or what it raised (or `DatabaseUnavailable`)."""
        write = _Write(work, size, time.monotonic())
        with self._closing:  # never behind the end of the queue, where none would answer it
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            if self._thread is not None:
                self._queue.put(write)
                return write.done
        self._answer([write])
        self._called_after()
        return write.done

    def close(self) -> None:
        """Stop after the writes already handed in are answered."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, closing = self._gather(first)
            try:
                self._answer(group)
            except BaseException as exc:  # never a waiter left unanswered, nor the writer dead
                logger.exception("%s: a group could not be answered", self._name)
                for write in group:
                    with contextlib.suppress(InvalidStateError):
                        write.done.set_exception(exc)
            self._called_after()
            if closing:
                return

    def _called_after(self) -> None:
        if self._after is not None:
            try:
                self._after()
            except Exception:
                logger.exception("%s: the call after a group failed", self._name)

    def _gather(self, first: _Write) -> tuple[list[_Write], bool]:
        """The first write and those that arrive within its window (those queued meanwhile, if
        the window has passed), up to `max_size`; and whether `close` came among them."""
        group = [first]
        size = first.size
        deadline = first.arrived + (self._window_s or 0.0)
        while size < self._max_size:
            left = deadline - time.monotonic()
            try:
                write = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if write is None:
                return group, True
            group.append(write)
            size += write.size
        return group, False

    def _answer(self, group: list[_Write]) -> None:
        size = sum(write.size for write in group)
        try:
            results: list[Any | BaseException] = retrying(
                lambda: self._commit(group), self._retry_s, f"{self._name} of {size}"
            )
        except DatabaseUnavailable as exc:
            # Retried through a failover until the budget ran out: none is acknowledged.
            results = [exc] * len(group)
        except Exception as exc:
            if len(group) == 1:
                logger.error("%s of %d failed: %s", self._name, size, exc)
                results = [exc]
            else:
                logger.error("%s of %d failed (%s); retrying one by one", self._name, size, exc)
                results = [self._alone(write) for write in group]
        for write, result in zip(group, results, strict=True):
            # A waiter that gave up (a device's connection dropped) was still written.
            with contextlib.suppress(InvalidStateError):
                if isinstance(result, BaseException):
                    write.done.set_exception(result)
                else:
                    write.done.set_result(result)

    def _alone(self, write: _Write) -> Any | BaseException:
        try:
            return retrying(
                lambda: self._commit([write])[0], self._retry_s, f"{self._name} of {write.size}"
            )
        except Exception as exc:
            logger.error("%s of %d failed: %s", self._name, write.size, exc)
            return exc

    def _commit(self, group: list[_Write]) -> list[Any]:
        with self._db.session() as session:
            return [write.work(session) for write in group]
