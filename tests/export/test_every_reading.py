"""Every kind of reading a device sends comes out in an archive that verifies and imports: the
observation schema did not list `sos`, so once archives were checked against their schemas, a
case where the protected person (or the wearer) had called for help could be neither verified
nor imported (`observations.jsonl: line 53: type does not hold to the format`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

from pydantic import TypeAdapter
from sqlalchemy import select

from tests.export.conftest import Keys
from tests.export.story import Story, iso
from tests.export.test_round_trip import export
from vigie.export import keys
from vigie.export.importer import import_archive
from vigie.export.verify import verify
from vigie.observation import ObservationIn
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Observation

# One reading of each type, beyond what every reading has (device, t).
EXAMPLES: dict[str, dict[str, Any]] = {
    "position": {"lat": 48.85, "lon": 2.35, "accuracy_m": 8.0},
    "presence": {"present": True},
    "tamper": {"what": "strap_cut"},
    "battery": {"level": 0.4},
    "power": {"mains": False},
    "sos": {},
}


def reading_types() -> set[str]:
    """The `type` of every reading the observation model takes."""
    union = get_args(ObservationIn)[0]
    return {get_args(model.model_fields["type"].annotation)[0] for model in get_args(union)}


def test_a_case_with_every_kind_of_reading_verifies_and_imports(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    assert set(EXAMPLES) == reading_types()  # a new kind of reading gets an example here
    model: TypeAdapter[Any] = TypeAdapter(ObservationIn)
    t = story.end - timedelta(minutes=1)
    # The BAR case's two devices: his bracelet (plain) and her phone (sealed).
    for device in ("B2", "P2"):
        for kind, fields in EXAMPLES.items():
            record = {"kind": "obs", "device": device, "t": iso(t), "type": kind} | fields
            model.validate_python(record)
            with db.session() as session:
                log.append(session, [log.row_for(record, t, t, source="test")])
    archive = tmp_path / "C2.zip"
    export(db, "C2", export_keys, archive, sealed=True)
    verify(archive)
    victim_key = keys.load_recipient_private(export_keys.recipient_private)
    import_archive(other, archive, "admin9", victim_key=victim_key)
    with other.reading() as session:
        found = set(
            session.execute(
                select(Observation.device, Observation.type).where(Observation.t == t)
            ).all()
        )
    assert found == {(d, kind) for d in ("B2", "P2") for kind in EXAMPLES}
