"""The live pipeline: stored observations -> detection engine -> alarm episodes, resumable exactly.

One step gives the engine the placements changed since it last looked (by the placements'
change watermark), reads the observations stored after its cursor, runs them (and a tick at the
pipeline's clock) through `vigie.detect.Engine`, then, in one transaction, folds the events into
alarm episodes, escalates overdue alarms, and journals the step (`vigie.alarms.journal`): what
it consumed, its clock, its placement changes. Every `checkpoint_s` that transaction also saves
the engine's checkpoint. A crash at any point leaves the store either before or after the
whole step (the reading writes nothing), so a restart (the checkpoint restored, the journaled
steps after it re-run) resumes exactly: no observation skipped, no event doubled. `serve` runs
steps continuously, in a thread of the API process or in a process of its own
(`vigie.alarms.detector`).

No stored row can stop or blind a step: each is judged by the one model of an observation
(`vigie.observation`) first, and one it refuses is quarantined (kept, marked, never run), with
a `clock_fault` alarm when its device's clock is at fault; the engine's clock thus never runs
past now plus the allowed skew.

The step itself is a `PartitionStep` (detect, fold, escalate, save) over an
`ObservationSource` (`vigie.alarms.sources`: embedded, the table after the cursor; cluster, a
batch of the partition's stream archived in the step) and a `StateRow`
(`vigie.store.engine_state`: embedded, partition 0 unfenced; cluster, a claimed partition whose
steps are fenced by its term). `Pipeline` is the embedded one, run continuously.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vigie import clock as centre_clock
from vigie.alarms import episodes, journal, ongoing, reporting, unmonitored, workflow
from vigie.alarms.sole_detector import DetectorLock
from vigie.alarms.sources import ObservationSource, TableSource, Taken
from vigie.cases.detection import placement_record
from vigie.detect import OBSERVATION_FIELDS, AlarmEvent, Engine, ScenarioError
from vigie.detect.engine.alignment import HISTORY_MS
from vigie.detect.zones import blob_is_current, seed_shapes, shape_blob
from vigie.observation import Refused, is_finite_fix, parse
from vigie.observation import iso_ms as iso
from vigie.settings import Settings
from vigie.store import Database, audit, engine_state, quarantine
from vigie.store import observations as log
from vigie.store.engine_state import Claimed, StateRow
from vigie.store.failover import DatabaseUnavailable
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, Placement

logger = logging.getLogger(__name__)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def engine_record(observation: Any) -> dict[str, Any]:
    """The replay-format `obs` record the engine reads (the stored payload minus extras)."""
    record: dict[str, Any] = {
        "kind": "obs",
        "device": observation.device,
        "t": iso(observation.at),
        "type": observation.type,
    }
    for name in OBSERVATION_FIELDS.get(observation.type, ()):
        record[name] = observation.payload[name]
    return record


def detect(
    engine: Engine, rows: list[Any], now: datetime, *, tick: bool = True
) -> list[AlarmEvent]:
    """Run stored observations and a tick through the engine, GPS fixes on its columnar path.

    Rows are taken in event-time order and cut into runs of one kind: a run of fixes goes through
    `process_positions` (vectorized; the engine guarantees the same events as its record path),
    a run of other observations through `process`, so no fix is handed over after a later
    observation and taken for late. The tick comes last (`tick` False: none, a part of a step).
    Events come back in the contract's order (t, case, kind).
    """
    events: list[AlarmEvent] = []
    ordered = sorted(rows, key=lambda r: r.at)
    for is_fix, run in groupby(ordered, key=lambda r: r.type == "position"):
        batch = list(run)
        if is_fix:
            events += _process_fixes(engine, batch)
        else:
            events += engine.process([engine_record(r) for r in batch])
    if tick:
        events += engine.process([{"kind": "tick", "t": iso(now)}])
    return sorted(events, key=lambda e: (e.t, e.case, e.kind))


def _process_fixes(engine: Engine, fixes: list[Any]) -> list[AlarmEvent]:
    n = len(fixes)
    return engine.process_positions(
        np.fromiter((engine.device_index(r.device) for r in fixes), np.int32, n),
        # Whole milliseconds by integer arithmetic, as the engine reads an ISO time: a float
        # product can land one millisecond off.
        np.fromiter((epoch_ms(r.at) for r in fixes), np.int64, n),
        np.fromiter((r.lat for r in fixes), np.float64, n),
        np.fromiter((r.lon for r in fixes), np.float64, n),
        np.fromiter((r.accuracy_m for r in fixes), np.float64, n),
    )


@contextlib.contextmanager
def _gc_paused(paused: bool) -> Iterator[None]:
    """No cyclic garbage collection while restoring: decoding and compiling 16,000 placements
    makes millions of objects, and the collections they set off took most of a restore's time
    (JSON decoding of the placements: 5.7 s with them, 0.8 s without)."""
    if not paused or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def epoch_ms(t: datetime) -> int:
    """Milliseconds since the Unix epoch, truncated (as the engine reads an ISO-8601 time)."""
    return (t.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


class Doorbell(Protocol):
    """How a running pipeline is woken and stopped. In a thread: events of this process
    (`ThreadDoorbell`); in a process of its own: a pipe from the API process, which a killed
    process cannot leave locked as it could a `multiprocessing` lock (`vigie.alarms.detector`)."""

    @property
    def closed(self) -> bool:
        """Stop: no more steps."""
        ...

    def wait(self, timeout: float) -> bool:
        """Until rung or closed, at most `timeout`; True if so. A ring is used up by the wait
        it ends."""

    def pause(self, timeout: float) -> None:
        """Until closed, at most `timeout`, rung or not (after a failed step)."""


class ThreadDoorbell:
    """The doorbell of a pipeline running in a thread of the API process."""

    def __init__(self) -> None:
        self._rung = threading.Event()
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def ring(self) -> None:
        self._rung.set()

    def close(self) -> None:
        self._closed.set()
        self._rung.set()

    def wait(self, timeout: float) -> bool:
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung

    def pause(self, timeout: float) -> None:
        self._closed.wait(timeout)


@dataclass(frozen=True)
class PipelineHealth:
    """Whether detection is running: the engine loaded, its cursor, its last step and error,
    since when steps have failed without a success between, and the observations quarantined.
    A detector standing by (`sole_detector`) tells the cursor and last step of the one that
    holds the store's detection, as their committed steps say."""

    warm: bool
    cursor: int
    last_step_at: datetime | None
    last_error: str | None
    failing_since: datetime | None = None
    quarantined: int = 0
    standby: bool = False


