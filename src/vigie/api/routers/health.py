"""GET /api/health: is the centre serving and detecting? For the people who run the servers.

Open without a token (a load balancer or a supervisor's probe has none) and so free of personal
data: counts, times and states only. 200 when the database answers and detection is running;
503 otherwise, with what is wrong.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from vigie.api.deps import DatabaseDep
from vigie.api.limits import BoundedJsonRoute
from vigie.store import observations as log

router = APIRouter(prefix="/api/health", tags=["health"], route_class=BoundedJsonRoute)
logger = logging.getLogger(__name__)


class PipelineState(BaseModel):
    warm: bool
    cursor: int
    backlog: int
    last_step_at: datetime | None
    last_error: str | None


class Health(BaseModel):
    status: Literal["ok", "starting", "failing"]
    database: Literal["ok", "failing"]
    pipeline: PipelineState | None  # None: this process does not run detection


@router.get("", response_model=Health, responses={503: {"model": Health}})
def health(request: Request, db: DatabaseDep) -> JSONResponse:
    """The database reached, and the detection pipeline's state: loaded, cursor, backlog."""
    newest: int | None = None
    try:
        with db.reading() as session:
            newest = log.last_id(session)
    except Exception:  # whatever stops the store from answering is what this reports
        logger.exception("health: the database did not answer")
        database: Literal["ok", "failing"] = "failing"
    else:
        database = "ok"
    pipeline = getattr(request.app.state, "pipeline", None)
    state = None
    if pipeline is not None:
        now = pipeline.health
        state = PipelineState(
            warm=now.warm,
            cursor=now.cursor,
            backlog=max(0, newest - now.cursor) if newest is not None else 0,
            last_step_at=now.last_step_at,
            last_error=now.last_error,
        )
    status: Literal["ok", "starting", "failing"] = "ok"
    if database != "ok" or (state is not None and state.last_error is not None):
        status = "failing"
    elif state is not None and not state.warm:
        status = "starting"
    body = Health(status=status, database=database, pipeline=state)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if status == "ok" else 503)
