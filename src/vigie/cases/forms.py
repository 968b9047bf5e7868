"""What a caller sends to create or change a case: validated at the edge, before any write."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vigie import weekly
from vigie.law.case import FIRST_YEAR, LAST_YEAR
from vigie.store.bounds import Document, Instant, Line, Phone, Prose, RowId

Measure = Literal["lsc", "ddse", "arse", "psem", "bar"]
# Far more than an order states (a week holds a few windows a day; her places are a home, a
# work, a school...): beyond, a list is a mistake or an attack, refused with a 422 naming it.
MAX_WINDOWS = 100
MAX_PLACES = 50
MAX_ZONES = 100  # and their vertices: `vigie.cases.geometry`


# A date of a case names a year the legal engine reckons in: a court order of 0001 or an end
# in 9999 is a typing slip, saved before and shown as it was.


def _plausible(day: date) -> date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return day


Day = Annotated[date, AfterValidator(_plausible)]


class _Form(BaseModel):
    # JSON has no NaN nor infinity (Python's parser takes them): a distance of `Infinity` km
    # is refused as not a number, not compared with the law's.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PersonIn(_Form):
    last_name: Line = Field(min_length=1, max_length=120)
    first_name: Line = Field(min_length=1, max_length=120)
    birth_date: Day | None = None
    address: Line | None = Field(default=None, max_length=400)
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)
    phone: Phone | None = None


class ContactIn(_Form):
    role: Literal["judge", "prosecutor", "spip"]
    name: Line = Field(min_length=1, max_length=200)
    email: str = Field(
        min_length=3, max_length=200, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"
    )
    service: Line | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    user_id: RowId | None = None


class Window(_Form):
    """Hours that apply on some days; `to` at or before `from` runs past midnight. Read as
    detection reads it (`vigie.weekly`): a window saved is a window watched."""

    days: str = Field(max_length=60, examples=["mon-fri", "sat,sun", "fri-mon", "daily"])
    from_: str = Field(alias="from", max_length=5, examples=["20:00"])
    to: str = Field(max_length=5, examples=["07:00", "24:00"])
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        weekly.days_of(value)
        return value

    @field_validator("from_", "to")
    @classmethod
    def _time(cls, value: str) -> str:
        weekly.minutes_of(value)
        return value

    @model_validator(mode="after")
    def _whole(self) -> Window:
        weekly.window_of(self.days, self.from_, self.to)  # a start at 24:00, from equal to to
        return self

    def record(self) -> dict[str, str]:
        return {"days": self.days, "from": self.from_, "to": self.to}


class ZoneIn(_Form):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["inclusion", "exclusion"]
    geometry: Document = Field(
        description="GeoJSON Polygon or MultiPolygon (lon/lat WGS84), or a circle "
        '{"type": "circle", "lat", "lon", "radius_m"} as the detection engine reads'
    )
    schedule: list[Window] | None = Field(default=None, max_length=MAX_WINDOWS)
    label: Line | None = Field(default=None, max_length=200)


class ProtectedPlace(_Form):
    id: Line = Field(min_length=1, max_length=40)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    label: Line | None = Field(default=None, max_length=200)


# A case's reference: what a case may be called (in URLs, file names and reports).
CASE_REF = r"^[A-Za-z0-9_.-]+$"
CASE_REF_MAX = 40


def generated_form(case_ref: str) -> bool:
    """True for the form of the references the centre gives cases opened without one."""
    return re.fullmatch(r"V\d+", case_ref) is not None


class PlacementIn(_Form):
    case_ref: str | None = Field(default=None, max_length=CASE_REF_MAX, pattern=CASE_REF)
    person_id: RowId
    protected_person_id: RowId | None = None
    measure: Measure
    court_order_ref: Line = Field(min_length=1, max_length=80)
    court_order_date: Day
    start_date: Day
    end_date: Day | None = None
    judge_id: RowId
    prosecutor_id: RowId
    spip_id: RowId
    police_station: Line | None = Field(default=None, max_length=200)
    police_phone: Phone | None = None
    law: Document = Field(
        description="the legal case for vigie.law.assess (CONTRACT.md), without `measure`"
    )
    schedule: list[Window] = Field(default_factory=list, max_length=MAX_WINDOWS)
    zones: list[ZoneIn] = Field(default_factory=list, max_length=MAX_ZONES)
    alert_distance_km: float | None = Field(default=None, gt=0)
    protected_places: list[ProtectedPlace] = Field(default_factory=list, max_length=MAX_PLACES)
    grace_s: int = Field(default=0, ge=0, le=3600)
    signal_timeout_s: int = Field(default=600, ge=30, le=86_400)

    @field_validator("case_ref")
    @classmethod
    def _case_ref(cls, value: str | None) -> str | None:
        if value is not None and generated_form(value):
            raise ValueError("references 'V<number>' are reserved for generated case refs")
        return value

    @field_validator("end_date")
    @classmethod
    def _end(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None:
            check_end(start, value)
        return value


def check_end(start: date, end: date) -> None:
    """An end before the start: the measure would never have run (ValueError)."""
    if end < start:
        raise ValueError(f"{end} is before the measure's start ({start})")


class PlacementChange(_Form):
    """A change of obligations; any field left out keeps its value. The law is asked again."""

    end_date: Day | None = None
    law: Document | None = None
    schedule: list[Window] | None = Field(default=None, max_length=MAX_WINDOWS)
    alert_distance_km: float | None = Field(default=None, gt=0)
    protected_places: list[ProtectedPlace] | None = Field(default=None, max_length=MAX_PLACES)
    grace_s: int | None = Field(default=None, ge=0, le=3600)
    signal_timeout_s: int | None = Field(default=None, ge=30, le=86_400)
    police_station: Line | None = Field(default=None, max_length=200)
    police_phone: Phone | None = None


class RenewalIn(_Form):
    """A renewal: the new end date and any facts that changed (ARSE's count is bumped for you)."""

    end_date: Day | None = None
    law_facts: Document = Field(default_factory=dict)


class DeviceIn(_Form):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: Literal["bracelet", "home_unit", "protected_device"]
    model: Line | None = Field(default=None, max_length=80)


WithdrawalReason = Literal["broken", "lost", "stolen", "returned", "repair", "other"]


class DeviceWithdrawalIn(_Form):
    """A device taken out of service, and why."""

    reason: WithdrawalReason = Field(
        description="broken; lost; stolen; returned (to its supplier); repair (sent for "
        "repair, may come back); other (say what in the note)"
    )
    note: Prose | None = Field(default=None, max_length=2000)


class DeviceReinstateIn(_Form):
    """A withdrawn device back in service (found, repaired): why, in words."""

    note: Prose = Field(min_length=1, max_length=2000)


class AssignmentIn(_Form):
    device_id: Line = Field(min_length=1, max_length=64)
    role: Literal["wearer", "home_unit", "protected"]


EndReason = Literal["term", "lifted", "revoked", "converted", "deceased", "other"]


class MeasureEndIn(_Form):
    """The end of a measure, as the court decided it (or its term reached)."""

    reason: EndReason = Field(
        description="term: its end date reached; lifted: ended early by the judge (mainlevée); "
        "revoked: revoked (retrait, révocation); converted: replaced by another measure; "
        "deceased; other (say what in the note)"
    )
    decision_ref: Line | None = Field(
        default=None,
        max_length=80,
        description="the decision it rests on; required unless the reason is the term",
    )
    note: Prose | None = Field(default=None, max_length=2000)
    ended_at: Instant | None = Field(
        default=None,
        description="when it took effect: now if left out; never ahead of now, at most 7 days back",
    )
