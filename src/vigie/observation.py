"""One model of an observation, checked the same way wherever one comes in.

The API (`POST /api/observations`), the gateway's protocols (Teltonika, OsmAnd, MQTT, GT06) and the
live pipeline (on what is already stored) all judge a record here: the detection engine's own
vocabulary (types, tamper `what`, booleans that are booleans, finite numbers in range) and its
time relative to when the centre received it. A device's clock must not move the centre's time:
a record more than `max_skew_s` ahead of its receipt is refused, and so is one older than the
horizon (`max_age_s` before receipt), which no live detection can use and no retention keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from vigie.detect import TamperWhat
from vigie.store.bounds import Instant, check_storable

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
MAX_ACCURACY_M = 100_000


class Refused(ValueError):
    """A record refused: the field at fault and why (the message a person reads)."""

    def __init__(self, field: str, reason: str, *, clock: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.clock = clock  # the device's clock is at fault, not what it reports


class _Obs(BaseModel):
    # Extra fields are kept: the payload is stored whole, as the device sent it.
    model_config = ConfigDict(extra="allow")
    kind: Literal["obs"] = "obs"
    device: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    t: Instant
    seq: int | None = Field(
        default=None, ge=0, lt=2**63, description="device sequence number, if any"
    )

    @model_validator(mode="after")
    def _extras_are_text(self) -> Self:
        """The extras are kept as sent, so they must be storable and written back as JSON: JSON
        can escape a lone surrogate (half a character) or a NUL, which PostgreSQL does not store
        as text, and Python's parser reads NaN and infinities, which no JSON reader of an export
        takes."""
        for name, value in (self.__pydantic_extra__ or {}).items():
            check_storable(value, name)
        return self


class Position(_Obs):
    type: Literal["position"]
    lat: Latitude
    lon: Longitude
    accuracy_m: float = Field(ge=0, le=MAX_ACCURACY_M, allow_inf_nan=False)

    @model_validator(mode="after")
    def _has_a_fix(self) -> Self:
        if self.lat == 0 and self.lon == 0:
            raise ValueError("coordinates 0, 0: a receiver without a fix")
        return self


class Presence(_Obs):
    type: Literal["presence"]
    present: StrictBool


class Tamper(_Obs):
    type: Literal["tamper"]
    what: TamperWhat


class Battery(_Obs):
    type: Literal["battery"]
    level: Fraction


class Power(_Obs):
    type: Literal["power"]
    mains: StrictBool


class Sos(_Obs):
    """A call for help (the protected person's or the wearer's alert button): no position;
    a device that sends one with its fix gives a `position` and an `sos` of the same `t`."""

    type: Literal["sos"]


ObservationIn = Annotated[
    Position | Presence | Tamper | Battery | Power | Sos, Field(discriminator="type")
]


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far a record's time may stand from its receipt (the centre's settings)."""

    max_skew_s: float = 300.0
    max_age_s: float = 365 * 86_400.0
    _skew: timedelta = field(init=False, repr=False, compare=False)
    _age: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Once, not per observation: this runs for every record of every way in.
        object.__setattr__(self, "_skew", timedelta(seconds=self.max_skew_s))
        object.__setattr__(self, "_age", timedelta(seconds=self.max_age_s))

    def check(self, t: datetime, received_at: datetime) -> None:
        """Refuse (`Refused`, field `t`, `clock=True`) a time the centre cannot take as is."""
        ahead = t - received_at
        if ahead > self._skew:
            raise Refused(
                "t",
                f"{iso(t)} is {ahead.total_seconds():.0f} s ahead of its receipt "
                f"(the device's clock; at most {self.max_skew_s:g} s allowed)",
                clock=True,
            )
        if -ahead > self._age:
            raise Refused(
                "t",
                f"{iso(t)} is more than {self.max_age_s / 86_400:g} days before its receipt",
                clock=True,
            )


def iso(t: datetime) -> str:
    """UTC with "Z", the one form every consumer reads."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_ms(t: datetime) -> str:
    """UTC with "Z" to the millisecond: how the gateways write a reading's time (and the engine's
    records, whose clock is milliseconds)."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire_record(observation: _Obs) -> dict[str, Any]:
    """The replay-format record, with `t` in UTC ("Z") so every consumer reads one form."""
    record = observation.model_dump(mode="json", exclude_none=True)
    record["t"] = iso(observation.t)
    return record


def field_of(error: ValidationError) -> str:
    """The field of a pydantic error as a path ("what", "extra.x[2]"); the union's tag dropped."""
    loc = [p for p in error.errors()[0]["loc"] if p not in _TAGS]
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "record"


_TAGS = frozenset({"position", "presence", "tamper", "battery", "power", "sos"})
Observation = Position | Presence | Tamper | Battery | Power | Sos
_ADAPTER: TypeAdapter[Observation] = TypeAdapter(ObservationIn)


def parse(record: Any) -> Observation:
    """The typed observation of a record (a dict as decoded from JSON); `Refused` if it is not."""
    try:
        return _ADAPTER.validate_python(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"])
        if not isinstance(first.get("input"), dict | list):
            reason += f" (got {first.get('input')!r:.80})"
        raise Refused(field_of(exc), reason) from exc


def validate(
    record: Any, received_at: datetime, bounds: TimeBounds
) -> tuple[Observation, datetime]:
    """A record received at `received_at`, typed, and its time in UTC; else `Refused`."""
    observation = parse(record)
    t = observation.t.astimezone(UTC)
    bounds.check(t, received_at)
    return observation, t


def is_finite_fix(lat: Any, lon: Any, accuracy_m: Any) -> bool:
    """A stored fix's columns, as `Position` admits them (the pipeline's fast check)."""
    return (
        all(isinstance(v, int | float) and math.isfinite(v) for v in (lat, lon, accuracy_m))
        and -90 <= lat <= 90
        and -180 <= lon <= 180
        and 0 <= accuracy_m <= MAX_ACCURACY_M
        and not (lat == 0 and lon == 0)
    )
