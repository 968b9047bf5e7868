"""Ingest under concurrent posting (issue 13): on PostgreSQL through COPY into a staging table and
one INSERT ... ON CONFLICT; every observation is stored once, whoever posted it first."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from vigie import clock
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Observation


def test_concurrent_overlapping_posts_store_each_observation_once(db: Database) -> None:
    start = clock.now()
    rows = [
        log.row_for(
            {
                "kind": "obs",
                "device": f"D{n % 7}",
                "seq": n,
                "t": "ignored",
                "type": "position",
                "lat": 45.0 + n * 1e-4,
                "lon": 4.0,
                "accuracy_m": 5.0,
            },
            start + timedelta(milliseconds=n),
            start,
            source="test",
        )
        for n in range(400)
    ]
    # Four clients, each posting every row in overlapping batches of 50 (a retry storm).
    accepted: list[list[int]] = []
    duplicates: list[int] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        order = rows[offset * 25 :] + rows[: offset * 25]
        for i in range(0, len(order), 50):
            with db.session() as session:
                result = log.append(session, order[i : i + 50])
            with lock:
                accepted.append(result.ids)
                duplicates.append(result.duplicates)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in accepted for i in batch]
    assert len(ids) == len(set(ids)) == len(rows)  # each stored once, by one of the posts
    assert sum(duplicates) == 3 * len(rows)  # the others told it was there
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == len(rows)
        by_seq = {o.seq: (o.device, o.record) for o in session.scalars(select(Observation))}
    assert by_seq[123] == ("D4", rows[123]["payload"])  # the row as posted, its record whole
    # A batch with the same reading twice stores it once.
    with db.session() as session:
        again = log.row_for(rows[0]["payload"] | {"seq": 10_000}, start, start, source="test")
        result = log.append(session, [again, again])
    assert len(result.ids) == 1 and result.duplicates == 1