# Placements loaded this many at a time: a cold start loads every case, each with its zones and
# assignments as ORM objects until its record is made; loaded at once, all of them were held.
LOAD_CHUNK = 5_000
# Placements the engine cannot watch logged one by one, this many a step; the rest counted in one
# line. Each is recorded for the operators anyway (`unmonitored`): a rule change refusing 70,000
# placements wrote 70,000 ERROR lines, and a traceback each where detection failed on them.
FAULT_LINES = 20

CLOCK_FAULT = "clock_fault"
# The field a quarantined observation names when detection itself failed on it (`_isolate`).
ENGINE_FAULT = "detection"
# A new base of the stored history once the fixes stored after the last outgrow it (and this):
# a restore then replays at most about twice the history. And once the base is as old as the
# history's horizon: the rows then hold no fix the engine could not hold itself (hers too).
HISTORY_REBASE_MIN = 20_000
HISTORY_REBASE_S = HISTORY_MS / 1000


@dataclass(frozen=True)
class Refusal:
    """A stored observation detection will not run: its row and why."""

    row: Any
    refused: Refused


Report = Callable[[PipelineHealth, bool], None]


@dataclass(frozen=True)
class Replayed:
    """The journaled steps the last restore re-ran, and how many gave other events than they
    had (none, unless the engine is not deterministic: each is logged as an error)."""

    steps: int
    mismatched: int


@dataclass(frozen=True)
class StepResult:
    observations: int
    events: int
    opened: list[int]
    cursor: int
    escalated: int = 0  # escalated, or released (a holder gone): `workflow.escalate_overdue`
    quarantined: int = 0


