"""A detection worker: owns partitions by lease, steps each from its stream, fenced by its term.

Per owned partition: the lease won in `vigie_leases`, then the partition claimed in PostgreSQL
(term + 1: the previous owner's steps are refused from then on), then an ephemeral pull consumer
from the committed cursor + 1. Each batch of messages is one `PartitionStep` (archive what is
new, detect, fold, escalate, journal, cursor = the batch's last stream sequence) in one
transaction; a quiet partition still steps every `tick_s`, for the timers (loss of signal, a
window opening). After a commit that changed alarms, `vigie.bell.alarms` tells the API processes
to look (core NATS, no personal data; the consoles' poll covers a lost bell).

Leases are renewed every `renew_s`; which partitions to claim or hand over is the rendezvous plan
of `assignment.plan`, and what a renewal or a step's outcome does to a lease is
`assignment.decide`: a KV that does not answer never drops a partition, another holder or a
fenced commit always does, steps failing for `lease_s` give it up (design scale-ha.md §2.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import FetchTimeoutError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from vigie import clock as centre_clock
from vigie.alarms.pipeline import PartitionStep
from vigie.alarms.sources import BatchSource, Unreadable, partitions_of
from vigie.cluster import assignment
from vigie.cluster.assignment import Action, LeaseState, Outcome
from vigie.cluster.connection import connect
from vigie.cluster.leases import PartitionLeases, partition_of_key, unused_s
from vigie.cluster.partitions import partition_filter, subject_for
from vigie.cluster.publisher import MSG_ID, decode
from vigie.cluster.retention import StreamView
from vigie.cluster.topology import BELL_ALARMS, STREAM, Topology, check
from vigie.gateway.readings import parse_time
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.engine_state import Fenced, StateRow

logger = logging.getLogger(__name__)
# Claims made at once (threads, each a PostgreSQL transaction): a takeover claims a dead worker's
# partitions together, and one waiting on a stale owner's transaction holds up none of them.
CLAIMS_AT_ONCE = 4
CANCEL_AGAIN_S = 0.5  # a partition's task let go of and not ended yet: cancelled again
DRAIN_S = 5.0  # a stopping worker's connection: drained, or closed past this


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


INT64 = 1 << 63


def archived_row(record: Any, received_at: datetime, source: str) -> dict[str, Any]:
    """The archive row of one reading of a stream message, or ValueError when no row can hold
    it (what the columns could not take would fail the step's whole transaction). A reading
    that can be stored but is not an observation (a fix out of range, a field missing) is
    archived: the step quarantines it, as embedded detection does a stored row."""
    if not isinstance(record, dict):
        raise ValueError("a reading is not an object")
    device, kind, seq = record.get("device"), record.get("type"), record.get("seq")
    if not isinstance(device, str) or not 0 < len(device) <= 64:
        raise ValueError("device: not a name of 1 to 64 characters")
    if not isinstance(kind, str) or not 0 < len(kind) <= 20:
        raise ValueError("type: not a name of 1 to 20 characters")
    if seq is not None and (type(seq) is not int or not -INT64 <= seq < INT64):
        raise ValueError("seq: not a 64-bit integer")
    json.dumps(record, allow_nan=False)  # the payload column is JSON: no NaN, no infinity
    row = log.row_for(record, parse_time(str(record.get("t"))), received_at, source=source)
    for name in ("lat", "lon", "accuracy_m"):  # not a number: no column value, refused later
        value = row[name]
        try:
            row[name] = None if value is None or type(value) is bool else float(value)
        except (TypeError, ValueError, OverflowError):
            row[name] = None
    return row


def readings_of(messages: list[Msg]) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """The archive rows of a batch of stream messages, and what could not be read: a message
    (not JSON, not this format) or one of its readings (that no row can hold). Those are
    logged, recorded in the step's transaction with their stream sequence (the stream keeps
    them 72 h) and skipped: one bad message never stops a partition, nor loses the good
    readings of its own message."""
    rows: list[dict[str, Any]] = []
    unreadable: list[Unreadable] = []
    for message in messages:
        sequence = message.metadata.sequence.stream
        try:
            body = decode(message.data)
            received_at = datetime.fromisoformat(body["received_at"])
            source, records = body["source"], body["readings"]
            if received_at.tzinfo is None:
                raise ValueError("received_at has no time zone")
            if not isinstance(source, str) or len(source) > 80 or not isinstance(records, list):
                raise ValueError("source or readings malformed")
        except Exception as exc:  # a message this version cannot read
            unreadable.append(Unreadable(sequence, message.subject, None, repr(exc)[:300]))
            logger.error("stream message %d unreadable, skipped: %r", sequence, exc)
            continue
        for index, record in enumerate(records):
            try:
                rows.append(archived_row(record, received_at, source))
            except Exception as exc:
                unreadable.append(Unreadable(sequence, message.subject, index, repr(exc)[:300]))
                logger.error(
                    "stream message %d: reading %d unreadable, skipped: %r", sequence, index, exc
                )
    return rows, unreadable


@dataclass
class Owned:
    """A partition this worker holds: its lease revision, its step and its stream consumer."""

    partition: int
    revision: int
    step: PartitionStep
    stream: StreamView  # what it has seen of the stream (`vigie.cluster.retention`)
    lease: LeaseState = field(default_factory=LeaseState)
    task: asyncio.Task[None] | None = None
    cursor: int = 0
    lag: int = 0
    last_step: float | None = None
    steps: int = 0
    stopped: bool = False  # let go of: its loop ends at its next turn (a cancel may be lost)


class DetectionWorker:
    """Runs until `stop()`: presence, leases, and one stepping task per owned partition."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        name: str | None = None,
        clock: Callable[[], datetime] = centre_clock.now,
    ) -> None:
        self.settings = settings
        self.database = database
        self._autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.name = name or settings.worker_name or default_name()
        self._clock = clock
        self.owned: dict[int, Owned] = {}
        self.fenced = 0  # steps refused by a newer term (a metric; each drops its partition)
        self.unreadable = 0
        self.forwarded = 0  # messages sent on to their case's partition (a stale directory)
        self._free_since: dict[int, float] = {}
        # Leases won whose claim (a PostgreSQL transaction) is under way: renewed like the
        # others, None once lost meanwhile.
        self._claiming: dict[int, int | None] = {}
        # Claims on threads of their own: behind the steps in the default pool, one waited
        # 4 s on a loaded host, longer than a lease (bench/cluster.py).
        self._claims = ThreadPoolExecutor(CLAIMS_AT_ONCE, thread_name_prefix="claim")
        self._stopping = asyncio.Event()
        # Set when a lease is given back or expires: look at the leases now, not at the next
        # round (a paused owner's partitions were taken over up to `renew_s` later).
        self._look = asyncio.Event()
        self._connection: Client | None = None
        self._js: JetStreamContext | None = None
        self._leases: PartitionLeases | None = None

    def stop(self) -> None:
        self._stopping.set()
        self._look.set()

    async def run(self) -> None:
        """Connect, check the topology, then keep leases and steps going until stopped; on the
        way out, finish the steps under way and hand the leases back."""
        self._connection = await connect(self.settings, f"worker-{self.name}")
        self._js = self._connection.jetstream()
        tasks: list[asyncio.Task[None]] = []
        try:
            await check(self._js, Topology.from_settings(self.settings))
            self._leases = await PartitionLeases.open(self._js, self.name)
            tasks.append(asyncio.create_task(self._renew_forever(), name="renew"))
            tasks.append(
                asyncio.create_task(
                    self._leases.follow(
                        self._lease_changed,
                        self._stopping,
                        self.settings.lease_s,
                        self.settings.renew_s,
                    ),
                    name="follow",
                )
            )
            while not self._stopping.is_set():
                began = time.monotonic()
                self._look.clear()
                wait = self.settings.renew_s
                grace_ends = await self._keep_leases()
                self._slow("claims and hand-overs", began)
                if grace_ends is not None:
                    wait = min(wait, grace_ends)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._look.wait(), max(0.0, wait - (time.monotonic() - began))
                    )
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for partition in list(self.owned):
                await self._let_go(partition, release=True)
            if self._leases is not None:
                await self._leases.withdraw()
            try:
                # nats-py waits up to 30 s for a subscription that does not drain; every step
                # is committed by now, so a stop should not wait that long.
                await asyncio.wait_for(self._connection.drain(), DRAIN_S)
            except Exception as exc:
                logger.warning("connection not drained (%r): closed", exc)
                await self._connection.close()
            self._claims.shutdown(wait=False)

    # ------------------------------------------------------------------ leases

    async def _renew_forever(self) -> None:
        """A renewal round every `renew_s`, in a task of its own: neither a claim's transaction
        nor a round of listing and planning holds the leases back (a lone worker behind its
        claims outlasted its own leases and claimed its partitions again: bench/cluster.py)."""
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                await self._renew()
            except Exception:  # a round that failed whole: the next one tries again
                logger.exception("lease renewal round failed")
            self._slow("lease renewals", began)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(),
                    max(0.0, self.settings.renew_s - (time.monotonic() - began)),
                )

    def _slow(self, what: str, began: float) -> None:
        """Say so when a round outlasted a lease: its partitions may have been lost meanwhile
        (a chaos run once saw both workers' rounds stall for 20 s, and nothing in the logs)."""
        took = time.monotonic() - began
        if took > self.settings.lease_s:
            logger.warning(
                "a round of %s took %.1f s (lease %.1f s)", what, took, self.settings.lease_s
            )

    async def _renew(self) -> None:
        """Extend every held lease, and every lease whose claim is under way, at once, and act
        on each outcome. One after another, a round took the sum of the KV's answers: on a
        loaded host more than the lease."""
        assert self._leases is not None
        now = time.monotonic()
        held = list(self.owned.items())
        pending = [(p, r) for p, r in self._claiming.items() if r is not None]
        renewals = await asyncio.gather(
            *(self._leases.renew(partition, owned.revision) for partition, owned in held),
            *(self._leases.renew(partition, revision) for partition, revision in pending),
        )
        for (partition, revision), renewal in zip(pending, renewals[len(held) :], strict=True):
            if self._claiming.get(partition) != revision:
                # Its claim ended meanwhile. Stepped now from the revision it was acquired
                # at, the partition keeps this renewal's: dropped, the next renewal met a
                # wrong sequence and the partition went blind until its lease expired.
                owned = self.owned.get(partition)
                if owned is not None and owned.revision == revision and renewal.revision:
                    owned.revision = renewal.revision
                continue
            if renewal.outcome is Outcome.WRONG_SEQUENCE:
                self._claiming[partition] = None  # lost: its claim will not step it
            elif renewal.revision is not None:
                self._claiming[partition] = renewal.revision
        for (partition, owned), renewal in zip(held, renewals[: len(held)], strict=True):
            if renewal.revision is not None:
                owned.revision = renewal.revision  # let go meanwhile: its release needs it
            if self.owned.get(partition) is not owned:
                continue  # let go meanwhile
            owned.lease, action = assignment.decide(
                owned.lease, renewal.outcome, now, self.settings.lease_s
            )
            if action is not Action.KEEP:
                logger.warning("partition %d: lease %s, %s", partition, renewal.outcome, action)
                await self._let_go(partition, release=action is Action.RELEASE)

    def _lease_changed(self, entry: KeyValue.Entry) -> None:
        """A lease given back or expired (the server's marker): plan again at once."""
        if entry.operation in (KV_DEL, KV_PURGE) and partition_of_key(entry.key) is not None:
            self._look.set()

    async def _keep_leases(self) -> float | None:
        """Claim and hand over per the plan; return in how many seconds a free partition's
        grace ends (another look is due then), or None."""
        assert self._leases is not None
        leases = self._leases
        now = time.monotonic()
        with contextlib.suppress(Exception):  # presence is best effort; leases are what count
            await leases.announce(self.report())
        # nats-py's key listing waits without a deadline for a KV stream without a leader:
        # bounded here, or the worker would stop renewing and claiming for good.
        bound = self.settings.lease_s
        try:
            held = await asyncio.wait_for(leases.held(), bound)
            live = await asyncio.wait_for(leases.live_workers(), bound)
        except Exception as exc:  # the KV unavailable: keep what we have, claim nothing now
            logger.warning("leases not listed (%r)", exc)
            return None
        n = self.settings.partitions
        for partition in range(n):
            if partition in held or partition in self.owned:
                self._free_since.pop(partition, None)
            else:
                self._free_since.setdefault(partition, now)
        plan = assignment.plan(self.name, n, set(self.owned), self._free_since, live, now)
        for partition in sorted(plan.release):
            await self._let_go(partition, release=True)
        # Each won lease is claimed at once, beside the others: one after another, a claim that
        # waits on a stale owner's transaction held back every partition planned after it.
        claims: list[asyncio.Task[None]] = []
        try:
            for partition in sorted(plan.claim):
                try:
                    revision = await asyncio.wait_for(leases.acquire(partition), bound)
                except TimeoutError:  # the KV unavailable: claim nothing more this round
                    logger.warning(
                        "partition %d: lease not taken (no answer in %.1f s)", partition, bound
                    )
                    return None
                except Exception as exc:  # the KV failing, or the key expired mid-create
                    # (nats-py's create reads the key back after a refusal, and raises
                    # KeyNotFoundError if it expired meanwhile): not taken now, maybe next round.
                    logger.warning("partition %d: lease not taken (%r)", partition, exc)
                    continue
                if revision is not None:
                    self._free_since.pop(partition, None)
                    claims.append(asyncio.create_task(self._take(partition, revision)))
                    await asyncio.sleep(0)  # its claim under way, its lease renewed from now
        finally:
            await asyncio.gather(*claims)
        waiting = [
            since + assignment.DEFAULT_GRACE_S - time.monotonic()
            for partition, since in self._free_since.items()
            if partition not in plan.claim
        ]
        return max(0.0, min(waiting)) if waiting else None

    async def _take(self, partition: int, revision: int) -> None:
        """Claim a partition whose lease we won: term + 1 in PostgreSQL (fencing the previous
        owner), then step it from its committed cursor."""
        step = PartitionStep(
            self.database,
            self.settings,
            self._clock,
            self.settings.step_batch,
            state=StateRow(partition),
        )
        self._claiming[partition] = revision
        try:
            claimed = await asyncio.get_running_loop().run_in_executor(self._claims, step.claim)
        except Exception as exc:  # PostgreSQL unreachable: give the lease back for another
            logger.error("partition %d not claimed (%r): lease released", partition, exc)
            assert self._leases is not None
            revision = self._claiming.pop(partition, None) or revision
            await self._leases.release(partition, revision)
            return
        kept = self._claiming.pop(partition, None)
        if kept is None:  # the lease was lost while claiming: the next holder claims again
            logger.warning("partition %d: lease lost while claiming, not stepped", partition)
            return
        stream = StreamView(partition, claimed.seen)
        owned = Owned(partition, kept, step, stream, cursor=claimed.cursor)
        self.owned[partition] = owned
        owned.task = asyncio.create_task(self._step_loop(owned), name=f"partition-{partition}")
        owned.task.add_done_callback(lambda task: self._ended(owned, task))
        logger.info("partition %d: term %d, from cursor %d", partition, claimed.term, owned.cursor)

    def _ended(self, owned: Owned, task: asyncio.Task[None]) -> None:
        """A partition's task that died of an error is loud, and its lease handed back so that
        a healthy worker (maybe this one, at the next round) takes the partition."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("partition %d: stepping stopped", owned.partition, exc_info=task.exception())
        if self.owned.get(owned.partition) is owned:
            asyncio.get_running_loop().create_task(self._let_go(owned.partition, release=True))

    async def _let_go(self, partition: int, *, release: bool) -> None:
        owned = self.owned.pop(partition, None)
        if owned is None:
            return
        owned.stopped = True
        task = owned.task
        if task is not None and task is not asyncio.current_task():
            while not task.done():
                # Python 3.11's wait_for (nats-py's fetch waits with it) swallows a cancel when
                # its inner future completed meanwhile (a queue fed without pause: every time):
                # the task steps on, and waiting for it held this round. Likely what stalled
                # both workers' rounds for 20 s in a chaos run, until a newer term fenced the
                # task. So the task's loop also stops at `stopped`, and is cancelled again.
                task.cancel()
                await asyncio.wait({task}, timeout=CANCEL_AGAIN_S)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if release and self._leases is not None:
            await self._leases.release(partition, owned.revision)

    # ------------------------------------------------------------------ steps

    async def _step_loop(self, owned: Owned) -> None:
        """Fetch and step one partition until let go of or fenced; after a failed step, read
        again from the committed cursor (the in-memory engine was dropped with it)."""
        while not owned.stopped:
            try:
                await self._consume(owned)
            except _Restart:
                continue

    async def _consume(self, owned: Owned) -> None:
        assert self._js is not None
        try:
            # The stream's span first: a gap past the cursor is told (`retention`), and the
            # first fetch, if it brings nothing, says the partition is quiet up to its end.
            span = (await self._js.stream_info(STREAM)).state
            owned.stream.begin(owned.cursor, span.first_seq)
            last_seq: int | None = span.last_seq
            subscription = await self._js.pull_subscribe(
                partition_filter(owned.partition),
                stream=STREAM,
                config=api.ConsumerConfig(
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=owned.cursor + 1,
                    ack_policy=api.AckPolicy.NONE,
                    inactive_threshold=unused_s(self.settings.lease_s),
                ),
            )
        except Exception as exc:  # no stream leader yet (an election)
            await self._consume_again(owned, exc)
        try:
            last_step = float("-inf")
            checked = probed = time.monotonic()
            while not owned.stopped:
                try:
                    messages = await subscription.fetch(
                        self.settings.step_batch, timeout=self.settings.poll_s
                    )
                except (TimeoutError, FetchTimeoutError):
                    messages = []
                    if last_seq is not None:  # read before this fetch, which brought nothing
                        owned.stream.quiet(last_seq)
                    last_seq = None
                    if time.monotonic() - probed >= self.settings.lease_s:
                        probed = time.monotonic()
                        last_seq = await self._last_seq()  # for the next fetch
                    if time.monotonic() - checked >= self.settings.lease_s:
                        # Quiet, or its consumer lost with the node that held it (a fetch
                        # then only times out): ask, and consume again if it is gone.
                        checked = time.monotonic()
                        await self._still_there(owned, subscription)
                except Exception as exc:  # the stream's leader being elected, a blip
                    await self._consume_again(owned, exc)
                else:
                    checked = time.monotonic()
                    last_seq = None
                if not messages and time.monotonic() - last_step < self.settings.tick_s:
                    continue
                await self._step(owned, messages)
                last_step = time.monotonic()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _last_seq(self) -> int | None:
        """The stream's last sequence now, or None if it does not answer (asked again later)."""
        assert self._js is not None
        try:
            return int((await self._js.stream_info(STREAM)).state.last_seq)
        except Exception:
            return None

    async def _still_there(self, owned: Owned, subscription: Any) -> None:
        try:
            await subscription.consumer_info()
        except Exception as exc:
            await self._consume_again(owned, exc)

    async def _consume_again(self, owned: Owned, exc: Exception) -> NoReturn:
        """A fetch that failed otherwise than by waiting (no leader, the consumer gone with
        its node): a new consumer from the committed cursor + 1, after a pause. Nothing is
        lost (the stream keeps it) nor consumed twice (the cursor is the step's)."""
        logger.warning("partition %d: consumer failed (%r); consuming again", owned.partition, exc)
        await asyncio.sleep(min(1.0, self.settings.tick_s))
        raise _Restart from exc

    async def _forward(self, owned: Owned, messages: list[Msg]) -> list[Msg]:
        """Send on the messages of devices whose case is, per PostgreSQL now, in another
        partition (a directory not yet current, a device moved between cases), each
        republished there under its id and acknowledged before this step commits; return the
        others. Archived here, a forwarded reading would be taken for a duplicate by its right
        owner and never detected (design scale-ha.md §2.6)."""
        assert self._js is not None
        devices: dict[int, str] = {}
        for index, message in enumerate(messages):
            with contextlib.suppress(Exception):  # unreadable: counted by readings_of
                devices[index] = decode(message.data)["device"]
        if not devices:
            return messages
        where = await asyncio.to_thread(self._partitions_of, set(devices.values()))
        kept = []
        for index, message in enumerate(messages):
            device = devices.get(index)
            target = where.get(device) if device is not None else None
            if target is None or target == owned.partition:
                kept.append(message)
                continue
            ident = (message.headers or {}).get(MSG_ID) or f"seq-{message.metadata.sequence.stream}"
            await self._js.publish(
                subject_for(target, device or ""),
                message.data,
                stream=STREAM,
                headers={MSG_ID: f"fwd:{ident}"},
            )
            self.forwarded += 1
            logger.info(
                "partition %d: a message of %s forwarded to %d", owned.partition, device, target
            )
        return kept

    def _partitions_of(self, devices: set[str]) -> dict[str, int]:
        """One statement on its own (autocommit): every step asks, and a transaction around
        one read would add its BEGIN and COMMIT round trips."""
        with self._autocommit.connect() as connection:
            return partitions_of(connection, devices)

    async def _step(self, owned: Owned, messages: list[Msg]) -> None:
        cursor = messages[-1].metadata.sequence.stream if messages else owned.cursor
        try:
            messages = await self._forward(owned, messages)
        except Exception as exc:  # not forwarded, so not consumed: fetched again
            logger.error("partition %d: forwarding failed (%r)", owned.partition, exc)
            await asyncio.sleep(min(1.0, self.settings.tick_s))
            raise _Restart from exc
        rows, unreadable = readings_of(messages)
        self.unreadable += len(unreadable)
        mark = owned.stream.mark()
        source = BatchSource(rows, cursor, len(messages), unreadable, mark)
        now = time.monotonic()
        try:
            result = await asyncio.to_thread(owned.step.step, source)
        except Fenced as exc:
            self.fenced += 1
            logger.warning("partition %d fenced (%s): dropped", owned.partition, exc)
            await self._let_go(owned.partition, release=False)
            raise asyncio.CancelledError from exc
        except Exception as exc:
            logger.error("partition %d: step failed (%r)", owned.partition, exc)
            owned.lease, action = assignment.decide(
                owned.lease, Outcome.STEP_FAILED, now, self.settings.lease_s
            )
            if action is Action.RELEASE:
                await self._let_go(owned.partition, release=True)
                raise asyncio.CancelledError from exc
            await asyncio.sleep(min(1.0, self.settings.tick_s))
            # Re-read from the committed cursor: the failed batch is fetched again.
            raise _Restart from exc
        owned.lease, _ = assignment.decide(
            owned.lease, Outcome.STEP_COMMITTED, now, self.settings.lease_s
        )
        owned.cursor = result.cursor
        if mark is not None:
            owned.stream.committed(mark)
        owned.lag = messages[-1].metadata.num_pending if messages else owned.lag
        owned.last_step = time.time()
        owned.steps += 1
        if (result.events or result.escalated) and self._connection is not None:
            bell = {"partition": owned.partition, "changed": result.events + result.escalated}
            with contextlib.suppress(Exception):  # the consoles' poll covers a lost bell
                await self._connection.publish(BELL_ALARMS, json.dumps(bell).encode())

    def report(self) -> dict[str, Any]:
        """This worker's presence value: what it owns, each partition's cursor and lag."""
        return {
            "worker": self.name,
            "since": time.time(),
            "partitions": {
                str(p): {"cursor": o.cursor, "lag": o.lag, "last_step": o.last_step}
                for p, o in sorted(self.owned.items())
            },
        }


class _Restart(Exception):
    """A failed step: its consumer is made again from the committed cursor."""
