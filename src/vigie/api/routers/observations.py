"""POST /api/observations: batched, idempotent, durable before it answers."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from vigie import clock
from vigie.api.deps import DatabaseDep, SettingsDep, allow
from vigie.api.errors import ApiError
from vigie.observation import ObservationIn, Refused, wire_record
from vigie.store import observations as log
from vigie.store.models import User

router = APIRouter(prefix="/api/observations", tags=["observations"])
# The gateway posts with a centre account; field people never feed the log.
Ingest = Annotated[User, Depends(allow("operator", "supervisor", "admin"))]


class Batch(BaseModel):
    observations: list[ObservationIn] = Field(min_length=1, max_length=20_000)


class Receipt(BaseModel):
    accepted: int
    duplicates: int
    ids: list[int]


@router.post("")
def post_observations(
    batch: Batch, request: Request, db: DatabaseDep, config: SettingsDep, _user: Ingest
) -> Receipt:
    """Store a batch in one transaction, then acknowledge: an acknowledged observation is durable.

    The whole batch is validated before anything is written; replays of stored observations
    (same device and sequence number, or same device and time when there is none) are counted
    as duplicates and not stored twice. Every observation is the one model's
    (`vigie.observation`): the engine's vocabulary, and a time within the clock skew allowed
    ahead of its receipt and the horizon behind it (422 naming the field otherwise).
    """
    received_at = clock.now()
    bounds = config.time_bounds
    for index, observation in enumerate(batch.observations):
        try:
            bounds.check(observation.t.astimezone(UTC), received_at)
        except Refused as exc:
            field = f"observations[{index}].{exc.field}"
            raise ApiError(422, "invalid_input", f"{field}: {exc.reason}", field) from exc
    rows = [
        log.row_for(wire_record(o), o.t.astimezone(UTC), received_at) for o in batch.observations
    ]
    with db.session() as session:
        accepted = log.append(session, rows)
    pipeline = getattr(request.app.state, "pipeline", None)
    if pipeline is not None and accepted.ids:
        pipeline.wake()
    return Receipt(accepted=len(accepted.ids), duplicates=accepted.duplicates, ids=accepted.ids)