class PartitionStep:
    """Detection of one partition, one step at a time: detect, fold, escalate and save in one
    transaction, fenced by the partition's term when its `StateRow` has one.

    Embedded, the one partition (0) covers every case; a partition's worker (cluster mode)
    makes one per owned partition with `StateRow(p)`, calls `claim()` once it won the lease,
    then `step(BatchSource(...))` per batch. A step that raises `Fenced` committed nothing:
    a newer owner has the partition, drop it. Any other error drops the engine in memory; the
    next step restores it from the store.
    """

    def __init__(
        self,
        database: Database,
        config: Settings,
        clock: Callable[[], datetime] = centre_clock.now,
        batch: int = 50_000,
        on_change: Callable[[], None] | None = None,
        *,
        state: StateRow | None = None,
        source: ObservationSource | None = None,
    ) -> None:
        self._state = state or StateRow()
        self._source: ObservationSource = source or TableSource()
        self._db = database
        self._config = config
        self._clock = clock
        self._batch = batch
        self._on_change = on_change  # told when a step changed alarms (after its commit)
        self._engine: Engine | None = None
        self._cursor = 0
        self._revisions: dict[str, int] = {}
        self._mark = 0  # the placements' change watermark the engine has seen
        self._step = 0  # the last journaled step the engine has run
        self._changes: list[journal.Change] = []  # applied in this step, for its journal row
        self._fault_lines = 0  # placements refused in this step (`FAULT_LINES`)
        self._unsaved: set[str] = set()  # cases changed since the last checkpoint
        self._shapes_saved: set[bytes] = set()  # stored with their sectors: never again
        self._shapes_stale = False  # some stored without them (an older version): store again
        self._new_shapes: list[tuple[bytes, bytes]] = []
        # The history the checkpoint leaves out (journal.HistoryPart): a new base after a
        # restore and once the additions stored since the last outgrow it.
        self._history_base_due = True
        self._history_base = 0  # fixes in the stored base
        self._history_added = 0  # fixes stored after it
        self._history_based = float("-inf")  # monotonic time the base was stored
        self._history_part: journal.HistoryPart | None = None
        self._checkpoint_due = True
        self._checkpoint_next = False  # checkpoint at the step after this one (restored)
        self._checkpointed = float("-inf")  # monotonic time of the last checkpoint
        self.replayed = Replayed(0, 0)
        self._clock_faults: set[str] = set()  # devices whose clock_fault alarm is raised
        self._unwatched = unmonitored.Unwatched(
            config.unmonitored_after_s, config.unmonitored_remind_s
        )
        self._retry: set[str] = set()  # unwatched cases to offer the engine again (restored)
        self._quarantined = 0
        self._poisoned = False  # the restored engine's clock was dragged ahead (before issue 11)
        self._health = PipelineHealth(warm=False, cursor=0, last_step_at=None, last_error=None)
        self._rates_checked = float("-inf")  # monotonic time of the last reporting-rate check
        # The devices held uncertain as the last committed step marked them (None: unknown,
        # after a restore or a failed step): only this step's engine marks its own devices.
        self._noted: frozenset[str] | None = None
        # When the last committed step looked for alarms to escalate (the step clock).
        self._escalation_checked: datetime | None = None

    @property
    def health(self) -> PipelineHealth:
        """How the pipeline stands, for the health endpoint (no personal data)."""
        return self._health

    @property
    def partition(self) -> int:
        return self._state.partition

    def claim(self) -> Claimed:
        """Take the partition over (its term + 1, committed): the engine is restored from what
        the last owner committed at the next step, and that owner's steps fail `Fenced`."""
        with self._db.session() as session:
            claimed = self._state.claim(session)
        self._engine, self._noted = None, None
        return claimed

    # --------------------------------------------------------------- one step

    def step(self, source: ObservationSource | None = None) -> StepResult:
        """Consume what is new and commit it; on any error the in-memory engine is dropped.

        Over stored readings (`TableSource`) the commit does not wait for the disk: the next
        durable commit (an ingest's) makes it durable, and a step a crash lost is found missing
        from the journal (`StoreWentBack`) by a detector that outlived it, then run again.

        Embedded, reading and detecting need no write lock (WAL readers see the last commit, and
        only the pipeline moves the cursor), so the writer is held only to fold the events and
        save the snapshot with the cursor: ingest never waits for detection. A source that
        archives its rows (a stream batch) does it, and detection, inside the transaction.
        """
        now = self._clock()
        source = source or self._source
        scoped = self._state.fenced
        self._fault_lines = 0
        restoring = self._engine is None
        # A warm engine fed by an archiving source reads nothing before its transaction (a
        # restore, which may find the engine's clock dragged ahead and recover, always does).
        before = restoring or not source.archives
        faults: list[unmonitored.Fault] = []
        refused: list[Refusal] = []
        taken: Taken | None = None
        escalation_checked = self._escalation_checked
        try:
            if before:
                with _gc_paused(restoring), self._db.reading() as session:
                    self._load(session, now)
                    self._changes = []
                    faults = self._sync_placements(session)
                    taken = source.read(session, self._cursor, self._batch)
                    if self._poisoned and not scoped:
                        refused = self._recover(session, now)
            if restoring and self._config.gc_freeze:
                gc.freeze()  # the engine lives as long as the process: out of full collections
            if taken is not None:
                found, events = self._detect(taken, refused, now)
                snapshot = self._snapshot()
            # Over stored readings a step writes only what a rerun makes again: its commit
            # need not wait for the disk. A source that archives its rows stores them here.
            with self._db.session(durable=source.archives) as session:
                state = self._state.fence(session)
                stored = journal.last_step(session, self._state.partition)
                if stored != self._step:
                    raise journal.StoreWentBack(self._state.partition, self._step, stored)
                if not before:  # once the row is fenced: the placements changed meanwhile
                    self._changes = []
                    faults = self._sync_placements(session)
                if taken is None:
                    taken = source.write(session, self._cursor)
                    found, events = self._detect(taken, refused, now)
                    snapshot = self._snapshot()
                cursor_from, self._cursor = self._cursor, taken.cursor
                state.processed += taken.consumed
                # A placement the engine refused, or took after refusing it, or left unwatched
                # past the grace: the operators hear it (`unmonitored`), with the engine's events.
                if faults or self._changes or self._unwatched.due(now):
                    settled = {
                        case: unmonitored.settled_how(revision, record)
                        for case, revision, record in self._changes
                    }
                    events = events + self._unwatched.step(session, faults, settled, now)
                # What the checkpoint writes is made before the step comes to the locks the
                # whole centre waits on (the alarm-id lock, the audit chain's head): from there,
                # a step that sits idle is ended. A step that cannot take them (no event, no
                # command, no audit, nothing periodic: most) spares the round trip.
                saving = self._checkpoint_parts() if snapshot is not None else None
                engine = self._engine
                assert engine is not None  # loaded before (a restore) or kept from the last step
                fixes = engine.take_fix_requests()
                escalating = self._escalation_due(now)
                if escalating:  # as often: alarms closed while their condition goes on
                    events = events + ongoing.reminders(
                        session,
                        now,
                        self._config.ongoing_remind_s,
                        self._config.escalation_factors,
                        self._state.partition if scoped else None,
                        events,
                    )
                rates_due = (
                    time.monotonic() - self._rates_checked >= self._config.report_rate_check_s
                )
                if (
                    events
                    or faults
                    or refused
                    or fixes
                    or escalating
                    or rates_due
                    or self._poisoned
                ):
                    handled = len(self._changes) + len(events) + len(faults) + len(refused)
                    engine_state.limit_idle(session, handled + len(fixes))
                audit.record_many(
                    session,
                    [
                        (
                            "system",
                            "placement_not_monitored",
                            f"placement:{fault.placement_id}",
                            {"error": str(fault.error), "field": fault.error.field},
                        )
                        for fault in faults
                    ],
                )
                if self._poisoned:
                    audit.record(
                        session,
                        "system",
                        "detection_restarted",
                        f"engine_state:{engine_state.row_id(self._state.partition)}",
                        {"reason": "its clock had been dragged ahead", "quarantined": len(refused)},
                    )
                for refusal in refused:
                    quarantine.add(
                        session,
                        refusal.row.id,
                        refusal.refused.field,
                        refusal.refused.reason,
                        refusal.refused.clock,
                        now,
                    )
                opened = episodes.fold(session, events, now, self._state.partition)
                reporting.ask_fixes(session, fixes, now)
                # A device keeps its flag in the engine when its case lets it go: marked by
                # the partition that watches it only (the one it left would mark it again).
                uncertain = frozenset(
                    d for d in engine.uncertain_devices() if engine.case_of(d) is not None
                )
                if uncertain != self._noted or self._changes:  # or a device moved: look again
                    reporting.note_uncertain(
                        session,
                        sorted(uncertain),
                        now,
                        (lambda device: engine.case_of(device) is not None) if scoped else None,
                    )
                escalated: list[Alarm] = []
                if escalating:
                    escalated = workflow.escalate_overdue(
                        session,
                        now,
                        self._config.escalation_after_s,
                        self._config.escalation_factors,
                        self._state.partition if scoped else None,
                    )
                    escalation_checked = now
                if rates_due:
                    mine = self._state.partition if scoped else None
                    reporting.reconcile(session, self._config, now, partition=mine)
                    self._rates_checked = time.monotonic()
                elif opened:  # at once for the cases whose alarm opened, theirs only
                    reporting.reconcile(session, self._config, now, {a.case_ref for a in opened})
                step = journal.record_step(
                    session,
                    cursor_from,
                    self._cursor,
                    now,
                    self._changes,
                    found,
                    partition=self._state.partition,
                    rows=taken.ids,
                )
                if snapshot is not None and saving is not None:
                    self._save(session, state, snapshot, saving, step, now)
                result = StepResult(
                    len(taken.rows),
                    len(events),
                    [a.id for a in opened],
                    self._cursor,
                    len(escalated),
                    len(refused),
                )
            self._step, self._noted = step, uncertain
            self._escalation_checked = escalation_checked
            if snapshot is not None:
                self._saved()
        except BaseException as exc:
            self._engine, self._noted = None, None  # the store is the truth: restore from it
            self._escalation_checked = None
            self._health = replace(
                self._health,
                warm=False,
                last_error=type(exc).__name__,
                failing_since=self._health.failing_since or now,
            )
            raise
        if self._checkpoint_next:  # the first step after a restore is done: checkpoint now
            self._checkpoint_due, self._checkpoint_next = True, False
        self._poisoned = False
        self._quarantined += len(refused)
        self._health = PipelineHealth(True, self._cursor, now, None, None, self._quarantined)
        return result

    def _escalation_due(self, now: datetime) -> bool:
        """Whether this step looks for alarms to escalate: every `escalation_check_s` of the
        step clock at most (a step a message, hundreds a second, each made the query), at the
        first step and whenever the clock went back."""
        last = self._escalation_checked
        if last is None:
            return True
        return not 0 <= (now - last).total_seconds() < self._config.escalation_check_s

    def _snapshot(self) -> bytes | None:
        """The engine's checkpoint when one is due (every `checkpoint_s`), else None."""
        assert self._engine is not None
        due = not self._checkpoint_next and (
            self._checkpoint_due
            or time.monotonic() - self._checkpointed >= self._config.checkpoint_s
        )
        return self._engine.checkpoint(history=False) if due else None

    def _detect(
        self, taken: Taken, refused: list[Refusal], now: datetime
    ) -> tuple[list[AlarmEvent], list[dict[str, Any]]]:
        """Run the taken rows through the engine (those it must not run added to `refused`):
        the engine's events, and every event as a dict to fold (clock faults included)."""
        assert self._engine is not None
        good, bad = self._screen(taken.rows, now)
        refused += bad
        try:
            found = detect(self._engine, good, now)
        except Exception as exc:  # whatever fault of ours an input sets off
            found = self._isolate(good, now, exc, refused)
        events = [e.to_dict() for e in found]
        for event in events:
            event["t"] = datetime.fromisoformat(event["t"].replace("Z", "+00:00"))
        events += self._clock_events(good, refused)
        return found, events

    # --------------------------------------------------------------- what detection will not run

    def _screen(
        self, rows: list[Any], now: datetime, *, quiet: bool = False
    ) -> tuple[list[Any], list[Refusal]]:
        """Split new rows into those the engine runs and those it must not: the one model of an
        observation (`vigie.observation`), judged against each row's own receipt, so that no
        stored record (from before that model, or from any writer) can stop or blind detection.
        Rows another centre received (an imported case's past) are neither: left out.

        The receipt taken is never later than this step's now: even a row stored with a wrong
        receipt time cannot carry the engine's clock past now plus the allowed skew. A fix is
        checked on its columns (the hot path), anything else on its payload.
        """
        bounds = self._config.time_bounds
        good: list[Any] = []
        bad: list[Refusal] = []
        for row in rows:
            if row.imported_from is not None:
                continue  # another centre's past (`vigie import`): history here, never run
            try:
                bounds.check(row.at, min(row.received_at, now))
                if row.type == "position":
                    if not is_finite_fix(row.lat, row.lon, row.accuracy_m):
                        raise Refused("lat", "not a usable fix (coordinates or accuracy)")
                else:
                    record = row.payload if isinstance(row.payload, dict) else {}
                    parse(record | {"device": row.device, "t": iso(row.at), "type": row.type})
            except Refused as refused:
                if not quiet:  # a re-run step: it was said when the step first ran
                    logger.warning(
                        "observation %d of %s quarantined: %s", row.id, row.device, refused
                    )
                bad.append(Refusal(row, refused))
            else:
                good.append(row)
        return good, bad

    def _isolate(
        self, rows: list[Any], now: datetime, failure: Exception, refused: list[Refusal]
    ) -> list[AlarmEvent]:
        """The engine failed on this step's rows: a fault of ours that some input sets off, and
        that would fail every step after it, every case's detection with it. The rows run again
        one at a time from the state before the step; each one it fails on is quarantined
        (kept, listed for the admin with the fault), from a fresh restore each time, and the
        others run. Where no row runs alone either, the fault is not an input's: the step fails.
        """
        logger.error(
            "detection failed on %d rows (%s: %s): running them one at a time",
            len(rows),
            type(failure).__name__,
            failure,
        )
        changes = list(self._changes)
        self._restore(now, changes)
        found: list[AlarmEvent] = []
        ran: list[Any] = []
        poisoned: list[Refusal] = []
        for row in sorted(rows, key=lambda r: r.at):
            assert self._engine is not None
            try:
                found += detect(self._engine, [row], now, tick=False)
            except Exception as exc:  # the same, row by row
                logger.error(
                    "observation %d of %s quarantined: detection fails on it", row.id, row.device
                )
                reason = f"detection failed on it ({type(exc).__name__}: {exc})"
                poisoned.append(Refusal(row, Refused(ENGINE_FAULT, reason)))
                self._restore(now, changes)  # the engine as before this row
                found = detect(self._engine, ran, now, tick=False)
            else:
                ran.append(row)
        if not ran and len(poisoned) > 1:
            raise failure
        refused += poisoned
        assert self._engine is not None
        found += self._engine.process([{"kind": "tick", "t": iso(now)}])
        return sorted(found, key=lambda e: (e.t, e.case, e.kind))

    def _restore(self, now: datetime, changes: list[tuple[str, int | None, Any]]) -> None:
        """The engine as the last committed step left it, with this step's placement changes."""
        self._engine = None
        with self._db.reading() as session:
            self._load(session, now)
        self._changes = []
        for case_ref, revision, record in changes:
            self._change(case_ref, revision, record)

    def _clock_events(self, good: list[Any], refused: list[Refusal]) -> list[dict[str, Any]]:
        """`clock_fault` raised for a device of a case whose observation's time was refused
        (its clock, not everybody's time, is wrong); cleared by its next observation in time."""
        assert self._engine is not None
        events: list[dict[str, Any]] = []
        marks = [(r.row, True) for r in refused if r.refused.clock] + [
            (row, False) for row in good if row.device in self._clock_faults
        ]
        for row, faulty in sorted(marks, key=lambda mark: mark[0].id):
            case = self._engine.case_of(row.device)
            if case is None or faulty == (row.device in self._clock_faults):
                continue
            detail: dict[str, Any] = {"device_t": iso(row.at), "received_at": iso(row.received_at)}
            if faulty:
                detail["offset_s"] = round((row.at - row.received_at).total_seconds())
                self._clock_faults.add(row.device)
            else:
                self._clock_faults.discard(row.device)
            events.append(
                {
                    "t": row.received_at,
                    "case": case,
                    "kind": CLOCK_FAULT,
                    "state": "raised" if faulty else "cleared",
                    "device": row.device,
                    "detail": detail,
                }
            )
        return events

    def _recover(self, session: Session, now: datetime) -> list[Refusal]:
        """An engine restored with its clock dragged ahead (a far-future observation run before
        detection bounded time) watches nothing any more: it starts again from the placements,
        and what dragged it is quarantined, so the centre heals without deleting anything."""
        limit = now + timedelta(seconds=self._config.max_clock_skew_s)
        rows = quarantine.processed_after(session, self._cursor, limit)
        refusals: list[Refusal] = []
        for row in rows:
            try:
                self._config.time_bounds.check(row.at, min(row.received_at, now))
            except Refused as refused:
                refusals.append(Refusal(row, refused))
        return refusals

    def _load(self, session: Session, now: datetime) -> None:
        """Restore the engine when it is not in memory (start, error): the last checkpoint, then
        the journaled steps after it re-run, each with its own observations and clock."""
        if self._engine is not None:
            return
        saved = journal.load(session, self._state.partition)
        self._unsaved = set()
        self._shapes_saved = set()
        # A restore is saved again with the step after its first (its journal is then re-run
        # once): the first step, the one the centre waits for, is not slowed by a checkpoint.
        # At once for a first start, or a snapshot from before the journal (placements inside).
        at_once = saved is None or saved.legacy
        self._checkpoint_due, self._checkpoint_next = at_once, not at_once
        self._history_base_due = True
        if saved is None:
            self._engine, self._cursor, self._step, self._mark = Engine(), 0, 0, 0
            self._revisions = {}
        else:
            stored = journal.shapes(session)
            seed_shapes(stored)  # no zone's geometry compiled again
            self._shapes_saved = {d for d, b in stored if blob_is_current(b)}
            self._shapes_stale = len(self._shapes_saved) < len(stored)
            self._engine = Engine.restore(
                saved.snapshot, saved.records, journal.history(session, self._state.partition)
            )
            self._cursor, self._step, self._mark = saved.cursor, saved.step, saved.mark
            self._revisions = dict(saved.revisions)
            if saved.legacy:  # saved before the journal: its placements go to their table
                self._unsaved = set(self._revisions)
        self._engine.log_history()
        self._replay(session)
        watermark = self._engine.clock_ms
        limit = epoch_ms(now) + round(self._config.max_clock_skew_s * 1000)
        if watermark is not None and watermark > limit:
            logger.error(
                "the saved engine's clock is %s, ahead of now: starting it again",
                iso(_EPOCH + timedelta(milliseconds=watermark)),
            )
            self._unsaved |= set(self._revisions)
            self._engine, self._revisions, self._mark, self._poisoned = Engine(), {}, 0, True
            self._engine.log_history()
        self._quarantined = quarantine.count(session)
        faults = select(Alarm.device).where(
            Alarm.kind == CLOCK_FAULT, Alarm.status != "closed", Alarm.cleared_at.is_(None)
        )
        if self._state.fenced:
            faults = faults.where(Alarm.partition == self._state.partition)
        self._clock_faults = set(session.scalars(faults))
        self._unwatched.load(session, self._state.partition if self._state.fenced else None)
        # Offered again at the next sync, their revisions unchanged: this engine may watch what
        # the one before refused (a release that knows more, such as the measure `lsc`): those
        # held unwatched, and every case it was given and does not watch (refused before the
        # table kept them, or given no bracelet: their record is read again, nothing more).
        engine = self._engine
        idle = {case for case in self._revisions if engine.placement(case) is None}
        self._retry = self._unwatched.cases() | idle

    def _replay(self, session: Session) -> None:
        """Re-run the journaled steps after the checkpoint: the engine is deterministic given
        the same placements, observations and clocks, so it ends as it was; their events were
        committed with them (the digest says they came out the same)."""
        assert self._engine is not None
        steps = journal.steps_after(session, self._step, self._state.partition)
        mismatched = 0
        for step in steps:
            for case_ref, revision, record in step.placements:
                self._change(case_ref, revision, record)
            if step.rows is not None:  # a stream's cursor: the step names its rows
                rows = log.rows_by_ids(session, [int(i) for i in step.rows])
            else:
                span = max(step.cursor_to - step.cursor_from, 1)
                rows = log.rows_after(session, step.cursor_from, span, step.cursor_to)
            good, _ = self._screen(rows, step.clock, quiet=True)
            isolated = quarantine.among(session, [r.id for r in good], ENGINE_FAULT)
            if isolated:  # the rows detection failed on when the step ran (`_isolate`)
                good = [r for r in good if r.id not in isolated]
            found = detect(self._engine, good, step.clock)
            if journal.digest(found) != step.digest:
                mismatched += 1
                logger.error("journaled step %d re-run with other events than it had", step.id)
            self._cursor, self._step = step.cursor_to, step.id
        self.replayed = Replayed(len(steps), mismatched)
        if steps:
            logger.info("detection restored: %d journaled steps re-run", len(steps))

    def _checkpoint_parts(self) -> dict[str, tuple[int | None, dict[str, Any] | None]]:
        """What a checkpoint writes beside the engine: the placements changed since the last one
        (returned) and the zone set-ups not yet stored (kept for `_saved`). Python work, done
        before the step takes what the centre shares (all 16,000 zones after a restore)."""
        assert self._engine is not None
        placements = {
            ref: (self._revisions.get(ref), self._engine.placement(ref)) for ref in self._unsaved
        }
        self._new_shapes = (
            [
                (sh.digest, shape_blob(sh))
                for sh in self._engine.shapes()
                if sh.digest and sh.digest not in self._shapes_saved
            ]
            if self._unsaved or self._shapes_stale
            else []
        )
        added = self._engine.take_history_log()
        if (
            self._history_base_due
            or self._history_added + len(added) > max(self._history_base, HISTORY_REBASE_MIN)
            or time.monotonic() - self._history_based >= HISTORY_REBASE_S
        ):
            whole = self._engine.history_fixes()
            self._history_part = journal.HistoryPart(True, len(whole), journal.pack_history(whole))
        elif added:
            self._history_part = journal.HistoryPart(False, len(added), journal.pack_history(added))
        else:
            self._history_part = None
        return placements

    def _save(
        self,
        session: Session,
        state: Any,
        snapshot: bytes,
        placements: dict[str, tuple[int | None, dict[str, Any] | None]],
        step: int,
        now: datetime,
    ) -> None:
        """The checkpoint, in the step's transaction: the engine, the placements changed since
        the last one and the zone set-ups not yet stored."""
        journal.checkpoint(
            session,
            state,
            snapshot=snapshot,
            cursor=self._cursor,
            step=step,
            mark=self._mark,
            now=now,
            placements=placements,
            new_shapes=self._new_shapes,
            history=self._history_part,
        )

    def _saved(self) -> None:
        """After a checkpoint's commit."""
        self._unsaved = set()
        self._shapes_saved |= {d for d, _ in self._new_shapes}
        self._shapes_stale = False
        part = self._history_part
        if part is not None and part.base:
            self._history_base, self._history_added = part.fixes, 0
            self._history_base_due, self._history_based = False, time.monotonic()
        elif part is not None:
            self._history_added += part.fixes
        self._checkpointed = time.monotonic()
        self._checkpoint_due = False

    def _sync_placements(self, session: Session) -> list[unmonitored.Fault]:
        """Give the engine the placements changed since the watermark it has seen (by trigger,
        every insert and change of revision or status takes the next value: O(what changed));
        returns the placements it cannot watch, for the write phase to record."""
        assert self._engine is not None
        faults: list[unmonitored.Fault] = []
        query = (
            select(Placement.case_ref, Placement.revision, Placement.status, Placement.changed)
            .where(Placement.changed > self._mark)
            .order_by(Placement.changed)
        )
        if self._state.fenced:  # a partition's worker: its own cases only
            query = query.where(Placement.partition == self._state.partition)
        marked = session.execute(query).all()
        changed: list[str] = []
        for case_ref, revision, status, mark in marked:
            self._mark = max(self._mark, mark)
            if status != "active":
                if case_ref in self._revisions:
                    self._change(case_ref, None, None)
            elif self._revisions.get(case_ref) != revision:
                changed.append(case_ref)
        changed += sorted(self._retry.difference(changed))
        self._retry = set()
        for start in range(0, len(changed), LOAD_CHUNK):
            loading = (
                select(Placement)
                .where(listed_in(session, Placement.case_ref, changed[start : start + LOAD_CHUNK]))
                .options(selectinload(Placement.zones), selectinload(Placement.assignments))
            )
            for placement in session.scalars(loading):
                if placement.status != "active":  # a retried case ended meanwhile: done above
                    continue
                record = placement_record(placement, self._config)
                fault = self._change(placement.case_ref, placement.revision, record)
                if fault is not None and record is not None:
                    faults.append(
                        unmonitored.Fault(
                            placement.id,
                            placement.case_ref,
                            placement.partition,
                            record["wearer"],
                            placement.updated_at,
                            fault,
                            self._engine.placement(placement.case_ref) is not None,
                        )
                    )
        if self._fault_lines > FAULT_LINES:
            logger.error(
                "%d more cases cannot be monitored (%d in all this step; each raises an"
                " `unmonitored` alarm if left so)",
                self._fault_lines - FAULT_LINES,
                self._fault_lines,
            )
        return faults

    def _change(
        self, case_ref: str, revision: int | None, record: dict[str, Any] | None
    ) -> ScenarioError | None:
        """Apply one placement change (revision None: no longer active; record None: not
        watched, e.g. no bracelet yet), and journal it with this step."""
        assert self._engine is not None
        self._changes.append((case_ref, revision, record))
        self._unsaved.add(case_ref)
        fault = None
        if record is None:
            if self._revisions.get(case_ref) is not None:
                # A case without a bracelet was never given to the engine: nothing to drop then.
                with contextlib.suppress(KeyError):
                    self._engine.remove_placement(case_ref)
        else:
            try:
                self._engine.add_placement(record)
            except ScenarioError as exc:
                # A placement the engine cannot watch is an operational fault, recorded for the
                # centre to fix; the others keep being watched.
                self._fault_lines += 1
                if self._fault_lines <= FAULT_LINES:
                    logger.error("case %s cannot be monitored: %s", case_ref, exc)
                fault = exc
            except Exception as exc:  # a fault of ours a record sets off: the same, not fatal
                # Raised out of the step, it failed every step after, each retrying the record:
                # one placement blinded its whole partition.
                self._fault_lines += 1
                if self._fault_lines <= FAULT_LINES:
                    logger.exception(
                        "case %s cannot be monitored: detection failed on it", case_ref
                    )
                # Its type only: the message could quote a value of the record, her places'.
                fault = ScenarioError(f"detection failed on it ({type(exc).__name__})")
        if revision is None:
            self._revisions.pop(case_ref, None)
        else:
            self._revisions[case_ref] = revision
        return fault


