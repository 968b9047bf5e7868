"""Case exports through the API: the admin's full archive, a judge's evidence archive of their
own case (never the protected person's data). Written to a temporary file, then streamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vigie.api.deps import DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.cases.access import placements_visible_to
from vigie.export import keys, layout
from vigie.export.case_export import CaseNotExported, ExportRequest, export_case
from vigie.store import audit
from vigie.store.bounds import Line, Prose
from vigie.store.models import Placement, User

router = APIRouter(prefix="/api/exports", tags=["exports"], route_class=BoundedJsonRoute)
Exporter = Annotated[User, Depends(allow("admin", "judge"))]
CHUNK = 1 << 16


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_ref: Line = Field(min_length=1, max_length=40)
    victim_recipient_key: Prose | None = Field(
        max_length=4000,
        default=None,
        description="PEM X25519 public key: seal the protected person's data to it (admin only)",
    )


def _recipient(pem: str | None) -> X25519PublicKey | None:
    if pem is None:
        return None
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ApiError(422, "invalid", "not a PEM public key", "victim_recipient_key") from exc
    if not isinstance(key, X25519PublicKey):
        raise ApiError(422, "invalid", "not an X25519 public key", "victim_recipient_key")
    return key


def _observations(manifest: dict[str, Any]) -> int:
    """How many observations the archive holds, from its manifest, for the console to show."""
    for member in manifest["members"]:
        if member["name"] == layout.OBSERVATIONS:
            return int(member.get("records", 0))
    return 0


def _stream(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


@router.post("", response_class=StreamingResponse)
def create_export(db: DatabaseDep, user: Exporter, body: ExportIn) -> StreamingResponse:
    """The case's archive (zip): the admin's whole case, or a judge's evidence export."""
    evidence = user.role != "admin"
    if evidence and body.victim_recipient_key is not None:
        raise ApiError(
            403,
            "forbidden",
            "an evidence export never carries the protected person's data",
            "victim_recipient_key",
        )
    recipient = _recipient(body.victim_recipient_key)
    with db.session() as session:
        visible = session.scalars(
            select(Placement.id).where(
                Placement.case_ref == body.case_ref, placements_visible_to(user)
            )
        ).first()
        if visible is None:
            # Refused like a case that does not exist (its existence is not revealed); audited.
            audit.record(session, user.username, "export_denied", f"case:{body.case_ref}")
    if visible is None:
        raise ApiError(404, "not_found", f"no case {body.case_ref!r}", "case_ref")
    try:
        signing = keys.load_signing_key(keys.signing_key_path())
    except keys.KeyFileError as exc:
        raise ApiError(503, "export_key_missing", f"the centre has no export key: {exc}") from exc
    fd, name = tempfile.mkstemp(prefix="vigie-export-", suffix=".zip")
    os.close(fd)
    path = Path(name)
    request = ExportRequest(body.case_ref, user.username, evidence=evidence, recipient=recipient)
    try:
        manifest = export_case(db, request, signing, path)
    except CaseNotExported as exc:
        path.unlink(missing_ok=True)
        raise ApiError(404, "not_found", str(exc), "case_ref") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    filename = f"{'evidence' if evidence else 'case'}-{body.case_ref}.zip"
    return StreamingResponse(
        _stream(path),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(path.stat().st_size),
            "X-Vigie-Observations": str(_observations(manifest)),
        },
    )
