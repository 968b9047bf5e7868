"""The audit chain anchored outside the database: the two attacks the chain alone misses (every
later hash rewritten; the log cut short and its head reset) are caught by `vigie audit verify`."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from vigie import clock
from vigie.cli import app
from vigie.settings import Settings, settings
from vigie.store import Database, anchor, audit
from vigie.store.models import AuditEntry, AuditHead

KEY = b"an audit key kept in the vault, never in the database"


def _unlock(db: Database) -> None:
    """What an attacker with write access to the database does first: lift the append-only
    triggers."""
    with db.session() as session:
        if db.is_sqlite:
            session.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            session.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))


def _rewrite_from(db: Database, first: int, detail: dict[str, object]) -> None:
    """Change entry `first` and recompute every later hash and the head: a consistent chain."""
    _unlock(db)
    with db.session() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        prev = audit.GENESIS
        for entry in entries:
            if entry.id == first:
                entry.detail = detail
            if entry.id >= first:
                entry.prev_hash = prev
                entry.hash = audit.entry_hash(
                    prev, entry.at, entry.actor, entry.action, entry.target, entry.detail
                )
            prev = entry.hash
        session.get_one(AuditHead, 1).last_hash = prev


def _cut_after(db: Database, last: int) -> None:
    """Delete every entry after `last` and point the head at it: a shorter, intact chain."""
    _unlock(db)
    with db.session() as session:
        kept = session.get_one(AuditEntry, last)
        session.execute(text("DELETE FROM audit_log WHERE id > :id"), {"id": last})
        session.get_one(AuditHead, 1).last_hash = kept.hash


def _record(db: Database, count: int) -> list[int]:
    with db.session() as session:
        return [audit.record(session, "ops", "read", f"case:{i}").id for i in range(count)]


def _checkpoint(db: Database, path: Path, key: bytes = KEY) -> anchor.Anchor | None:
    with db.reading() as session:
        return anchor.checkpoint(session, key, path, clock.now())


def _verify(db: Database, path: Path, key: bytes = KEY) -> list[anchor.Anchor]:
    with db.reading() as session:
        assert audit.verify(session)[1] is None  # the chain alone sees nothing wrong
        return anchor.verify(session, key, path).held


def test_checkpoints_are_appended_only_when_the_head_moves(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    assert _checkpoint(db, path) is None  # an empty log has nothing to anchor
    ids = _record(db, 3)
    first = _checkpoint(db, path)
    assert first is not None and first.entry_id == ids[-1]
    assert _checkpoint(db, path) is None  # nothing new
    more = _record(db, 2)
    second = _checkpoint(db, path)
    assert second is not None and second.prev == first.mac
    assert [a.entry_id for a in _verify(db, path)] == [ids[-1], more[-1]]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_chain_rewritten_from_an_anchored_entry_is_caught(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    ids = _record(db, 5)
    _checkpoint(db, path)
    _record(db, 2)
    _rewrite_from(db, ids[1], {"forged": True})
    with pytest.raises(anchor.AnchorError, match=rf"entry {ids[-1]} .* rewritten"):
        _verify(db, path)


def test_a_log_cut_short_with_its_head_reset_is_caught(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    ids = _record(db, 6)
    _checkpoint(db, path)
    _cut_after(db, ids[2])
    with pytest.raises(anchor.AnchorError, match=rf"entry {ids[-1]}.* missing"):
        _verify(db, path)


def test_checkpoints_cannot_be_forged_without_the_key(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    ids = _record(db, 3)
    _checkpoint(db, path)
    _rewrite_from(db, ids[0], {"forged": True})
    # The attacker rewrites the checkpoint too, with a key of their own.
    line = json.loads(path.read_text())
    with db.reading() as session:
        new_hash = session.get_one(AuditEntry, ids[-1]).hash
    forged = anchor._mac(b"a guess", line["prev"], line["entry_id"], new_hash, line["at"])
    path.write_text(json.dumps(line | {"hash": new_hash, "mac": forged}) + "\n")
    with pytest.raises(anchor.AnchorError, match="not signed by the audit key"):
        _verify(db, path)


def test_a_checkpoint_line_removed_from_the_middle_is_caught(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    for _ in range(3):
        _record(db, 1)
        _checkpoint(db, path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(anchor.AnchorError, match=r"line 2 .* not chained"):
        _verify(db, path)


def test_a_restore_marked_in_the_checkpoints_explains_what_it_lost(
    db: Database, tmp_path: Path
) -> None:
    """A restore cuts the log back to the backup's head and new entries take the lost ids: the
    restore's signed line says so, where the log would read as cut short, then rewritten."""
    path = tmp_path / "anchors.jsonl"
    kept = _record(db, 3)
    _checkpoint(db, path)
    after = _record(db, 3)  # in the live log, not in last night's backup
    _checkpoint(db, path)
    _cut_after(db, kept[-1])  # what restoring the backup leaves
    with pytest.raises(anchor.AnchorError, match=rf"entry {after[-1]}.* missing"):
        _verify(db, path)
    with db.reading() as session:
        head = session.get_one(AuditEntry, kept[-1])
    restore = anchor.mark_restore(KEY, path, clock.now(), head.id, head.hash)
    assert restore.restored and '"restored":true' in path.read_text().splitlines()[-1]
    reused = _record(db, 4)  # a real restore gives them the lost ids (test_restore.py)
    _checkpoint(db, path)
    with db.reading() as session:
        found = anchor.verify(session, KEY, path)
    assert [a.entry_id for a in found.held] == [kept[-1], kept[-1], reused[-1]]
    assert [(r.line.entry_id, [a.entry_id for a in r.lost]) for r in found.restores] == [
        (kept[-1], [after[-1]])
    ]
    # The restore line covers the lost checkpoints only: the log cut below its head is caught.
    _cut_after(db, kept[0])
    with pytest.raises(anchor.AnchorError, match=rf"entry {kept[-1]}.* missing"):
        _verify(db, path)


