"""Partition leases in the `vigie_leases` bucket, and a worker's presence in `vigie_workers`.

A lease says who *should* step a partition (liveness); the term in PostgreSQL says who *may*
commit (safety, `vigie.store.engine_state`). Keys expire with the bucket's TTL (`lease_s`) unless
renewed with `update(last=revision)`; the server leaves a marker when one expires. A lease is
taken with `create`, or over a given-back lease's tombstone or an expiry marker by `update` at
that message's revision: either way a compare-and-set, so exactly one of two takers wins and
the other gets `KeyWrongLastSequenceError` (design scale-ha.md §2.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from vigie.cluster.assignment import Outcome
from vigie.cluster.kv_listing import MARKER_REASON, live_values
from vigie.cluster.partitions import partition_token
from vigie.cluster.topology import LEASES, WORKERS, lease_key, worker_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Renewal:
    outcome: Outcome
    revision: int | None = None


def partition_of_key(key: str) -> int | None:
    """The partition a lease key names, or None for a key that is not one."""
    prefix, _, token = key.partition(".")
    if prefix != "p" or not token.isdigit() or partition_token(int(token)) != token:
        return None
    return int(token)


def unused_s(lease_s: float) -> float:
    """How long the server keeps a consumer of this cluster's that no one reads: longer than a
    reconnection, far shorter than nats-py's 5 minutes."""
    return max(10.0, 3 * lease_s)


class PartitionLeases:
    """One worker's view of the lease bucket and its own presence key."""

    def __init__(
        self, js: JetStreamContext, leases: KeyValue, workers: KeyValue, worker: str
    ) -> None:
        self._js = js
        self._leases = leases
        self._workers = workers
        self.worker = worker

    @classmethod
    async def open(cls, js: JetStreamContext, worker: str) -> PartitionLeases:
        return cls(js, await js.key_value(LEASES), await js.key_value(WORKERS), worker)

    def _value(self) -> bytes:
        return json.dumps({"worker": self.worker, "since": time.time()}).encode()

    async def acquire(self, partition: int) -> int | None:
        """Take a partition's lease if nobody holds it: its revision, or None if held."""
        key = lease_key(partition)
        try:
            return await self._leases.create(key, self._value())
        except KeyWrongLastSequenceError:
            pass
        # nats-py's `create` goes over a tombstone of ours (KV-Operation), not over the
        # server's expiry marker (Nats-Marker-Reason): it refused until the marker's own TTL
        # ended, a second of blindness added to every takeover after an expiry.
        try:
            last = await self._js.get_last_msg(f"KV_{LEASES}", f"$KV.{LEASES}.{key}")
        except NotFoundError:  # gone meanwhile (the marker's TTL): create again
            last = None
        if last is not None and (last.seq is None or not (last.headers or {}).get(MARKER_REASON)):
            return None  # a lease someone holds
        try:
            if last is None:
                return await self._leases.create(key, self._value())
            return await self._leases.update(key, self._value(), last=last.seq)
        except KeyWrongLastSequenceError:
            return None  # another taker won

    async def renew(self, partition: int, revision: int) -> Renewal:
        """Extend a held lease. A wrong last sequence means another worker holds it now; any
        other failure (an election, a blip) is only `UNAVAILABLE`: the lease is not lost."""
        try:
            new = await self._leases.update(lease_key(partition), self._value(), last=revision)
        except KeyWrongLastSequenceError:
            return Renewal(Outcome.WRONG_SEQUENCE)
        except Exception as exc:  # the KV's leader being elected, a connection blip
            logger.warning("lease of partition %d not renewed (%r): kept", partition, exc)
            return Renewal(Outcome.UNAVAILABLE, revision)
        return Renewal(Outcome.RENEWED, new)

    async def release(self, partition: int, revision: int) -> None:
        """Give a lease up at our revision: the next owner learns at once instead of waiting
        for it to expire. A lease someone else holds already is left alone.

        A renewal sent before the partition was let go of may have moved the lease past
        `revision` (its answer came after): the delete is then refused, and the partition went
        blind until the lease expired (a chaos run: 3.5 s). So a refused delete reads the
        lease, and gives it up at its revision if it is still this worker's."""
        key = lease_key(partition)
        try:
            await self._leases.delete(key, last=revision)
            return
        except Exception as exc:
            refused = exc
        try:
            entry = await self._leases.get(key)
            if entry.revision is not None and self._holds(entry.value):
                await self._leases.delete(key, last=entry.revision)
                return
        except Exception as exc:  # gone (expired, given back), or taken since: not ours
            refused = exc
        logger.info("lease of partition %d not released (%r)", partition, refused)

    def _holds(self, value: bytes | None) -> bool:
        """Whether a lease's value names this worker."""
        if not value:
            return False
        try:
            return bool(json.loads(value).get("worker") == self.worker)
        except (ValueError, AttributeError):
            return False

    async def held(self) -> set[int]:
        """The partitions whose lease someone holds now."""
        keys = await live_values(self._js, LEASES, "p.>")
        return {p for p in map(partition_of_key, keys) if p is not None}

    async def follow(
        self,
        seen: Callable[[KeyValue.Entry], None],
        stopping: asyncio.Event,
        lease_s: float,
        renew_s: float,
        watching: Callable[[bool], None] = lambda _: None,
    ) -> None:
        """Call `seen` with every change of a lease as it happens (taken, renewed, given back,
        or expired: the server's marker) until `stopping` is set. A broken watch is started
        again after `renew_s` (`watching(False)` meanwhile: the caller's poll follows); a
        watch silent for a whole lease, while held leases are renewed every `renew_s`, may
        have lost its consumer with a reconnection, so it is started again at once.

        Each watch is a consumer on the server, which stopping it does not delete: nats-py's
        default keeps it 5 minutes. Silent (no worker holds a lease: every one down), the
        watch starts again each lease: 10 of them left after 30 s (counted), so 100 at 3 s
        (5 minutes / 3 s), and the server refuses any consumer past 1,000, the workers' own
        when they come back among them. So each goes once unused for the threshold the
        workers' consumers have."""
        while not stopping.is_set():
            watcher = None
            pause = True
            try:
                watcher = await self._leases.watch("p.>", inactive_threshold=unused_s(lease_s))
                watching(True)
                while not stopping.is_set():
                    entry = await watcher.updates(timeout=lease_s)  # type: ignore[no-untyped-call]
                    if entry is not None:
                        seen(entry)
            except TimeoutError:
                pause = False
                logger.info("lease watch silent for %.1f s: started again", lease_s)
            except Exception as exc:  # not CancelledError: stopping goes through
                logger.warning("lease watch broken (%r): following by polling", exc)
            finally:
                watching(False)
                if watcher is not None:
                    with contextlib.suppress(Exception):
                        await watcher.stop()  # type: ignore[no-untyped-call]
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), renew_s)

    async def announce(self, report: dict[str, Any]) -> None:
        """Renew this worker's presence (expires with the bucket's TTL), with what it owns."""
        await self._workers.put(worker_key(self.worker), json.dumps(report).encode())

    async def withdraw(self) -> None:
        try:
            await self._workers.delete(worker_key(self.worker))
        except Exception as exc:
            logger.info("presence of %s not withdrawn (%r)", self.worker, exc)

    async def live_workers(self) -> set[str]:
        """The workers whose presence has not expired."""
        keys = await live_values(self._js, WORKERS, "w.>")
        return {key.removeprefix("w.") for key in keys}
