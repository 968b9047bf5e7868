"""GET /metrics: the centre's state for Prometheus, so the people who run the servers are paged
by the monitoring they already have when detection goes blind or alarms wait.

What `/api/health` says (as numbers), and the alarms waiting: how many are not closed, by kind
and status, how many escalated, how long the oldest unacknowledged one has waited; the reports
the outbox gave up on. Counts, states and durations only: no case, person, device or place.
Off unless `VIGIE_METRICS_TOKEN` is set (404), and then only with that bearer token (401,
logged with the caller's address, and audited as `metrics_refused` at most once a minute with
the count of the others: someone guessing the token is seen, and cannot flood the log): a
scraper holds it, not the public.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select

from vigie import clock
from vigie.alarms import handing, returned
from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.outbox import is_undelivered
from vigie.api.deps import DatabaseDep, SettingsDep
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.routers.health import Health, assess
from vigie.store.models import Alarm, OutboxMessage
from vigie.store.refusals import AuditedRefusals

router = APIRouter(tags=["health"], route_class=BoundedJsonRoute)
logger = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)
STATUSES = ("ok", "starting", "failing", "stalled")
# Not closed, named: the status index serves `IN`, where `!= 'closed'` read every alarm ever.
WAITING = ("open", "acknowledged", "in_progress")


def scraper(
    request: Request,
    config: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admit the holder of VIGIE_METRICS_TOKEN; 404 while none is set."""
    token = config.metrics_token.get_secret_value()
    if not token:
        raise ApiError(404, "not_found", "metrics are off: set VIGIE_METRICS_TOKEN to serve them")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        where = request.client.host if request.client else "?"
        logger.warning("metrics: refused a scrape from %s (no or wrong token)", where)
        refusals: AuditedRefusals = request.app.state.refusals
        # One key for every caller: keyed by address, a scan from many would grow it unbounded.
        refusals.record(
            "metrics",
            "metrics",
            "metrics_refused",
            "route:GET /metrics",
            {"client": where, "token": "wrong" if given else "none"},
        )
        raise ApiError(401, "unauthorized", "the metrics token is missing or wrong")


