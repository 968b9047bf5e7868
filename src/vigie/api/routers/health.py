"""GET /api/health: is the centre serving and detecting? For the people who run the servers.

Open without a token (a load balancer or a supervisor's probe has none) and so free of personal
data: counts, times and states only. 200 when the database answers and detection is running;
503 otherwise, with what is wrong. Detection is *blind* (503, and the console's banner for every
operator) when its steps fail, or when none has completed for `VIGIE_BLIND_AFTER_S` while
observations wait (or for twice that at all: the engine's own clock stopped ticking);
`blind_since` says since when. A detector standing by while another process holds the store's
detection (`standby`, `vigie.alarms.sole_detector`) tells that one's committed progress, judged
the same way. In cluster mode, a detection partition that no worker has held
for longer than the lease and a takeover is blind too (503, `cluster.unwatched`);
`cluster.stream_gaps` counts the times a partition found the stream no longer holding what it
had not read (`vigie.cluster.retention`): readings maybe lost, which the status does not undo.

`unfinished_purge`, only when there is one: the last retention purge of locations started
(`vigie db purge-locations`) has not ended: it is running (`running` true, state `running`), or
it was interrupted or failed, and the fixes it was to delete are still stored. The status stays
as it is (the centre serves and detects): a run to finish, not a fault.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from vigie import clock
from vigie.api.deps import DatabaseDep, SettingsDep
from vigie.api.limits import BoundedJsonRoute
from vigie.settings import Settings
from vigie.store import Database, engine_state, purges, spans
from vigie.store import observations as log

router = APIRouter(prefix="/api/health", tags=["health"], route_class=BoundedJsonRoute)
logger = logging.getLogger(__name__)


class PipelineState(BaseModel):
    warm: bool
    cursor: int
    backlog: int
    last_step_at: datetime | None
    last_error: str | None
    blind_since: datetime | None
    quarantined: int
    # Another process holds the store's detection (`vigie.alarms.sole_detector`): this one
    # stands by, and the fields above are that holder's committed progress.
    standby: bool


Status = Literal["ok", "starting", "failing", "stalled"]


class ClusterState(BaseModel):
    """Cluster mode: the detection partitions and who watches them (names and numbers only)."""

    partitions: int
    owned: int
    workers: list[str]
    unwatched: list[int]  # without an owner for longer than the lease and a takeover
    blind_since: datetime | None
    # Gaps the partitions met in the stream, all told: sequences it no longer held that no
    # worker had read (readings maybe lost; each audited as `stream_gap` with its sequences).
    stream_gaps: int | None  # None: the database did not answer


class UnfinishedPurgeState(BaseModel):
    """The last retention purge started, not ended well, or running (`vigie.store.purges`)."""

    started_at: datetime
    cutoff: str | None  # the fixes older than this were to be deleted
    older_than_days: int | None
    # No end on record and its process holds the purge lock, no end and no process, its failure
    state: Literal["running", "interrupted", "failed"]
    error: str | None  # failed: the error's type and message
    running: bool  # a purge holds the lock now: it is under way, not to be run again yet


class Health(BaseModel):
    status: Status
    database: Literal["ok", "failing"]
    # Observations not yet in spans (`vigie.store.spans`): what every per-device read scans. It
    # stays under a period's readings while compaction runs; growing, compaction has stopped.
    unspanned: int | None
    pipeline: PipelineState | None  # None: this process does not run detection
    cluster: ClusterState | None = None  # cluster mode: detection is the workers'
    unfinished_purge: UnfinishedPurgeState | None = None  # only when there is one


@router.get("", response_model=Health, responses={503: {"model": Health}})
def health(request: Request, db: DatabaseDep, config: SettingsDep) -> JSONResponse:
    """The database reached, and the detection pipeline's state: loaded, cursor, backlog."""
    body = assess(request, db, config)
    # The embedded answer keeps its shape: `cluster` only in cluster mode, `unfinished_purge`
    # only when a purge is unfinished.
    hidden = {"cluster"} if body.cluster is None else set()
    if body.unfinished_purge is None:
        hidden.add("unfinished_purge")
    shown = body.model_dump(mode="json", exclude=hidden or None)
    return JSONResponse(shown, status_code=200 if body.status == "ok" else 503)


def assess(request: Request, db: Database, config: Settings) -> Health:
    """The centre's state as `GET /api/health` tells it (and `/metrics` counts it)."""
    newest: int | None = None
    unspanned: int | None = None
    purge = None
    gaps: int | None = None
    watch = getattr(request.app.state, "cluster_watch", None)
    try:
        with db.reading() as session:
            newest = log.last_id(session)
            unspanned = spans.lag(session)
            # One read of a partial index, however polled; a look at the purge lock too
            # while the last purge's start has no end.
            purge = purges.unfinished(session)
            if watch is not None:
                gaps = engine_state.stream_gaps(session)  # one row a partition
    except Exception:  # whatever stops the store from answering is what this reports
        logger.exception("health: the database did not answer")
        database: Literal["ok", "failing"] = "failing"
    else:
        database = "ok"
    pipeline = getattr(request.app.state, "pipeline", None)
    state = None
    stalled = False
    if pipeline is not None:
        now = pipeline.health
        backlog = max(0, newest - now.cursor) if newest is not None else 0
        blind_since = now.failing_since if now.last_error is not None else None
        if blind_since is None and now.warm and now.last_step_at is not None:
            idle = clock.now() - now.last_step_at
            limit = timedelta(seconds=config.blind_after_s)
            stalled = idle > limit and (backlog > 0 or idle > 2 * limit)
            blind_since = now.last_step_at if stalled else None
        state = PipelineState(
            warm=now.warm,
            cursor=now.cursor,
            backlog=backlog,
            last_step_at=now.last_step_at,
            last_error=now.last_error,
            blind_since=blind_since,
            quarantined=now.quarantined,
            standby=now.standby,
        )
    cluster = None
    if watch is not None:
        view = watch.ownership
        unwatched = watch.unwatched()
        cluster = ClusterState(
            partitions=view.partitions,
            owned=len(view.owned),
            workers=sorted(view.workers),
            unwatched=unwatched,
            blind_since=watch.blind_since(),
            stream_gaps=gaps,
        )
        stalled = stalled or bool(unwatched)
    status: Status = "ok"
    if database != "ok" or (state is not None and state.last_error is not None):
        status = "failing"
    elif stalled:
        status = "stalled"
    elif state is not None and not state.warm:
        status = "starting"
    return Health(
        status=status,
        database=database,
        unspanned=unspanned,
        pipeline=state,
        cluster=cluster,
        unfinished_purge=None if purge is None else UnfinishedPurgeState(**purge.as_json()),
    )
