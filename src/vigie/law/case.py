"""The case as the engine receives it: validated at the edge with pydantic.

Anything a rule cannot work with is refused here, or by the rule that needs it, with a
`LawInputError` naming the field (`facts.alert_distance_km`, `sentences[0].quantum`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)

from vigie.law.errors import LawInputError
from vigie.law.reckoning import Quantum, parse_quantum

Measure = Literal["lsc", "ddse", "arse", "psem", "bar", "sentence"]
MEASURES: tuple[str, ...] = ("lsc", "ddse", "arse", "psem", "bar", "sentence", "fiche")
OffenceTag = Literal[
    "terrorism",
    "minor_under_15",
    "public_authority",
    "partner_aggravation",
    "partner_violence_131_36_12_1",
    "list_706_53_13",
    "terrorism_421_2_5",
    "public_authority_721_1_2",
]
Relationship = Literal[
    "spouse",
    "cohabitee",
    "pacs_partner",
    "former_spouse",
    "former_cohabitee",
    "former_pacs_partner",
    "other",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The years a date of a case may name, and the days a count may hold: with a century at most a
# sentence (`parse_quantum`) and a thousand years of them in all, every date the engine reckons
# from a case stays within Python's (year 9999), where a date of 9999 or a count of a million
# days ended the assessment on an OverflowError (a traceback, a 500 from the API).
FIRST_YEAR, LAST_YEAR = 1900, 2199
MAX_DAYS = 36_525  # a hundred years
MAX_TOTAL_YEARS = 1000


def _iso_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise ValueError(f"must be a date written YYYY-MM-DD, got {raw!r}")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not a calendar date: {raw!r}") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}, got {raw!r}")
    return day


def _quantum(raw: Any) -> Quantum:
    if isinstance(raw, Quantum):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"must be a duration like '2 ans 6 mois' or 'P2Y6M', got {raw!r}")
    return parse_quantum(raw)


def _number(raw: Any) -> float:
    # bool is an int in Python; a JSON `true` is never a number of years or kilometres.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"must be a number, got {raw!r}")
    if raw != raw or raw < 0:  # NaN or negative
        raise ValueError(f"must be a number >= 0, got {raw!r}")
    return float(raw)


def _whole_km(raw: Any) -> int:
    km = _number(raw)
    if km != int(km):
        raise ValueError(f"must be a whole number of kilometres (CPP R24-18), got {raw!r}")
    return int(km)


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Duration = Annotated[Quantum, BeforeValidator(_quantum)]
Number = Annotated[float, BeforeValidator(_number)]
WholeKm = Annotated[int, BeforeValidator(_whole_km)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_DAYS)]
# An ARSE is renewed a few times at most (its whole length is bounded: CPP 142-7).
Renewals = Annotated[StrictInt, Field(ge=0, le=100)]


class Sentence(BaseModel):
    """One firm prison sentence (or its firm part); several are served one after the other."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    quantum: Duration
    category: Literal["delit", "crime"]
    recidivism: StrictBool = False
    offences: tuple[OffenceTag, ...] = ()


class Facts(BaseModel):
    """The case's facts by name; each is optional here and required by the rule that reads it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # lsc
    refused_lsc: StrictBool | None = None
    adjustment_request_pending: StrictBool | None = None
    disciplinary_violence: StrictBool | None = None
    has_accommodation: StrictBool | None = None
    amenagement_sous_ecrou: StrictBool | None = None
    pe_supervised: StrictBool | None = None
    notified_on: IsoDate | None = None
    # ddse
    as_adjustment: StrictBool | None = None
    probation_step: StrictBool | None = None
    # arse
    mis_en_examen: StrictBool | None = None
    consent_with_lawyer: StrictBool | None = None
    spip_check_done: StrictBool | None = None
    order_date: IsoDate | None = None
    renewals_so_far: Renewals | None = None
    mobile: StrictBool | None = None
    ssj_incurred: StrictBool | None = None
    partner_violence_5y: StrictBool | None = None
    request_date: IsoDate | None = None
    final_decision_date: IsoDate | None = None
    # psem
    route: Literal["131-36-10", "R61-33"] | None = None
    detained: StrictBool | None = None
    dangerousness_established: StrictBool | None = None
    commission_opinion: StrictBool | None = None
    ssj: StrictBool | None = None
    # bar
    under_judicial_supervision: StrictBool | None = None
    victim_consent: StrictBool | None = None
    relationship: Relationship | None = None
    alert_distance_km: WholeKm | None = None
    # shared
    incurred_years: Number | None = None
    notification_date: IsoDate | None = None
    start_date: IsoDate | None = None


class Case(BaseModel):
    """A case as in CONTRACT.md; extra fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    measure: Measure
    as_of: IsoDate | None = None
    birth_date: IsoDate | None = None
    committal_date: IsoDate | None = None
    ecrou_date: IsoDate | None = None
    pretrial_days: Count = 0
    arse_days: Count = 0
    reductions_days: Count = 0
    sentences: tuple[Sentence, ...] = ()
    facts: Facts = Facts()


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "case"


def parse_case(raw: Any) -> Case:
    """Validate a case dict; raise `LawInputError` naming the first field at fault."""
    if not isinstance(raw, dict):
        raise LawInputError("case", f"must be a JSON object, got {type(raw).__name__}")
    if "measure" in raw and raw["measure"] not in MEASURES:
        raise LawInputError(
            "measure", f"unknown measure {raw['measure']!r}; expected one of {', '.join(MEASURES)}"
        )
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "missing (required)"
        raise LawInputError(_where(tuple(first["loc"])), message) from None
    check_total([s.quantum for s in case.sentences])
    return case


def check_total(quanta: list[Quantum]) -> None:
    """Refuse sentences that add up to more than `MAX_TOTAL_YEARS` (served one after another,
    their dates would leave the calendar)."""
    months = sum(q.total_months + q.days / 31 for q in quanta)
    if months > 12 * MAX_TOTAL_YEARS:
        raise LawInputError(
            "sentences", f"more than {MAX_TOTAL_YEARS} years in all ({round(months / 12)})"
        )


def require(facts: Facts, name: str, needed_by: str) -> Any:
    """A fact the rule `needed_by` reads; its absence is an input error, never a guess."""
    found = getattr(facts, name)
    if found is None:
        raise LawInputError(f"facts.{name}", f"missing; needed by {needed_by}")
    return found
