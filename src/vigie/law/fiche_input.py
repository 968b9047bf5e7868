"""The `fiche` measure's input: a fiche pénale as a greffe keeps it, validated at the edge.

Several sentences, each put into execution on its own date (`start`); credits as dated
intervals (716-4); reductions as dated grants and withdrawals; measures withdrawn or revoked.
Every reference between items (`confused_with`, `sentence`) is checked here, so a rule never
meets a dangling id; a fault is a `LawInputError` naming the field (`credits[1].to`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

from vigie.law.case import MAX_DAYS, Duration, IsoDate, OffenceTag, _where, check_total
from vigie.law.errors import LawInputError

_DEPARTEMENT = re.compile(r"0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6]")


def _departement(raw: Any) -> str:
    if not isinstance(raw, str) or not _DEPARTEMENT.fullmatch(raw):
        raise ValueError(f"must be a département code like '75', '2A', '67' or '974', got {raw!r}")
    return raw


Departement = Annotated[str, BeforeValidator(_departement)]
Days = Annotated[int, Field(strict=True, gt=0, le=MAX_DAYS)]


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class RevokedPart(_Item):
    """A suspended sentence (sursis) revoked: its quantum is served after the firm part."""

    quantum: Duration
    revoked_on: IsoDate


class FicheSentence(_Item):
    id: str = Field(min_length=1)
    start: IsoDate  # mise à exécution (716-2)
    quantum: Duration
    category: Literal["delit", "crime"]
    offences: tuple[OffenceTag, ...] = ()
    confused_with: str | None = None
    revoked_suspended: tuple[RevokedPart, ...] = ()
    surete: Duration | None = None  # période de sûreté (CP 132-23), when the court set one
    final_on: IsoDate | None = None  # the day the conviction became final (721: DP reductions)


class Credit(_Item):
    """Time credited (716-4: DP, mandat, detention abroad under an EAW or extradition; 142-11:
    ARSE), both the first and the last day counted."""

    sentence: str
    kind: Literal["dp", "mandat", "eaw", "extradition", "arse"]
    from_: IsoDate = Field(alias="from")
    to: IsoDate


class Grant(_Item):
    """Reductions granted (721 since 2023, or RPS before) on a date, for a sentence."""

    date: IsoDate
    days: Days
    sentence: str | None = None  # default: the last sentence in execution


class Withdrawal(_Item):
    """Reductions withdrawn (retrait): of a grant since 2023, of CRP or RPS before."""

    date: IsoDate
    days: Days
    kind: Literal["721", "crp", "rps"] = "721"
    sentence: str | None = None


class MeasureEvent(_Item):
    """A measure withdrawn or revoked on `decided_on`, that began on `from`."""

    kind: Literal["lsc", "ddse", "parole", "arse"]
    sentence: str
    from_: IsoDate = Field(alias="from")
    decided_on: IsoDate
    modality: Literal["lc", "ddse", "sl", "pe"] | None = None  # the LSC's modality


class FicheFacts(_Item):
    parent_of_child_under_10: StrictBool | None = None
    disciplinary_violence: StrictBool | None = None
    has_accommodation: StrictBool | None = None
    notified_parquet_on: IsoDate | None = None
    psem: StrictBool | None = None
    psem_expiry: IsoDate | None = None


class Fiche(_Item):
    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    measure: Literal["fiche"]
    as_of: IsoDate | None = None
    ecrou_date: IsoDate | None = None
    departement: Departement | None = None
    sentences: tuple[FicheSentence, ...] = Field(min_length=1)
    credits: tuple[Credit, ...] = ()
    grants: tuple[Grant, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = ()
    events: tuple[MeasureEvent, ...] = ()
    facts: FicheFacts = FicheFacts()


def _check_refs(f: Fiche) -> None:
    ids = [s.id for s in f.sentences]
    for i, s in enumerate(f.sentences):
        if ids.count(s.id) > 1:
            raise LawInputError(f"sentences[{i}].id", f"duplicate id {s.id!r}")
        if s.confused_with is not None:
            if s.confused_with not in ids or s.confused_with == s.id:
                raise LawInputError(
                    f"sentences[{i}].confused_with",
                    f"no other sentence with id {s.confused_with!r}",
                )
            target = f.sentences[ids.index(s.confused_with)]
            if target.confused_with is not None:
                raise LawInputError(
                    f"sentences[{i}].confused_with",
                    f"{target.id!r} is itself confused with another: name the absorbing sentence",
                )
    refs: list[tuple[str, int, str | None]] = [
        ("credits", i, c.sentence) for i, c in enumerate(f.credits)
    ]
    refs += [("grants", i, g.sentence) for i, g in enumerate(f.grants)]
    for name, i, ref in refs:
        if ref is not None and ref not in ids:
            raise LawInputError(f"{name}[{i}].sentence", f"no sentence with id {ref!r}")
    for i, w in enumerate(f.withdrawals):
        if w.sentence is not None and w.sentence not in ids:
            raise LawInputError(f"withdrawals[{i}].sentence", f"no sentence with id {w.sentence!r}")
    for i, c in enumerate(f.credits):
        if c.to < c.from_:
            raise LawInputError(f"credits[{i}].to", f"{c.to} is before from {c.from_}")
    for i, e in enumerate(f.events):
        if e.sentence not in ids:
            raise LawInputError(f"events[{i}].sentence", f"no sentence with id {e.sentence!r}")
        if e.decided_on < e.from_:
            raise LawInputError(
                f"events[{i}].decided_on", f"{e.decided_on} is before from {e.from_}"
            )
        if e.kind == "lsc" and e.modality is None:
            raise LawInputError(
                f"events[{i}].modality", "missing; an LSC withdrawal needs it (720)"
            )


def parse_fiche(raw: dict[str, Any]) -> Fiche:
    """Validate a fiche; raise `LawInputError` naming the first field at fault."""
    try:
        fiche = Fiche.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "missing (required)"
        loc = tuple("from" if p == "from_" else p for p in first["loc"])
        raise LawInputError(_where(loc), message) from None
    _check_refs(fiche)
    check_total(
        [s.quantum for s in fiche.sentences]
        + [r.quantum for s in fiche.sentences for r in s.revoked_suspended]
    )
    return fiche
