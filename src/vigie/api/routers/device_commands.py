"""Commands to devices: the supervisor queues one, the centre reads a device's history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from vigie import clock
from vigie.api.deps import CENTRE, DatabaseDep, DeviceId, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.cases.withdrawal import refuse_if_withdrawn
from vigie.gateway import command_queue
from vigie.gateway.commands import KINDS, BadCommand
from vigie.store.bounds import Line, Prose
from vigie.store.models import Device, User

router = APIRouter(prefix="/api", tags=["devices"], route_class=BoundedJsonRoute)
Supervisor = Annotated[User, Depends(allow("supervisor"))]
CentreUser = Annotated[User, Depends(allow(*CENTRE))]


class CommandIn(BaseModel):
    kind: Line = Field(max_length=30)
    args: dict[str, int] = Field(default_factory=dict, max_length=4)
    reason: Prose | None = Field(default=None, max_length=500)
    ttl_s: float = Field(default=command_queue.DEFAULT_TTL_S, ge=10, le=7 * 86_400)


@router.post("/devices/{device_id}/commands", status_code=201)
def queue_command(
    device_id: DeviceId, body: CommandIn, db: DatabaseDep, user: Supervisor
) -> dict[str, Any]:
    """Queue a command; the gateway delivers it when the device is connected."""
    with db.session() as session:
        device = session.get(Device, device_id)
        if device is not None:
            refuse_if_withdrawn(device)  # 409, where `queue` would only say "not registered"
        try:
            command = command_queue.queue(
                session,
                device_id,
                body.kind,
                dict(body.args),
                f"user:{user.username}",
                clock.now(),
                reason=body.reason,
                ttl_s=body.ttl_s,
            )
        except LookupError as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        except BadCommand as exc:
            field = "args" if body.kind in KINDS else "kind"
            raise ApiError(422, "invalid", str(exc), field=field) from exc
        return command_queue.summary(command)


@router.get("/devices/{device_id}/commands")
def command_history(
    device_id: DeviceId, db: DatabaseDep, _user: CentreUser
) -> list[dict[str, Any]]:
    with db.reading() as session:
        if session.get(Device, device_id) is None:
            raise ApiError(404, "not_found", f"device {device_id!r} is not registered")
        return [command_queue.summary(c) for c in command_queue.history(session, device_id)]
