"""POST /api/law/assess: the legal calculator, the same engine as `vigie law assess`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from vigie import law
from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store.bounds import Document
from vigie.store.models import User

router = APIRouter(prefix="/api/law", tags=["law"], route_class=BoundedJsonRoute)
Lawyer = Annotated[User, Depends(allow("operator", "supervisor", "spip", "judge", "prosecutor"))]


@router.post("/assess")
def assess(
    case: Annotated[Document, Body(examples=[{"measure": "bar", "facts": {}}])],
    db: DatabaseDep,
    user: Lawyer,
) -> dict[str, Any]:
    """Assess a case (see CONTRACT.md); invalid input answers 422 naming the field."""
    decision = law.assess(case)
    with db.session() as session:
        audit.record(session, user.username, "law_assess", "law", {"measure": case.get("measure")})
    return decision
