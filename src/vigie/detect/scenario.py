"""Replay records (see the replay contract): parse and validate them before anything runs.

Placements are validated strictly (unknown fields are refused: a misspelt setting such as
``grace`` for ``grace_s`` would otherwise silently fall back to its default on an obligation a
judge ordered). Observations and ticks ignore unknown fields, so gateways and the simulator may
carry extra metadata (ground truth, raw frames) without breaking replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# A constrained release (LSC, CPP 720) under a bracelet runs as a home detention or a release
# with mobile monitoring: it is watched for the hours and zones it carries (hours need a home
# unit, as for any measure); the API saved LSC placements that detection then refused.
MEASURES = frozenset({"ddse", "arse", "psem", "bar", "lsc"})


class ScenarioError(ValueError):
    """A record that cannot be run; names the line (1-based, or None) and the field at fault."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        self.reason = message
        where = f"line {line}: " if line is not None else ""
        what = f"field '{field}': " if field is not None else ""
        super().__init__(f"{where}{what}{message}")


_FIRST_YEAR, _LAST_YEAR = 1970, 9000


def parse_time(value: Any, field: str = "t") -> int:
    """Epoch milliseconds of an ISO-8601 instant that carries its offset (``Z`` or ``+hh:mm``)."""
    if not isinstance(value, str):
        raise ScenarioError("expected an ISO-8601 timestamp string", field=field)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ScenarioError(f"not an ISO-8601 timestamp: {value!r}", field=field) from exc
    if moment.tzinfo is None:
        raise ScenarioError(
            f"timestamp {value!r} has no offset; write it in UTC with 'Z'", field=field
        )
    # No device speaks from before 1970 nor near the calendar's end, where a window's next
    # day overflowed (a year-1 fix ended a replay on an OverflowError, not an exit 2).
    if not _FIRST_YEAR <= moment.year < _LAST_YEAR:
        raise ScenarioError(
            f"timestamp {value!r} is not between the years {_FIRST_YEAR} and {_LAST_YEAR - 1}",
            field=field,
        )
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WindowSpec(_Strict):
    """One weekly window: ``days`` like "mon-fri", "sat,sun", "daily"; ``from``/``to`` "HH:MM"."""

    days: str
    from_: str = Field(alias="from")
    to: str


class ZoneSpec(_Strict):
    """A zone: GeoJSON Polygon or MultiPolygon, or a circle (see vigie.detect.zones)."""

    id: str = Field(min_length=1)
    type: Literal["exclusion", "inclusion"]
    geometry: dict[str, Any]
    schedule: list[WindowSpec] | None = None


class PlaceSpec(_Strict):
    """A protected place (the protected person's home, work...)."""

    id: str = Field(min_length=1)
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class PlacementSpec(_Strict):
    """A ``placement`` record: one case's obligations and devices."""

    kind: Literal["placement"]
    case: str = Field(min_length=1)
    measure: str
    wearer: str = Field(min_length=1)
    home_unit: str | None = None
    schedule: list[WindowSpec] | None = None
    zones: list[ZoneSpec] = []
    protected: str | None = None
    alert_distance_km: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    protected_places: list[PlaceSpec] = []
    tz: str = "Europe/Paris"
    grace_s: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 0
    signal_timeout_s: Annotated[float, Field(gt=0, le=7 * 86_400, allow_inf_nan=False)] = 600
    low_battery: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.20
    # Confirmation bounds of a breach (``detect.persistence``): zones and pre-alert, and the
    # BAR alert. None: raised on the first certain fix.
    confirm_s: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] | None = None
    alert_confirm_s: Annotated[float, Field(ge=0, le=3_600, allow_inf_nan=False)] | None = None
    # When each device became this case's (ISO-8601 with its offset in the record; optional),
    # here in epoch milliseconds: a device heard before, under another case or on a shelf, is
    # silent for this case from then, not from its last word there.
    fitted: dict[str, int] = {}

    @field_validator("fitted", mode="before")
    @classmethod
    def _fitting_times(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # refused by the field's type
        return {device: parse_time(at, f"fitted.{device}") for device, at in value.items()}

    @field_validator("measure")
    @classmethod
    def _known_measure(cls, value: str) -> str:
        if value.lower() not in MEASURES:
            raise ValueError(f"unknown measure {value!r}; expected one of {sorted(MEASURES)}")
        return value.lower()

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class _ObsHead(_Lenient):
    kind: Literal["obs"]
    device: str = Field(min_length=1)
    t: str
    type: str


class _PositionBody(_Lenient):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    accuracy_m: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _PresenceBody(_Lenient):
    present: bool


# What a tamper report may say: the engine's whole vocabulary (the replay contract).
TamperWhat = Literal[
    "strap_open", "strap_cut", "case_open", "restored", "strap_closed", "case_closed"
]
TAMPER_WHATS: frozenset[str] = frozenset(get_args(TamperWhat))


class _TamperBody(_Lenient):
    what: TamperWhat


class _BatteryBody(_Lenient):
    level: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _PowerBody(_Lenient):
    mains: bool


class _SosBody(_Lenient):
    """A call for help carries nothing but its device and time."""


class _TickBody(_Lenient):
    kind: Literal["tick"]
    t: str


_BODIES: dict[str, type[BaseModel]] = {
    "position": _PositionBody,
    "presence": _PresenceBody,
    "tamper": _TamperBody,
    "battery": _BatteryBody,
    "power": _PowerBody,
    "sos": _SosBody,
}

# The fields each kind of observation carries (the replay contract), for the edges that build
# records: the live pipeline from stored rows, the MQTT decoder from devices' JSON.
OBSERVATION_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(body.model_fields) for kind, body in _BODIES.items()
}


