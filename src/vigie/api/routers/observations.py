"""POST /api/observations: batched, idempotent, durable before it answers."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from vigie import clock
from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store import observations as log
from vigie.store.bounds import Count
from vigie.store.models import User

router = APIRouter(prefix="/api/observations", tags=["observations"], route_class=BoundedJsonRoute)
# Observations come from devices (the gateway) or from an integration account, whose name is
# recorded with every row it posts; people's accounts never feed the log: a forged fix could
# clear a live alarm.
Ingest = Annotated[User, Depends(allow("integration"))]


class _Obs(BaseModel):
    # Extra fields are kept: the payload is stored whole, as the device sent it.
    model_config = ConfigDict(extra="allow")
    kind: Literal["obs"] = "obs"
    device: str = Field(min_length=1, max_length=64)
    t: AwareDatetime
    seq: Count | None = Field(default=None, description="device sequence number, if any")

    @model_validator(mode="after")
    def _extras_are_text(self) -> Self:
        """The extras are kept as sent, so they must be storable: JSON can escape a lone
        surrogate (half a character), which no database stores as text (PostgreSQL refuses)."""
        for name, value in (self.__pydantic_extra__ or {}).items():
            _check_text(value, name)
        return self


def _check_text(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{where}: not Unicode text (a lone surrogate escape)") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}[{index}]")


class Position(_Obs):
    type: Literal["position"]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float = Field(ge=0, le=100_000)


class Presence(_Obs):
    type: Literal["presence"]
    present: bool


class Tamper(_Obs):
    type: Literal["tamper"]
    what: str = Field(min_length=1, max_length=40)


class Battery(_Obs):
    type: Literal["battery"]
    level: float = Field(ge=0, le=1)


class Power(_Obs):
    type: Literal["power"]
    mains: bool


ObservationIn = Annotated[
    Position | Presence | Tamper | Battery | Power, Field(discriminator="type")
]


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


def wire_record(observation: _Obs) -> dict[str, Any]:
    """The replay-format record, with `t` in UTC ("Z") so every consumer reads one form."""
    record = observation.model_dump(mode="json", exclude_none=True)
    record["t"] = observation.t.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return record


@router.post("")
def post_observations(batch: Batch, request: Request, db: DatabaseDep, user: Ingest) -> Receipt:
    """Store a batch in one transaction, then acknowledge: an acknowledged observation is durable.

    The whole batch is validated before anything is written; replays of stored observations
    (same device and sequence number, or same device and time when there is none) are counted
    as duplicates and not stored twice; a sequence number already stored with other content is
    stored as a conflict. Every row records the account that posted it; every batch is audited.
    """
    received_at = clock.now()
    source = f"api:{user.username}"
    rows = [
        log.row_for(wire_record(o), o.t.astimezone(UTC), received_at, source=source)
        for o in batch.observations
    ]
    with db.session() as session:
        accepted = log.append(session, rows)
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
            },
        )
    pipeline = getattr(request.app.state, "pipeline", None)
    if pipeline is not None and accepted.ids:
        pipeline.wake()
    return Receipt(
        accepted=len(accepted.ids),
        duplicates=accepted.duplicates,
        ids=accepted.ids,
        conflicts=accepted.conflicts,
    )