@router.get(
    "/metrics",
    dependencies=[Depends(scraper)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request, db: DatabaseDep, config: SettingsDep) -> Response:
    """Prometheus's text format: one registry a scrape, read from the store and the pipeline."""
    state = assess(request, db, config)
    waiting = None
    if state.database == "ok":
        try:
            waiting = _waiting(db, config.outbox_max_attempts)
        except Exception:  # the database failed since health's read: said, as health says it
            logger.exception("metrics: the database did not answer")
            state = state.model_copy(update={"database": "failing", "status": "failing"})
    registry = CollectorRegistry(auto_describe=True)
    _health(registry, state)
    if waiting is not None:
        _alarms(registry, waiting)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class Waiting(NamedTuple):
    """What waits, as the store says it at one read."""

    by_kind_status: list[tuple[str, str, int]]
    escalated: int
    oldest_unacknowledged: datetime | None
    undelivered: int
    raised_again: int  # taken alarms to take again: come back or released (`returned`)
    released: int  # of those, released: their holder gone, or a hand-over unanswered
    handed: int  # handed to an operator who has not taken them over yet (`handing`)


def _gauge(registry: CollectorRegistry, name: str, text: str, *labels: str) -> Gauge:
    return Gauge(name, text, labels, registry=registry)


def _health(registry: CollectorRegistry, state: Health) -> None:
    status = _gauge(registry, "vigie_status", "1 for the centre's status (/api/health)", "status")
    for name in STATUSES:
        status.labels(name).set(1 if state.status == name else 0)
    _gauge(registry, "vigie_database_up", "1 when the database answers").set(
        1 if state.database == "ok" else 0
    )
    if state.unspanned is not None:
        _gauge(registry, "vigie_unspanned_observations", "observations not yet in spans").set(
            state.unspanned
        )
    blind = _gauge(registry, "vigie_detection_blind", "1 while detection is failing or stalled")
    blind.set(0)
    pipeline = state.pipeline
    if pipeline is not None:
        blind.set(1 if pipeline.blind_since is not None else 0)
        _gauge(registry, "vigie_detection_backlog", "observations stored, not yet detected").set(
            pipeline.backlog
        )
        _gauge(registry, "vigie_detection_quarantined", "records detection set aside").set(
            pipeline.quarantined
        )
        if pipeline.last_step_at is not None:
            age = (clock.now() - pipeline.last_step_at).total_seconds()
            _gauge(
                registry, "vigie_detection_last_step_age_seconds", "since the last detection step"
            ).set(max(0.0, age))
    cluster = state.cluster
    if cluster is not None:
        if cluster.blind_since is not None:
            blind.set(1)
        _gauge(registry, "vigie_cluster_partitions", "detection partitions").set(cluster.partitions)
        _gauge(registry, "vigie_cluster_unwatched_partitions", "partitions no worker holds").set(
            len(cluster.unwatched)
        )
        _gauge(registry, "vigie_cluster_workers", "detection workers seen").set(
            len(cluster.workers)
        )
        if cluster.stream_gaps is not None:
            _gauge(
                registry,
                "vigie_cluster_stream_gaps",
                "times a partition found the stream no longer holding what it had not read",
            ).set(cluster.stream_gaps)
    _gauge(registry, "vigie_purge_unfinished", "1 when the last retention purge has not ended").set(
        0 if state.unfinished_purge is None else 1
    )


def _waiting(db: DatabaseDep, max_attempts: int) -> Waiting:
    with db.reading() as session:
        rows = session.execute(
            select(Alarm.kind, Alarm.status, func.count())
            .where(Alarm.status.in_(WAITING), RAISED_HERE)
            .group_by(Alarm.kind, Alarm.status)
        ).all()
        escalated = session.scalar(
            select(func.count())
            .select_from(Alarm)
            .where(Alarm.status.in_(WAITING), returned.escalated(), RAISED_HERE)
        )
        opened = session.scalar(
            select(func.min(Alarm.opened_at)).where(Alarm.status == "open", RAISED_HERE)
        )
        # A taken alarm come back waits again, from its return (`returned`): its partial index.
        back, back_since, released = session.execute(
            select(
                func.count(),
                func.min(Alarm.raised_again_at),
                func.count(Alarm.raised_again_why),
            ).where(Alarm.raised_again_at.is_not(None), RAISED_HERE)
        ).one()
        handed = session.scalar(select(func.count()).select_from(Alarm).where(handing.awaiting()))
        oldest = min((at for at in (opened, back_since) if at is not None), default=None)
        undelivered = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(is_undelivered(max_attempts))
        )
    return Waiting(
        [(kind, status, int(count)) for kind, status, count in rows],
        int(escalated or 0),
        oldest,
        int(undelivered or 0),
        int(back or 0),
        int(released or 0),
        int(handed or 0),
    )


def _alarms(registry: CollectorRegistry, waiting: Waiting) -> None:
    counts = _gauge(registry, "vigie_alarms", "alarms raised here and not closed", "kind", "status")
    for kind, status, count in waiting.by_kind_status:
        counts.labels(kind, status).set(count)
    _gauge(registry, "vigie_alarms_escalated", "alarms not closed that were escalated").set(
        waiting.escalated
    )
    _gauge(
        registry,
        "vigie_alarms_raised_again",
        "taken alarms to take again (their situation came back, or released), not yet taken",
    ).set(waiting.raised_again)
    _gauge(
        registry,
        "vigie_alarms_released",
        "of those, released: their holder gone, or handed over and not taken over in time",
    ).set(waiting.released)
    _gauge(
        registry,
        "vigie_alarms_handed_waiting",
        "alarms handed to an operator who has not taken them over yet",
    ).set(waiting.handed)
    oldest = waiting.oldest_unacknowledged
    _gauge(
        registry,
        "vigie_alarm_oldest_unacknowledged_seconds",
        "how long the oldest alarm no one acknowledged has waited (0: none waits)",
    ).set(0.0 if oldest is None else max(0.0, (clock.now() - oldest).total_seconds()))
    _gauge(registry, "vigie_outbox_undelivered", "reports the outbox stopped trying to send").set(
        waiting.undelivered
    )
