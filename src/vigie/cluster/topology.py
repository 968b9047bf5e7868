"""The cluster's streams and buckets, created once by `vigie cluster init` and checked by every
process at start: a process whose partition count differs from the cluster's would route a case
to the wrong engine, so it refuses to run."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext, api
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)

from vigie.cluster.partitions import SUBJECT_PREFIX, partition_token
from vigie.settings import Settings

STREAM = "VIGIE_OBS"
LEASES = "vigie_leases"
WORKERS = "vigie_workers"
# Core NATS, no personal data: a worker rings after a commit that changed alarms, every API
# process hears it and wakes its consoles' live streams.
BELL_SUBJECTS = "vigie.bell.>"
BELL_ALARMS = "vigie.bell.alarms"
logger = logging.getLogger(__name__)
DEVICES = "vigie_devices"
CONFIG = "vigie_config"
PARTITIONS_KEY = "partitions"
# The server writes a marker when a lease expires, kept this long, so watchers learn at once.
LIMIT_MARKER_TTL_S = 1.0


def lease_key(partition: int) -> str:
    """A partition's key in `vigie_leases`: {"worker", "since"}."""
    return f"p.{partition_token(partition)}"


def worker_key(name: str) -> str:
    """A worker's presence key in `vigie_workers`: {"partitions": {p: {"cursor", "lag"}}, …}."""
    return f"w.{name}"


class TopologyDrift(RuntimeError):
    """The cluster was initialised with other fixed parameters than these settings'."""


class NotInitialised(RuntimeError):
    """No `vigie cluster init` yet."""


@dataclass(frozen=True, slots=True)
class Topology:
    partitions: int
    replicas: int
    max_age_s: float
    max_bytes: int
    dedupe_window_s: float
    lease_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(
            partitions=settings.partitions,
            replicas=settings.stream_replicas,
            max_age_s=settings.stream_max_age_h * 3600,
            max_bytes=int(settings.stream_max_gb * 1024**3),
            dedupe_window_s=settings.dedupe_window_s,
            lease_s=settings.lease_s,
        )

    def stream(self) -> api.StreamConfig:
        """VIGIE_OBS: the ingest log of record until a worker commits. Discard new: when full,
        publishes fail and devices keep their data (discard old would drop unprocessed ones)."""
        return api.StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            discard=api.DiscardPolicy.NEW,
            max_age=self.max_age_s,
            max_bytes=self.max_bytes,
            duplicate_window=self.dedupe_window_s,
            allow_direct=True,
        )

    def buckets(self) -> list[api.KeyValueConfig]:
        return [
            api.KeyValueConfig(
                bucket=LEASES,
                history=1,
                ttl=self.lease_s,
                replicas=self.replicas,
                limit_marker_ttl=LIMIT_MARKER_TTL_S,
            ),
            api.KeyValueConfig(
                bucket=WORKERS,
                history=1,
                ttl=self.lease_s,
                replicas=self.replicas,
                limit_marker_ttl=LIMIT_MARKER_TTL_S,
            ),
            api.KeyValueConfig(bucket=DEVICES, history=1, replicas=self.replicas),
            api.KeyValueConfig(bucket=CONFIG, history=5, replicas=self.replicas),
        ]


# JetStream's "no suitable peers for placement": the meta leader still counts a restarted node
# offline for a while after it answers healthy (seen for seconds after a rolling restart). That,
# an election under way (503, no answer), a bucket just created whose stream has no leader yet
# (a write to it finds no responder: seen once in CI) are waited out; any other refusal is the
# operator's.
NO_PLACEMENT = 10005


async def ensure(js: JetStreamContext, topology: Topology, wait_s: float = 30.0) -> list[str]:
    """Create what is missing, bring retention limits in line, and store P; idempotent.
    Refuses (`TopologyDrift`) another P or another replica count than the cluster's.
    A cluster that cannot create it yet (a node just restarted, an election) is tried again
    for `wait_s`. Returns what it did, for the operator."""
    deadline = time.monotonic() + wait_s
    done: list[str] = []
    while True:
        try:
            await _ensure(js, topology, done)
            return done
        except (
            APIError,
            NoStreamResponseError,
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
        ) as exc:
            transient = not isinstance(exc, APIError) or exc.err_code == NO_PLACEMENT
            if isinstance(exc, ServiceUnavailableError):
                transient = True  # no meta leader yet (an election)
            if not transient or time.monotonic() > deadline:
                raise
            logger.warning("the cluster cannot create it yet (%r): trying again", exc)
            await asyncio.sleep(0.5)


async def _ensure(js: JetStreamContext, topology: Topology, done: list[str]) -> None:
    wanted = topology.stream()
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(wanted)
        done.append(f"stream {STREAM} created (R{topology.replicas})")
    else:
        current = info.config
        if current.num_replicas != wanted.num_replicas:
            raise TopologyDrift(
                f"stream {STREAM} has {current.num_replicas} replicas, the settings say "
                f"{wanted.num_replicas} (VIGIE_STREAM_REPLICAS)"
            )
        limits = ("max_age", "max_bytes", "duplicate_window")
        if any(getattr(current, k) != getattr(wanted, k) for k in limits):
            await js.update_stream(wanted)
            done.append(f"stream {STREAM}: retention limits updated")
    for bucket in topology.buckets():
        try:
            await js.key_value(bucket.bucket)
        except BucketNotFoundError:
            await js.create_key_value(bucket)
            done.append(f"bucket {bucket.bucket} created")
    config = await js.key_value(CONFIG)
    try:
        stored = await config.get(PARTITIONS_KEY)
    except KeyNotFoundError:
        await config.create(PARTITIONS_KEY, json.dumps(topology.partitions).encode())
        done.append(f"partitions = {topology.partitions} stored")
    else:
        _same_partitions(stored.value, topology.partitions)


async def check(js: JetStreamContext, topology: Topology) -> None:
    """At a process's start: the cluster is initialised, with these settings' P."""
    try:
        config = await js.key_value(CONFIG)
        stored = await config.get(PARTITIONS_KEY)
    except (BucketNotFoundError, KeyNotFoundError) as exc:
        raise NotInitialised(
            "the NATS cluster is not initialised: run `vigie cluster init`"
        ) from exc
    _same_partitions(stored.value, topology.partitions)


def _same_partitions(value: bytes | None, partitions: int) -> None:
    stored = json.loads(value or b"null")
    if stored != partitions:
        raise TopologyDrift(
            f"the cluster was initialised with {stored} partitions, VIGIE_PARTITIONS says "
            f"{partitions}: a case would be routed to the wrong engine (changing P is an "
            "offline operation)"
        )
