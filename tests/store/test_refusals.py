"""Refusals audited at most once a minute per source, with the count of those held back."""

from sqlalchemy import delete, insert, select

from vigie.store import Database
from vigie.store.models import AuditEntry, AuditHead
from vigie.store.refusals import AuditedRefusals


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entries(db: Database, action: str = "forbidden") -> list[AuditEntry]:
    with db.session() as session:
        found = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(found)


def test_one_entry_a_minute_per_key_counting_those_held_back(db: Database) -> None:
    ticks = Ticks()
    refusals = AuditedRefusals(db, every_s=60, monotonic=ticks)
    key = ("spip1", "GET", "/api/audit")
    assert refusals.record(key, "spip1", "forbidden", "route:GET /api/audit", {"role": "spip"})
    ticks.now += 10
    assert not refusals.record(key, "spip1", "forbidden", "route:GET /api/audit", {})
    ticks.now += 10
    assert not refusals.record(key, "spip1", "forbidden", "route:GET /api/audit", {})
    # Another key is not held back by the first.
    assert refusals.record(("judge1",), "judge1", "forbidden", "route:GET /api/audit", {})
    ticks.now += 41
    assert refusals.record(key, "spip1", "forbidden", "route:GET /api/audit", {})

    spip = [e for e in entries(db) if e.actor == "spip1"]
    assert [e.detail["refused_since_last_entry"] for e in spip] == [0, 2]
    assert spip[0].detail["role"] == "spip" and spip[0].target == "route:GET /api/audit"
    assert [e.actor for e in entries(db)] == ["spip1", "judge1", "spip1"]


def test_a_refusal_the_database_could_not_take_is_counted_in_the_next_entry(
    db: Database,
) -> None:
    ticks = Ticks()
    refusals = AuditedRefusals(db, every_s=60, monotonic=ticks)
    with db.session() as session:  # the chain's head gone: every append fails, as in a failover
        head = session.get(AuditHead, 1)
        assert head is not None
        last_hash = head.last_hash
        session.execute(delete(AuditHead))
    assert not refusals.record("k", "gateway", "device_refused", "device:D1", {})
    assert entries(db, "device_refused") == []
    with db.session() as session:
        session.execute(insert(AuditHead).values(id=1, last_hash=last_hash))
    # No minute to wait: the failed attempt wrote nothing, so the next one tries at once.
    assert refusals.record("k", "gateway", "device_refused", "device:D1", {})
    (entry,) = entries(db, "device_refused")
    assert entry.detail["refused_since_last_entry"] == 1
