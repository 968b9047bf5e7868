"""The audit log (admin): entries, and the chain's verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store.bounds import Count, Line
from vigie.store.models import AuditEntry, User

router = APIRouter(prefix="/api/audit", tags=["audit"], route_class=BoundedJsonRoute)
Admin = Annotated[User, Depends(allow("admin"))]


@router.get("")
def entries(
    db: DatabaseDep,
    user: Admin,
    actor: Annotated[Line | None, Query(max_length=200)] = None,
    after_id: Annotated[Count, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    query = select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    with db.session() as session:
        rows = [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
                "hash": e.hash,
            }
            for e in session.scalars(query)
        ]
        audit.record(session, user.username, "read", "audit_log", {"after_id": after_id})
        return rows


@router.get("/verify")
def verify(db: DatabaseDep, _user: Admin) -> dict[str, Any]:
    with db.session() as session:
        checked, breach = audit.verify(session)
    return {
        "intact": breach is None,
        "checked": checked,
        "broken_entry": breach.entry_id if breach else None,
        "reason": breach.reason if breach else None,
    }
