"""PostgreSQL failover, on real servers: a primary and its synchronous streaming standby
(`pg_pair`), the primary killed with SIGKILL, the standby promoted with `pg_ctl promote`. The
centre runs on the multi-host URL throughout and is never restarted."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.alarms.test_pipeline import SCRIPT, T0, Clock, store
from tests.alarms.test_pipeline import seed as seed_case
from tests.api.world import build
from tests.conftest import Centre
from tests.gateway.conftest import PHONE, ZONE, key, seed
from vigie import clock
from vigie.alarms.journal import StoreWentBack
from vigie.alarms.pipeline import Pipeline
from vigie.api import create_app
from vigie.gateway.limits import Limits
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.settings import Settings
from vigie.store import open_database
from vigie.store.failover import DatabaseUnavailable
from vigie.store.pg_local import PgNode, PgPair

pytestmark = pytest.mark.processes

FIGURES: dict[str, float] = {}  # printed with -s: the figures docs/production-postgresql.md cites


def eventually(probe: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


def fix(device: str, t: datetime, lat: float, lon: float) -> dict[str, Any]:
    return {
        "device": device,
        "t": t.isoformat(),
        "type": "position",
        "lat": lat,
        "lon": lon,
        "accuracy_m": 5,
    }


class Later:
    """A call run in a thread, so that the test can promote the standby while it waits."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.done_at = 0.0
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.result = self._call()
        self.done_at = time.monotonic()

    def waiting(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> Any:
        self._thread.join(90)
        assert not self._thread.is_alive()
        return self.result


def on_node(
    pair: PgPair, sql: str, params: dict[str, Any] | None = None, node: PgNode | None = None
) -> list[Any]:
    """What a server itself holds, read without the application: the standby (now primary),
    or `node`."""
    database = open_database(pair.node_url(pair.standby if node is None else node, "vigie"))
    try:
        with database.reading() as session:
            return list(session.execute(text(sql), params or {}))
    finally:
        database.dispose()


def test_the_centre_rides_out_a_promotion_and_loses_nothing_committed(pg_pair: PgPair) -> None:
    url = pg_pair.url("vigie")
    db = open_database(url)
    config = Settings(database_url=url, tick_s=0.05, run_pipeline=True, db_retry_s=30)
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        world = build(centre)
        world.new_zone()  # an exclusion square around (45.0, 5.0) on case C1, worn by B1
        operator, feed = centre.headers("operator"), centre.headers("integration")

        def post(batch: list[dict[str, Any]]) -> httpx.Response:
            return client.post("/api/observations", json={"observations": batch}, headers=feed)

        def zone_alarms() -> list[dict[str, Any]]:
            listed = client.get("/api/alarms", params={"kind": "zone_entry"}, headers=operator)
            assert listed.status_code == 200, listed.text
            return list(listed.json())

        # B1's fixes in the past, a walk away from the zone and into it (plausible speeds).
        start = clock.now() - timedelta(seconds=900)

        def at(seconds: int, inside: bool) -> dict[str, Any]:
            return fix("B1", start + timedelta(seconds=seconds), 45.0 if inside else 45.03, 5.0)

        # Before: observations stored, an alarm raised and acknowledged.
        before = post([*(at(i, False) for i in range(20)), at(600, True)])
        assert before.status_code == 200 and before.json()["accepted"] == 21
        (alarm,) = eventually(zone_alarms)
        acked = client.post(f"/api/alarms/{alarm['id']}/acknowledge", headers=operator)
        assert acked.status_code == 200
        eventually(lambda: client.get("/api/health").status_code == 200)

        killed = time.monotonic()
        pg_pair.primary.kill()
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["database"] == "failing"
        # An ingest during the failover waits, retrying, and is not acknowledged meanwhile.
        during = Later(lambda: post([at(610 + i, True) for i in range(10)]))
        time.sleep(1.0)
        assert during.waiting()
        promoted = time.monotonic()
        pg_pair.standby.promote()
        response = during.join()
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 10
        FIGURES["kill_to_first_write_s"] = during.done_at - killed
        FIGURES["promote_to_first_write_s"] = during.done_at - promoted

        # Nothing committed before the kill is missing on the new primary (synchronous standby).
        ids = [*before.json()["ids"], *response.json()["ids"]]
        held = on_node(pg_pair, f"SELECT count(*) FROM observations WHERE id IN {tuple(ids)}")
        assert held[0][0] == 31
        (row,) = on_node(
            pg_pair, f"SELECT status, acknowledged_at FROM alarms WHERE id = {alarm['id']}"
        )
        assert row[0] == "acknowledged" and row[1] is not None

        # The centre carries on, not restarted: health back, operators' writes, detection.
        healthy = eventually(lambda: (r := client.get("/api/health")).status_code == 200 and r)
        FIGURES["kill_to_health_ok_s"] = time.monotonic() - killed
        assert healthy.json()["database"] == "ok" and healthy.json()["pipeline"]["warm"]
        closed = client.post(
            f"/api/alarms/{alarm['id']}/close",
            json={"qualification": "breach", "note": "après la bascule"},
            headers=operator,
        )
        assert closed.status_code == 200, closed.text
        again = post([at(800, False), at(899, True)])
        assert again.status_code == 200 and again.json()["accepted"] == 2
        raised = eventually(lambda: [a for a in zone_alarms() if a["id"] != alarm["id"]])
        assert raised[0]["status"] == "open" and raised[0]["case"] == "C1"
    db.dispose()
    print(f"\nPostgreSQL failover figures: {FIGURES}")


def test_operator_writes_during_the_failover_answer_503_and_nothing_half_kept(
    pg_pair: PgPair,
) -> None:
    url = pg_pair.url("vigie")
    db = open_database(url)
    config = Settings(database_url=url, run_pipeline=False, db_retry_s=0.5)
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        world = build(centre)
        alarm = world.new_alarm()
        operator, feed = centre.headers("operator"), centre.headers("integration")
        reading = {"observations": [fix("B1", clock.now() - timedelta(seconds=5), 45.03, 5.0)]}

        pg_pair.primary.kill()
        refused = client.post(f"/api/alarms/{alarm}/acknowledge", headers=operator)
        assert refused.status_code == 503
        assert refused.json()["error"] == "database_unavailable"
        assert refused.json()["message"].startswith("database failover in progress")
        assert refused.headers["Retry-After"] == "5"
        # Ingest retried for VIGIE_DB_RETRY_S, then refused: never acknowledged.
        ingest = client.post("/api/observations", json=reading, headers=feed)
        assert ingest.status_code == 503 and ingest.json()["error"] == "database_unavailable"
        health = client.get("/api/health")
        assert (health.status_code, health.json()["database"]) == (503, "failing")
        # The standby refuses writes; that too is a failover, not a bug.
        standby = open_database(pg_pair.node_url(pg_pair.standby, "vigie"))
        with pytest.raises(DatabaseUnavailable, match="read-only"), standby.session() as session:
            session.execute(text("UPDATE alarms SET status = 'closed'"))
        standby.dispose()

        pg_pair.standby.promote()
        sent = client.post("/api/observations", json=reading, headers=feed)
        assert sent.status_code == 200 and sent.json()["accepted"] == 1  # not stored before
        assert client.post(f"/api/alarms/{alarm}/acknowledge", headers=operator).status_code == 200
        assert client.get("/api/health").status_code == 200
    db.dispose()
    assert on_node(pg_pair, f"SELECT status FROM alarms WHERE id = {alarm}") == [("acknowledged",)]
    assert on_node(pg_pair, "SELECT count(*) FROM observations WHERE device = 'B1'") == [(1,)]


def test_the_gateway_acknowledges_a_device_only_once_the_new_primary_has_its_reading(
    pg_pair: PgPair,
) -> None:
    db = open_database(pg_pair.url("vigie"))
    seed(db)
    runners: list[GatewayThread] = []
    phones: list[httpx.Client] = []

    def phone_of(retry_s: float) -> httpx.Client:
        limits = Limits(max_connections=20, rate_per_s=5, burst=50, db_retry_s=retry_s)
        runners.append(GatewayThread(Gateway(db, limits), Listen("127.0.0.1", None, 0, None)))
        port = runners[-1].start().osmand_port
        phones.append(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", params={"key": key(PHONE)}, timeout=60
            )
        )
        return phones[-1]

    def report(phone: httpx.Client, seconds_ago: int) -> httpx.Response:
        t = str(int(clock.now().timestamp()) - seconds_ago)
        return phone.get("/", params={"id": PHONE, "timestamp": t, "lat": ZONE[0], "lon": ZONE[1]})

    try:
        patient, hasty = phone_of(30), phone_of(0.5)  # two gateways: retry budgets 30 s, 0.5 s
        assert report(patient, 30).status_code == 200
        assert report(hasty, 25).status_code == 200
        pg_pair.primary.kill()
        during = Later(lambda: report(patient, 10))
        refused = report(hasty, 5)  # past its budget: told to send again, not acknowledged
        assert refused.status_code == 503 and "send it again" in refused.text
        assert during.waiting()  # the phone has no answer yet, so it keeps its reading
        pg_pair.standby.promote()
        assert during.join().status_code == 200
        assert report(hasty, 5).status_code == 200  # the phone sends it again
        rows = on_node(pg_pair, f"SELECT count(*) FROM observations WHERE device = '{PHONE}'")
        assert rows[0][0] == 4
    finally:
        for phone in phones:
            phone.close()
        for runner in runners:
            runner.stop()
        db.dispose()


