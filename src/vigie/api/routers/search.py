"""The header's search: a case by its reference, a person's name or a device id.

Case-insensitive and partial; a judge, prosecutor or SPIP officer finds only their own cases
(the same scope as the case files); every search is audited with what it found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.cases.access import placements_visible_to
from vigie.store import audit
from vigie.store.bounds import Line
from vigie.store.models import DeviceAssignment, Person, Placement, User

router = APIRouter(prefix="/api", tags=["cases"], route_class=BoundedJsonRoute)
Searcher = Annotated[User, Depends(allow(*CASE_READERS, "admin"))]
MAX_RESULTS = 20


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, case-insensitively, `%` and `_` taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _found(placement: Placement, match: str, label: str) -> dict[str, Any]:
    return {
        "placement_id": placement.id,
        "case_ref": placement.case_ref,
        "measure": placement.measure,
        "status": placement.status,
        "match": match,
        "label": label,
    }


def find(session: Session, user: User, text: str) -> list[dict[str, Any]]:
    visible = placements_visible_to(user)
    results: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()

    def add(placement: Placement, match: str, label: str) -> None:
        if (placement.id, match) not in seen and len(results) < MAX_RESULTS:
            seen.add((placement.id, match))
            results.append(_found(placement, match, label))

    by_ref = select(Placement).where(visible, _contains(Placement.case_ref, text))
    for placement in session.scalars(by_ref.order_by(Placement.case_ref).limit(MAX_RESULTS)):
        add(placement, "case", placement.case_ref)
    full = Person.last_name + " " + Person.first_name
    reverse = Person.first_name + " " + Person.last_name
    for role, column in (
        ("wearer", Placement.person_id),
        ("protected", Placement.protected_person_id),
    ):
        by_name = (
            select(Placement, Person)
            .join(Person, Person.id == column)
            .where(visible, or_(_contains(full, text), _contains(reverse, text)))
            .order_by(Person.last_name, Placement.case_ref)
            .limit(MAX_RESULTS)
        )
        for placement, person in session.execute(by_name):
            add(placement, role, f"{person.last_name} {person.first_name}")
    by_device = (
        select(Placement, DeviceAssignment.device_id)
        .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
        .where(
            visible,
            DeviceAssignment.until.is_(None),
            _contains(DeviceAssignment.device_id, text),
        )
        .order_by(DeviceAssignment.device_id)
        .limit(MAX_RESULTS)
    )
    for placement, device in session.execute(by_device):
        add(placement, "device", device)
    return results


@router.get("/search")
def search(
    db: DatabaseDep,
    user: Searcher,
    q: Annotated[Line, Query(min_length=2, max_length=80, description="2 characters or more")],
) -> list[dict[str, Any]]:
    """Cases whose reference, wearer's or protected person's name, or current device id
    contains `q` (case-insensitive), among the cases the caller may see; links to the case."""
    text = q.strip()
    # Read without the write lock, then audited before anything is answered (as the queue).
    with db.reading() as session:
        found = find(session, user, text) if len(text) >= 2 else []
    with db.session() as session:
        audit.record(
            session,
            user.username,
            "search",
            "cases",
            {"q": text, "placements": sorted({f["placement_id"] for f in found})},
        )
    return found