class Pipeline(PartitionStep):
    """Runs detection continuously inside the API process (a background task): embedded mode's
    one partition over the observation table, unfenced."""

    def __init__(
        self,
        database: Database,
        config: Settings,
        clock: Callable[[], datetime] = centre_clock.now,
        batch: int = 50_000,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(database, config, clock, batch, on_change)
        self._bell = ThreadDoorbell()

    # --------------------------------------------------------------- running continuously

    def wake(self) -> None:
        """Ask for a step now (new observations); callable from any thread."""
        self._bell.ring()

    def stop(self) -> None:
        """Ask the loop to finish; a step under way completes (never cut mid-transaction)."""
        self._bell.close()

    async def run(self) -> None:
        """`serve` in a worker thread of this process, telling `on_change` of changed alarms."""

        def report(_health: PipelineHealth, changed: bool) -> None:
            if changed and self._on_change is not None:
                self._on_change()

        await asyncio.to_thread(self.serve, self._bell, report)

    def serve(self, bell: Doorbell, report: Report | None = None) -> None:
        """Step at once (loading the engine before the first observations wait for it), then on
        every ring of `bell`, and at least every `tick_s` (the engine's own clock), until the
        bell is closed. Blocking: run in a thread, or in a process of its own.

        `report` hears of every step: the pipeline's health, and whether alarms changed. A ring
        during a step is kept for the next wait, so no observation waits a whole tick.
        """
        lock = DetectorLock(self._db)
        try:
            self._serve(bell, lock, report)
        finally:
            lock.release()

    def _serve(self, bell: Doorbell, lock: DetectorLock, report: Report | None) -> None:
        while not bell.closed:
            changed = False
            try:
                if not lock.hold():
                    self._stand_by()
                    if report is not None:
                        report(self._health, False)
                    bell.pause(self._config.tick_s)  # then tries again: a takeover within a tick
                    continue
                if self._health.standby:
                    logger.warning("detection: the store's lock is this detector's; taking over")
                    self._health = PipelineHealth(False, 0, None, None)
                result = self.step()
                changed = bool(result.events or result.escalated)
            except DatabaseUnavailable as exc:
                # A failover: the step is one transaction, retried whole once a primary answers.
                logger.warning("pipeline step: %s; retrying", exc)
                bell.pause(self._config.tick_s)
            except journal.StoreWentBack as exc:  # at once: the restore re-runs what was lost
                logger.warning("pipeline step: %s; restoring detection from the store", exc)
            except Exception:
                logger.exception("pipeline step failed; retrying from the stored snapshot")
                bell.pause(self._config.tick_s)
            if report is not None:
                report(self._health, changed)
            self._await_work(bell)

    def _stand_by(self) -> None:
        """Another detector holds the store's detection (`sole_detector`): no step here, and
        whatever engine this one held is dropped (a takeover restores from the store). The
        health tells the holder's committed progress, so a holder that stalls is seen blind."""
        if not self._health.standby:
            logger.warning(
                "detection: another detector holds this store's detection lock; this one "
                "stands by and takes over when it stops"
            )
        self._engine, self._noted = None, None
        with self._db.reading() as session:
            at, cursor = journal.progress(session, self._state.partition)
        self._health = PipelineHealth(
            at is not None, cursor, at, None, quarantined=self._quarantined, standby=True
        )

    def _await_work(self, bell: Doorbell) -> None:
        """Until rung, or observations stored by anyone (the gateway's processes write to the
        store directly and ring no bell: they are looked for every `poll_s`), or the tick."""
        due = time.monotonic() + self._config.tick_s
        while not bell.closed and (left := due - time.monotonic()) > 0:
            if bell.wait(min(self._config.poll_s, left)) or self._stored_since():
                return

    def _stored_since(self) -> bool:
        """Whether observations were stored after the cursor (one look at the log's last id);
        during a database failover, yes: the step that follows finds out and retries."""
        try:
            with self._db.reading() as session:
                return log.last_id(session) > self._cursor
        except DatabaseUnavailable:
            return True