def background(pair: PgPair, kinds: tuple[str, ...]) -> list[int]:
    """The PIDs of the primary's background processes of these kinds."""
    sql = "SELECT pid FROM pg_stat_activity WHERE backend_type = ANY(:kinds)"
    return [int(pid) for (pid,) in on_node(pair, sql, {"kinds": list(kinds)}, pair.primary)]


def test_a_detection_step_the_failover_lost_is_run_again(pg_pair: PgPair) -> None:
    """A detection step over stored readings commits without waiting for the disk: one that
    the primary's crash took before its WAL left the memory is on neither server. The detector
    outlives it, finds its last step missing from the journal, restores, and raises the alarm
    of the lost step again from the readings, which were stored durably."""
    url = pg_pair.url("vigie")
    admin = open_database(pg_pair.node_url(pg_pair.primary, "vigie"))
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER SYSTEM SET autovacuum = off"))  # no commit of its own meanwhile
        conn.execute(text("SELECT pg_reload_conf()"))
    admin.dispose()
    db = open_database(url)
    seed_case(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600), clock)
    for i, batch in enumerate(SCRIPT[:2]):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    store(db, *SCRIPT[2])  # into the zone: stored, and acknowledged, durably
    # Nothing writes the WAL out behind the step's commit: it stays in the primary's memory.
    stopped = background(pg_pair, ("walwriter", "background writer"))
    assert len(stopped) == 2
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    clock.now = T0 + timedelta(minutes=2.9)
    assert pipeline.step().events > 0  # committed: the zone's entry raised
    ran = pipeline._step
    pg_pair.primary.kill()
    pg_pair.standby.promote()
    # The step is lost: its journal row and its alarm are on neither server; its readings are.
    assert on_node(pg_pair, "SELECT max(id) FROM engine_steps")[0][0] == ran - 1
    assert on_node(pg_pair, "SELECT count(*) FROM alarms WHERE kind = 'zone_entry'")[0][0] == 0
    assert on_node(pg_pair, "SELECT count(*) FROM observations")[0][0] == 4
    db.engine.dispose()  # as when another user of the pool met the failover first
    with pytest.raises(StoreWentBack):
        pipeline.step()
    pipeline.step()
    (raised,) = on_node(pg_pair, "SELECT state, t FROM alarm_events WHERE kind = 'zone_entry'")
    assert raised[0] == "raised" and raised[1] == T0 + timedelta(minutes=2)
    assert on_node(pg_pair, "SELECT count(*) FROM alarms WHERE kind = 'zone_entry'")[0][0] == 1
    db.dispose()