@dataclass(frozen=True, slots=True)
class Position:
    device: str
    t_ms: int
    lat: float
    lon: float
    accuracy_m: float


@dataclass(frozen=True, slots=True)
class Presence:
    device: str
    t_ms: int
    present: bool


@dataclass(frozen=True, slots=True)
class Tamper:
    device: str
    t_ms: int
    what: str


@dataclass(frozen=True, slots=True)
class Battery:
    device: str
    t_ms: int
    level: float


@dataclass(frozen=True, slots=True)
class Power:
    device: str
    t_ms: int
    mains: bool


@dataclass(frozen=True, slots=True)
class Sos:
    device: str
    t_ms: int


@dataclass(frozen=True, slots=True)
class Tick:
    t_ms: int


Observation = Position | Presence | Tamper | Battery | Power | Sos
Record = Observation | Tick


def _field_of(error: ValidationError) -> str:
    first = error.errors()[0]
    return ".".join(str(part) for part in first["loc"]) or "record"


def _message_of(error: ValidationError) -> str:
    first = error.errors()[0]
    return str(first["msg"])


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_message_of(exc), field=_field_of(exc)) from exc


def parse_placement(data: dict[str, Any]) -> PlacementSpec:
    """Validate a placement record (geometry and schedules are checked when compiled)."""
    spec = _validate(PlacementSpec, data)
    assert isinstance(spec, PlacementSpec)
    return spec


def parse_event(data: dict[str, Any]) -> Record:
    """An ``obs`` or ``tick`` record as a typed value with its time in epoch milliseconds."""
    kind = data.get("kind")
    if kind == "tick":
        tick = _validate(_TickBody, data)
        assert isinstance(tick, _TickBody)
        return Tick(parse_time(tick.t))
    if kind != "obs":
        raise ScenarioError(f"expected 'obs' or 'tick', got {kind!r}", field="kind")
    head = _validate(_ObsHead, data)
    assert isinstance(head, _ObsHead)
    t_ms = parse_time(head.t)
    body_model = _BODIES.get(head.type)
    if body_model is None:
        raise ScenarioError(
            f"unknown observation type {head.type!r}; expected one of {sorted(_BODIES)}",
            field="type",
        )
    body = _validate(body_model, data)
    if isinstance(body, _PositionBody):
        return Position(head.device, t_ms, body.lat, body.lon, body.accuracy_m)
    if isinstance(body, _PresenceBody):
        return Presence(head.device, t_ms, body.present)
    if isinstance(body, _TamperBody):
        return Tamper(head.device, t_ms, body.what)
    if isinstance(body, _BatteryBody):
        return Battery(head.device, t_ms, body.level)
    if isinstance(body, _SosBody):
        return Sos(head.device, t_ms)
    assert isinstance(body, _PowerBody)
    return Power(head.device, t_ms, body.mains)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole parsed scenario: placements (by case, last one wins) and events in file order."""

    placements: list[tuple[dict[str, Any], int]]
    events: list[Record]
    event_lines: list[int]


def parse_scenario(lines: Iterable[str]) -> Scenario:
    """Parse every line first; the first bad line raises ScenarioError naming it and its field."""
    placements: list[tuple[dict[str, Any], int]] = []
    events: list[Record] = []
    event_lines: list[int] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"not valid JSON ({exc.msg})", line=number, field="record") from exc
        except RecursionError:  # nested deeper than the parser's stack: a traceback before
            raise ScenarioError("JSON nested too deeply", line=number, field="record") from None
        if not isinstance(data, dict):
            raise ScenarioError("a record must be a JSON object", line=number, field="record")
        try:
            if data.get("kind") == "placement":
                parse_placement(data)
                placements.append((data, number))
            else:
                events.append(parse_event(data))
                event_lines.append(number)
        except ScenarioError as exc:
            raise ScenarioError(exc.reason, line=number, field=exc.field) from exc
    return Scenario(placements, events, event_lines)
