"""POST /api/observations: batched, idempotent, durable before it answers."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vigie import clock
from vigie.api.deps import DatabaseDep, SettingsDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.cases import devices
from vigie.observation import ObservationIn, Refused, wire_record
from vigie.store import audit
from vigie.store import observations as log
from vigie.store.group_commit import GroupCommit
from vigie.store.models import User

router = APIRouter(prefix="/api/observations", tags=["observations"], route_class=BoundedJsonRoute)
# Observations come from devices (the gateway) or from an integration account, whose name is
# recorded with every row it posts; people's accounts never feed the log: a forged fix could
# clear a live alarm.
Ingest = Annotated[User, Depends(allow("integration"))]


class Batch(BaseModel):
    observations: list[ObservationIn] = Field(min_length=1, max_length=20_000)


class Receipt(BaseModel):
    accepted: int
    duplicates: int
    ids: list[int]
    conflicts: list[int] = Field(
        description="rows stored as conflicts: a sequence number already stored with other "
        "content (kept and flagged, not read by detection)"
    )
    unfollowed: list[str] = Field(
        default_factory=list,
        description="the batch's devices that no case watched here follows (unregistered, in "
        "stock, withdrawn from service, or of a case ended or imported): their readings are "
        "stored, never detected; a device listed here by mistake is a monitoring gap",
    )


# Device ids an audit entry names (it counts them all).
AUDITED_UNFOLLOWED = 20


@router.post("")
def post_observations(
    batch: Batch, request: Request, db: DatabaseDep, config: SettingsDep, user: Ingest
) -> Receipt:
    """Store a batch in one transaction, then acknowledge: an acknowledged observation is durable.

    The whole batch is validated before anything is written; replays of stored observations
    (same device and sequence number, or same device and time when there is none) are counted
    as duplicates and not stored twice; a sequence number already stored with other content is
    stored as a conflict. Every row records the account that posted it; every batch is audited.
    Every observation is the one model's (`vigie.observation`): the engine's vocabulary, and a
    time within the clock skew allowed ahead of its receipt and the horizon behind it (422
    naming the field otherwise).
    """
    received_at = clock.now()
    source = f"api:{user.username}"
    bounds = config.time_bounds
    for index, observation in enumerate(batch.observations):
        try:
            bounds.check(observation.t.astimezone(UTC), received_at)
        except Refused as exc:
            field = f"observations[{index}].{exc.field}"
            raise ApiError(422, "invalid_input", f"{field}: {exc.reason}", field) from exc
    rows = [
        log.row_for(wire_record(o), o.t.astimezone(UTC), received_at, source=source)
        for o in batch.observations
    ]
    with db.reading() as session:  # outside the writer: never queues behind an ingest
        astray = devices.unfollowed(session, (row["device"] for row in rows))
    cluster = getattr(request.app.state, "cluster", None)
    if cluster is not None:
        return _publish(cluster, db, rows, user.username, source, astray)

    # Each row's values made ready here, before the writer is taken (`log.prepare`): on SQLite
    # every detection step waits while it is held.
    prepared = log.prepare(rows, db.engine.dialect)

    def store(session: Session) -> log.Accepted:
        accepted = log.append(session, prepared)
        audit.record(
            session,
            user.username,
            "post_observations",
            source,
            {
                "accepted": len(accepted.ids),
                "duplicates": accepted.duplicates,
                "conflicts": accepted.conflicts,
                "first_id": accepted.ids[0] if accepted.ids else None,
                "last_id": accepted.ids[-1] if accepted.ids else None,
            }
            | _unfollowed_detail(astray),
        )
        return accepted

    # Committed with the batches posted at the same moment (`vigie.store.group_commit`), retried
    # whole through a database failover (idempotent: a batch whose commit landed before the
    # connection was cut comes back as duplicates); refused with 503 past the budget.
    ingest: GroupCommit = request.app.state.ingest
    accepted = ingest.submit(store, len(rows)).result()
    pipeline = getattr(request.app.state, "pipeline", None)
    if pipeline is not None and accepted.ids:
        pipeline.wake()
    return Receipt(
        accepted=len(accepted.ids),
        duplicates=accepted.duplicates,
        ids=accepted.ids,
        conflicts=accepted.conflicts,
        unfollowed=astray,
    )


def _unfollowed_detail(astray: list[str]) -> dict[str, Any]:
    """What a batch's audit entry says of its devices no case follows (nothing when none)."""
    if not astray:
        return {}
    return {"unfollowed": len(astray), "unfollowed_devices": astray[:AUDITED_UNFOLLOWED]}


def _publish(
    cluster: Any,
    db: DatabaseDep,
    rows: list[dict[str, Any]],
    username: str,
    source: str,
    astray: list[str],
) -> Receipt:
    """Cluster mode: each device's readings published to its case's partition, answered after
    the stream's acknowledgement (the gateway's publisher). The archive rows are written by the
    partition's worker, so no row ids yet; a resent batch is counted as duplicates."""
    from vigie.cluster.directory import partition_of_device
    from vigie.cluster.publisher import NotAcknowledged

    by_device: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_device.setdefault(row["device"], []).append(row)
    with db.session() as session:
        partitions = {
            device: partition_of_device(session, device, cluster.directory.partitions)
            for device in by_device
        }
    new = duplicates = 0
    for device, own in by_device.items():
        future = asyncio.run_coroutine_threadsafe(
            cluster.publisher.publish(device, partitions[device], own), cluster.loop
        )
        try:
            done = future.result()
        except NotAcknowledged as exc:
            raise ApiError(
                503,
                "not_stored",
                f"the stream did not acknowledge the readings of {device}: send the batch "
                "again (readings already stored are counted as duplicates)",
            ) from exc
        new += done.new
        duplicates += done.duplicates
    with db.session() as session:
        audit.record(
            session,
            username,
            "post_observations",
            source,
            {"published": new, "duplicates": duplicates, "devices": len(by_device)}
            | _unfollowed_detail(astray),
        )
    return Receipt(accepted=new, duplicates=duplicates, ids=[], conflicts=[], unfollowed=astray)