def test_a_restore_line_cannot_be_forged_without_the_key(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    kept = _record(db, 2)
    _record(db, 2)
    _checkpoint(db, path)
    _cut_after(db, kept[-1])  # an attacker cuts the log, then writes a restore to excuse it
    with db.reading() as session:
        head = session.get_one(AuditEntry, kept[-1])
    anchor.mark_restore(b"a guess", path, clock.now(), head.id, head.hash)
    with pytest.raises(anchor.AnchorError, match="line 2 is not signed by the audit key"):
        _verify(db, path)
    # Nor a checkpoint turned into a restore by adding the mark: the MAC covers it.
    lines = path.read_text().splitlines()
    marked = json.loads(lines[0]) | {"restored": True}
    path.write_text(json.dumps(marked) + "\n")
    with pytest.raises(anchor.AnchorError, match="line 1 is not signed by the audit key"):
        _verify(db, path)


@pytest.fixture
def vigie(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., Result]]:
    """The `vigie` command in-process on the test database, with a key file and anchors file."""
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    monkeypatch.setenv("VIGIE_AUDIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("VIGIE_AUDIT_ANCHOR_FILE", str(tmp_path / "anchors.jsonl"))
    settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    settings.cache_clear()


@pytest.mark.parametrize("attack", ["rewrite", "truncate"])
def test_audit_verify_command_catches_both_attacks(
    db: Database, vigie: Callable[..., Result], attack: str
) -> None:
    ids = _record(db, 5)
    written = vigie("audit", "checkpoint")
    assert written.exit_code == 0 and f"entry {ids[-1]}" in written.output, written.output
    ok = vigie("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "1 checkpoints match" in ok.output
    if attack == "rewrite":
        _rewrite_from(db, ids[2], {"forged": True})
    else:
        _cut_after(db, ids[1])
    broken = vigie("audit", "verify")
    assert broken.exit_code == 1, broken.output
    assert "BROKEN" in broken.output
    assert ("rewritten" if attack == "rewrite" else "cut short") in broken.output


def test_the_centre_checkpoints_at_intervals_and_on_stop(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from vigie.api import create_app

    path = tmp_path / "anchors.jsonl"
    config = Settings(
        database_url=database_url,
        run_pipeline=False,
        audit_key=KEY.decode(),
        audit_anchor_file=str(path),
        audit_anchor_interval_s=0.05,
    )
    ids = _record(db, 2)
    with TestClient(create_app(config)):
        deadline = clock.now().timestamp() + 10
        while not path.exists() and clock.now().timestamp() < deadline:
            time.sleep(0.02)
        assert path.exists()
        more = _record(db, 1)
    # Leaving the app wrote the last head, so no entry is left unanchored by a stop.
    assert _verify(db, path)[-1].entry_id == more[-1] > ids[-1]


def test_a_checkpoint_file_that_cannot_be_written_is_said(
    db: Database, vigie: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(db, 2)
    monkeypatch.setenv("VIGIE_AUDIT_ANCHOR_FILE", "/proc/vigie/anchors.jsonl")
    settings.cache_clear()
    result = vigie("audit", "checkpoint")
    assert result.exit_code == 1
    assert "no checkpoint written: /proc/vigie/anchors.jsonl: cannot be written" in result.output
    assert "Traceback" not in result.output
