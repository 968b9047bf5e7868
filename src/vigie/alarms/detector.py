"""Detection in a process of its own, beside the API's process.

In one process, the API's ingest and reads and the pipeline's steps share one interpreter lock,
so at a few thousand observations a second each waits for the other and an alarm's latency
doubles. Here the pipeline (`Pipeline.serve`, the very loop the in-process mode runs) has its
own process and core: the API wakes it by a byte down a pipe after each ingest (no lock shared
with a process that may be killed), and it reports its health, and whether alarms changed, after
each step.

The API process supervises it: a detector that dies is started again, resuming exactly from the
stored snapshot; one whose parent dies is killed with it (Linux), never left running alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection

from vigie import clock
from vigie.alarms.pipeline import Pipeline, PipelineHealth
from vigie.settings import Settings
from vigie.store import open_database

logger = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
STOP_WAIT_S = 30.0  # a step under way is let finish; one stuck longer is ended
# A detector that ran this long is started again at once (its restart is blindness); one that
# died sooner waits a tick first, so that a detector failing as it starts does not spin.
RESTART_AT_ONCE_AFTER_S = 10.0
_CONTEXT = multiprocessing.get_context("spawn")  # never fork a process that runs threads


class DetectorProcess:
    """The API side of the detection process: starts it, wakes it, follows it, restarts it."""

    def __init__(self, config: Settings, on_change: Callable[[], None] | None = None) -> None:
        self._config = config
        self._on_change = on_change
        self._stopping = threading.Event()
        self._bell: Connection | None = None  # the writing end of the current detector's bell
        self._bell_lock = threading.Lock()  # ingest threads ring while `run` replaces it
        self._health = PipelineHealth(warm=False, cursor=0, last_step_at=None, last_error=None)
        self.pid: int | None = None

    @property
    def health(self) -> PipelineHealth:
        return self._health

    def wake(self) -> None:
        """Ask for a step now (new observations); callable from any thread, never blocking."""
        with self._bell_lock:
            if self._bell is None:
                return  # between two detectors: the next one steps as soon as it starts
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                # Full: it has rings enough waiting. Broken: it died, `run` is restarting it.
                os.write(self._bell.fileno(), b"!")

    def stop(self) -> None:
        """Ask the detector to finish its step and exit (its bell closed); `run` then returns."""
        self._stopping.set()
        self._close_bell()

    async def run(self) -> None:
        """Keep one detector running until `stop`: a detector that ends is started again.

        Once a detector runs warm, the next one is spawned beside it and left waiting, its
        modules imported: a restart then starts with the restore, not with a new interpreter
        importing the centre (a second or more of the restart gap at France's size).
        """
        standby: _Child | None = None
        try:
            while not self._stopping.is_set():
                child = standby if standby is not None and standby.alive() else _Child(self)
                standby = None
                child.go()
                started = time.monotonic()
                os.set_blocking(child.bell.fileno(), False)
                with self._bell_lock:
                    self._bell = child.bell
                if self._stopping.is_set():  # stopped while it was starting
                    self._close_bell()
                self.pid = child.process.pid
                follow = asyncio.ensure_future(asyncio.to_thread(self._follow, child.reports))
                try:
                    while not follow.done() and not self._health.warm:
                        await asyncio.sleep(0.05)
                    if not follow.done() and not self._stopping.is_set():
                        standby = _Child(self)  # from the event loop's thread, as every child
                    await follow
                finally:
                    child.reports.close()
                    self._close_bell()
                    await asyncio.to_thread(child.process.join, STOP_WAIT_S)
                    if child.process.is_alive():  # stuck: its transaction rolls back
                        logger.error("the detection process did not stop: killing it")
                        child.process.kill()  # it ignores SIGTERM (see `_detect`)
                        await asyncio.to_thread(child.process.join)
                if not self._stopping.is_set():
                    code = child.process.exitcode
                    logger.error("the detection process ended (exit code %s): restarting it", code)
                    self._health = replace(
                        self._health,
                        warm=False,
                        last_error=f"detection process exited ({code})",
                        failing_since=self._health.failing_since or clock.now(),
                    )
                    if time.monotonic() - started < RESTART_AT_ONCE_AFTER_S:
                        await asyncio.to_thread(self._stopping.wait, self._config.tick_s)
        finally:
            if standby is not None:
                await asyncio.to_thread(standby.dismiss)

    def _close_bell(self) -> None:
        with self._bell_lock:
            if self._bell is not None:
                self._bell.close()  # the detector reads the end of its bell as "stop"
                self._bell = None

    def _follow(self, reports: Connection) -> None:
        """Take the detector's reports until it exits."""
        while True:
            try:
                health, changed = reports.recv()
            except EOFError:
                return
            self._health = health
            if changed and self._on_change is not None:
                self._on_change()


class _Child:
    """One detection process and the API process's ends of its pipes. Spawned, it imports the
    centre and waits for `go` (a standby); the end of that pipe tells it to exit unused."""

    def __init__(self, owner: DetectorProcess) -> None:
        bell_in, self.bell = _CONTEXT.Pipe(duplex=False)
        self.reports, reports_out = _CONTEXT.Pipe(duplex=False)
        go_in, self._go = _CONTEXT.Pipe(duplex=False)
        self.process = _CONTEXT.Process(
            target=_detect,
            args=(owner._config, bell_in, reports_out, os.getpid(), go_in),
            name="vigie-detector",
            daemon=True,
        )
        # From the event loop's thread, which lives as long as the server (a child is killed
        # with the thread that started it).
        self.process.start()
        for end in (bell_in, reports_out, go_in):
            end.close()  # the child's ends: their copies here would hide its exit

    def alive(self) -> bool:
        return self.process.is_alive()

    def go(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):  # died waiting: it reports EOF
            self._go.send_bytes(b"go")
        self._go.close()

    def dismiss(self) -> None:
        """A standby no longer needed: it exits (its go pipe ends), and is waited for."""
        self._go.close()
        self.bell.close()
        self.reports.close()
        self.process.join(STOP_WAIT_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


class PipeDoorbell:
    """The detector's end of its bell: a byte means "step now"; the end of the pipe means
    "stop" (the API process closed it, or died)."""

    def __init__(self, bell: Connection) -> None:
        self._fd = bell.fileno()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, timeout: float) -> bool:
        return self._closed or self._read(timeout) or self._closed

    def pause(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._closed and (left := deadline - time.monotonic()) > 0:
            self._read(left)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return False
        rings = os.read(self._fd, 4096)  # every ring so far: one step answers them all
        self._closed = not rings
        return bool(rings)


def _detect(
    config: Settings, bell: Connection, reports: Connection, parent: int, go: Connection
) -> None:
    """The detection process: the pipeline's loop, reporting each step to the API process,
    from when it is told to go (until then a standby, its modules imported)."""
    _die_with_parent()
    if os.getppid() != parent:  # it died before we asked to die with it
        return
    try:
        go.recv_bytes()
    except EOFError:  # dismissed (or the API process is gone)
        return
    finally:
        go.close()
    # Ctrl-C reaches the whole process group, and so does a service's stop (systemd signals
    # every process of the unit): the API process decides when detection stops, by closing the
    # bell once its step is done. Killed by the signal, the detector was restarted by an API
    # process on its way out, its step cut short ("exit code -15: restarting it"). It still
    # dies with the API process, whatever kills that (`_die_with_parent`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    database = open_database(config.database_url)
    pipeline = Pipeline(database, config)

    def report(health: PipelineHealth, changed: bool) -> None:
        with contextlib.suppress(BrokenPipeError):  # the API process is gone; we are next
            reports.send((health, changed))

    try:
        pipeline.serve(PipeDoorbell(bell), report)
    finally:
        reports.close()
        database.dispose()


def _die_with_parent() -> None:
    """Linux: be killed when the API process dies, even by kill -9 (no orphan detector)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
