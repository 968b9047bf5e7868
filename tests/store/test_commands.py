"""`vigie audit verify` and `vigie db purge-locations`, run as a person would run them."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from vigie.store import Database, audit
from vigie.store import observations as log


def vigie(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"VIGIE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_audit_verify_exit_codes(db: Database, database_url: str) -> None:
    with db.session() as session:
        ids = [audit.record(session, "ops", "read", f"case:{i}").id for i in range(3)]
    ok = vigie(database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "3 entries verified" in ok.stdout
    with db.session() as session:
        if db.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        session.execute(
            text("UPDATE audit_log SET detail = '{\"x\": 1}' WHERE id = :id"), {"id": ids[1]}
        )
    broken = vigie(database_url, "audit", "verify")
    assert broken.returncode == 1
    assert f"entry {ids[1]}" in broken.stderr


def test_purge_locations_is_audited(db: Database, database_url: str) -> None:
    now = datetime.now(UTC)
    old = {"kind": "obs", "device": "B1", "type": "position", "lat": 1.0, "lon": 2.0}
    with db.session() as session:
        log.append(
            session,
            [
                log.row_for(old | {"t": "old"}, now - timedelta(days=100), now),
                log.row_for(old | {"t": "new"}, now - timedelta(days=1), now),
            ],
        )
    result = vigie(database_url, "db", "purge-locations", "--older-than", "30")
    assert result.returncode == 0, result.stderr
    assert "purged 1 position" in result.stdout
    with db.session() as session:
        assert log.count(session) == 1
        actions = session.execute(text("SELECT action, detail FROM audit_log")).all()
    assert [a for a, _ in actions] == ["purge_locations"]
    assert audit.verify(db.sessions())[1] is None
