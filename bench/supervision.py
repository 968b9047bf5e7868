"""Benchmark of the supervision page at France's size: what `GET /api/console/supervision` costs
with 16,000 active cases among 125,000 over the years, and its `heard_unfollowed` part apart.

The page reads the last contact and battery of every active device and names the registered
devices in service heard in its window that no watched case follows. At France's size most
devices are not followed: tens of thousands in stock or back from ended cases, a few thousand of
them heard (a bracelet returned still on), most heard months ago or never. The centre is seeded
at those proportions (`Size`; `--quick` a tenth): three cases made through `vigie.cases` (DDSE,
ARSE, BAR, from the tests' factories) are the templates the others copy, inserted in bulk (the
page is measured here, not the making of cases), with their devices and assignments; then
readings through `vigie.store.observations.append`, compacted by `vigie.store.spans.compact_all`
as the centre does every 60 s, and a tail of `--tail` readings a reporting device left
uncompacted (the readings since the last compaction).

Then, on the same database in the same run, the function the endpoint calls (in process, warm,
`--repeat` calls after two, median and p95) and its parts that changed: the reads of when
devices last spoke (`contacts`) and `heard_unfollowed` alone. First as they were at commit
884fec7 (`old_contacts`, `old_heard_unfollowed`, put back into the page for `page_old`) without
migration 0035's index on placements, then the page as it is without that index, then as it
is. Each old answer is checked equal to the new one. The plans (EXPLAIN QUERY PLAN; PostgreSQL's
EXPLAIN ANALYZE) of the reads that changed are kept with the figures.

    .venv/bin/python bench/supervision.py [--databases sqlite,postgresql] [--quick]

Writes bench/results/supervision.json with the commit and load average. Not a test
(tests/web/test_supervision_reads.py checks what the page reads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Exists, insert, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests.cases.factories

from tests.cases import factories as make

from pipeline import commit, postgres
from vigie import clock
from vigie.api.security import create_user
from vigie.cases import devices as cases_devices
from vigie.cases import placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.models import (
    Device,
    DeviceAssignment,
    Person,
    Placement,
    User,
)
from vigie.store.schema import upgrade
from vigie.web import supervision
from vigie.web.supervision import Contacts

RESULTS = Path(__file__).with_name("results") / "supervision.json"
BATCH = 20_000  # rows a bulk insert takes at a time
PLACEMENTS_INDEX = "ix_placements_status_end_date"  # migration 0035


@dataclass(frozen=True)
class Size:
    """The centre seeded: cases active and ended, devices in stock or of ended cases."""

    active: int = 16_000
    ended: int = 109_000
    spare: int = 30_000
    spare_heard: int = 3_000  # of `spare`, heard within the page's window
    spare_heard_before: float = 0.6  # of the others, the share heard once, months back
    withdrawn: int = 500  # of `spare`, out of service
    bar: float = 0.0625  # of the cases, BAR (a GPS bracelet and the protected person's device)
    arse: float = 0.0625  # of the others, ARSE (a bracelet and its home unit, as DDSE)
    readings: int = 8  # a reporting active device's compacted readings, the last 2 hours
    tail: int = 1  # its readings since the last compaction
    silent: float = 0.02  # of the active devices, heard last over two hours ago
    lost: float = 0.002  # of the active devices, heard last days ago (broken, out of reach)

    @property
    def cases(self) -> int:
        return self.active + self.ended


QUICK = Size(active=1_600, ended=10_900, spare=3_000, spare_heard=300, withdrawn=50)


@dataclass
class Seeded:
    """What was seeded, counted as stored."""

    cases: int
    active_cases: int
    devices: int
    active_devices: int
    assignments: int
    observations: int
    device_latest: int
    spans: int
    tail: int
    seed_s: float


def inserted(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start : start + BATCH])


def columns_of(row: Any, model: type[Any]) -> dict[str, Any]:
    """A stored row's columns but its id: what its copies share."""
    return {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs if c.key != "id"}


def seed_cases(database: Database, size: Size, rng: random.Random) -> dict[str, list[str]]:
    """The cases and devices; returns the ids of the active devices by role and of the spare
    ones (in stock or back from an ended case, in service or not)."""
    now = clock.now()
    today = clock.today_in_paris()
    with database.session() as session:
        create_user(session, "bench-supervisor", "bench password 123", "supervisor", "Bench")
        who = make.contacts(session)
        template_person = make.person(session, "Modèle")
        victim = make.person(session, "Victime")
        templates: dict[str, Placement] = {}
        for measure in ("ddse", "arse", "bar"):
            extra = {"protected_person_id": victim.id} if measure == "bar" else {}
            form = make.placement_form(
                template_person, who, measure, case_ref=f"T-{measure}", **extra
            )
            templates[measure] = placements.create(session, form, "bench")
        # Devices of a template case are made and assigned by the project's own functions; the
        # copies' are inserted alike (an open assignment, `until` null).
        for measure, placement in templates.items():
            for role, kind in roles_of(measure):
                device = f"T-{measure}-{role}"
                cases_devices.create_device(session, DeviceIn(id=device, kind=kind), "bench")
                cases_devices.assign(
                    session, placement, AssignmentIn(device_id=device, role=role), "bench"
                )
        person_row = columns_of(template_person, Person)
        shared = {m: columns_of(p, Placement) for m, p in templates.items()}
        session.flush()

        persons = [person_row | {"last_name": f"P{n}"} for n in range(size.cases)]
        inserted(session, Person, persons)
        first_person = session.scalar(
            select(Person.id).where(Person.last_name == "P0").order_by(Person.id)
        )
        assert first_person is not None
        cases: list[dict[str, Any]] = []
        measures: list[str] = []
        for n in range(size.cases):
            measure = (
                "bar" if rng.random() < size.bar else "arse" if rng.random() < size.arse else "ddse"
            )
            measures.append(measure)
            active = n >= size.ended  # the older cases ended, the newer still watched
            row = shared[measure] | {"case_ref": f"K{n:06d}", "person_id": first_person + n}
            if active:
                # A few past their end date, awaiting a supervisor (the page's `past_end`).
                end = today + timedelta(days=rng.randint(-3 if rng.random() < 0.01 else 1, 365))
                row |= {"status": "active", "end_date": end}
            else:
                ended = now - timedelta(days=1 + (size.ended - n) * 3650 / size.ended)
                row |= {
                    "status": "ended",
                    "end_date": ended.date(),
                    "ended_at": ended,
                    "end_reason": "term",
                    "ended_by": "bench",
                }
            cases.append(row)
        inserted(session, Placement, cases)
        first_case = session.scalar(select(Placement.id).where(Placement.case_ref == "K000000"))
        assert first_case is not None

        # Devices: those of the active cases, then the spare ones, each kind in proportion to
        # what the active cases use.
        active_ids: dict[str, list[str]] = {"wearer": [], "home_unit": [], "protected": []}
        devices: list[dict[str, Any]] = []
        assignments: list[dict[str, Any]] = []
        for n in range(size.ended, size.cases):
            for role, kind in roles_of(measures[n]):
                device = f"{role[0].upper()}{n:06d}"
                active_ids[role].append(device)
                devices.append({"id": device, "kind": kind, "created_at": now})
                since = now - timedelta(days=rng.randint(1, 300))
                assignments.append(
                    {
                        "device_id": device,
                        "placement_id": first_case + n,
                        "role": role,
                        "since": since,
                        "until": None,
                    }
                )
        kinds = [d["kind"] for d in devices]
        spare = [f"S{n:06d}" for n in range(size.spare)]
        for n, device in enumerate(spare):
            withdrawn = n < size.withdrawn
            devices.append(
                {
                    "id": device,
                    "kind": rng.choice(kinds),
                    "created_at": now - timedelta(days=2000),
                    "withdrawn_at": now - timedelta(days=30) if withdrawn else None,
                    "withdrawn_reason": "broken" if withdrawn else None,
                }
            )
        inserted(session, Device, devices)
        # The ended cases' assignments, all closed, on devices of either pool (a bracelet back
        # in stock goes to the next case).
        by_kind: dict[str, list[str]] = {}
        for d in devices:
            by_kind.setdefault(d["kind"], []).append(d["id"])
        for n in range(size.ended):
            until = cases[n]["ended_at"]
            for role, kind in roles_of(measures[n]):
                assignments.append(
                    {
                        "device_id": rng.choice(by_kind[kind]),
                        "placement_id": first_case + n,
                        "role": role,
                        "since": until - timedelta(days=rng.randint(30, 365)),
                        "until": until,
                    }
                )
        inserted(session, DeviceAssignment, assignments)
    gps = [d for d in active_ids["protected"]] + [f"W{d[1:]}" for d in active_ids["protected"]]
    return active_ids | {"gps": gps, "spare": spare}


DeviceRole = Literal["wearer", "home_unit", "protected"]  # AssignmentIn.role
DeviceKind = Literal["bracelet", "home_unit", "protected_device"]  # DeviceIn.kind


def roles_of(measure: str) -> tuple[tuple[DeviceRole, DeviceKind], ...]:
    """A case's devices: (role, kind)."""
    if measure == "bar":
        return (("wearer", "bracelet"), ("protected", "protected_device"))
    return (("wearer", "bracelet"), ("home_unit", "home_unit"))


def reading(device: str, kind: str, t: datetime, level: float = 0.8) -> dict[str, Any]:
    """One row as the gateway stores it: a GPS device's fix, a home unit's presence report, or a
    battery report."""
    record: dict[str, Any] = {"kind": "obs", "device": device, "t": t.isoformat()}
    if kind == "battery":
        record |= {"type": "battery", "level": level}
    elif kind == "presence":
        record |= {"type": "presence", "present": True}
    else:
        record |= {"type": "position", "lat": 45.0, "lon": 5.0, "accuracy_m": 8.0}
    return log.row_for(record, t, t, source="bench")


def stored(database: Database, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        with database.session() as session:
            log.append(session, rows[start : start + BATCH])


def seed_readings(
    database: Database, size: Size, ids: dict[str, list[str]], rng: random.Random
) -> int:
    """Readings: the active devices' (a DDSE bracelet speaks through its home unit: none of its
    own), the spare ones' heard in the window or months back; compacted, then the tail. Returns
    the tail's rows."""
    now = clock.now()
    # A DDSE or ARSE bracelet speaks only through its home unit; a BAR wearer's and the
    # protected person's devices report fixes.
    reporting = [(d, "presence") for d in ids["home_unit"]] + [(d, "position") for d in ids["gps"]]
    rows: list[dict[str, Any]] = []
    spare = ids["spare"][size.withdrawn :]
    for device in spare[size.spare_heard :]:
        if rng.random() < size.spare_heard_before:  # heard once, before its case ended
            t = now - timedelta(days=rng.randint(30, 400), seconds=rng.randint(0, 86_400))
            rows += [reading(device, "presence", t), reading(device, "battery", t)]
    stored(database, rows)
    rows = []
    silent = {d for d, _ in reporting if rng.random() < size.silent}
    lost = {d for d in silent if rng.random() < size.lost / size.silent}
    for k in range(size.readings, 0, -1):
        for device, kind in reporting:
            ago = timedelta(seconds=7200 * k / size.readings + rng.randint(0, 60))
            if device in silent:
                ago += timedelta(days=3) if device in lost else timedelta(hours=2)
            # One reading in four a battery report, a few of them low.
            level = 0.1 if rng.random() < 0.01 else 0.8
            rows.append(reading(device, "battery" if k % 4 == 0 else kind, now - ago, level))
    for device in spare[: size.spare_heard]:
        t = now - timedelta(seconds=rng.randint(60, 23 * 3600))
        rows += [reading(device, "presence", t), reading(device, "battery", t)]
    rows.sort(key=lambda r: r["t"])  # stored in the order they came
    stored(database, rows)
    spans.compact_all(database)
    tail = [
        reading(device, kind, now - timedelta(seconds=rng.randint(0, 59)))
        for _ in range(size.tail)
        for device, kind in reporting
        if device not in silent
    ]
    stored(database, tail)
    return len(tail)


def counted(database: Database) -> dict[str, int]:
    tables = ("placements", "devices", "device_assignments", "observations")
    with database.reading() as session:
        found = {t: session.scalar(text(f"SELECT count(*) FROM {t}")) or 0 for t in tables}
        found["device_latest"] = session.scalar(text("SELECT count(*) FROM device_latest")) or 0
        found["spans"] = session.scalar(text("SELECT count(*) FROM observation_spans")) or 0
        found["active_cases"] = (
            session.scalar(text("SELECT count(*) FROM placements WHERE status = 'active'")) or 0
        )
        found["active_devices"] = (
            session.scalar(text("SELECT count(*) FROM device_assignments WHERE until IS NULL")) or 0
        )
    return found


def vacuumed(database: Database) -> None:
    """Fresh statistics and, on PostgreSQL, the visibility map, as the autovacuum keeps them
    (an index-only scan reads the table's pages not marked all-visible)."""
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if not database.is_sqlite else "ANALYZE")


def placements_index(database: Database, made: bool) -> None:
    """Drop or make migration 0035's index (as the model declares it), then vacuum: the old
    reads are timed without it, as they ran."""
    table = Placement.metadata.tables["placements"]
    index = next(i for i in table.indexes if i.name == PLACEMENTS_INDEX)
    with database.engine.begin() as connection:
        if made:
            index.create(connection)
        else:
            index.drop(connection)
    vacuumed(database)


def seed(database: Database, size: Size) -> Seeded:
    rng = random.Random(20261130)
    began = time.perf_counter()
    ids = seed_cases(database, size, rng)
    tail = seed_readings(database, size, ids, rng)
    vacuumed(database)
    found = counted(database)
    return Seeded(
        cases=found["placements"],
        active_cases=found["active_cases"],
        devices=found["devices"],
        active_devices=found["active_devices"],
        assignments=found["device_assignments"],
        observations=found["observations"],
        device_latest=found["device_latest"],
        spans=found["spans"],
        tail=tail,
        seed_s=round(time.perf_counter() - began, 1),
    )


# ------------------------------------------------------------------------------------ the reads


def old_followed() -> Exists:
    """884fec7's test that a watched case follows a device (an open assignment to an active
    placement), correlated to `Device`."""
    return (
        select(DeviceAssignment.id)
        .join(Placement, Placement.id == DeviceAssignment.placement_id)
        .where(
            DeviceAssignment.device_id == Device.id,
            DeviceAssignment.until.is_(None),
            Placement.status == "active",
        )
        .exists()
    )


def old_heard_unfollowed(session: Session, since: datetime) -> list[dict[str, Any]]:
    """884fec7's `heard_unfollowed`: every registered device in service no watched case follows
    (NOT EXISTS), then the newest reading of each of them, filtered to the window in Python."""
    followed = old_followed()
    spare = session.execute(
        select(Device.id, Device.kind)
        .where(Device.withdrawn_at.is_(None), ~followed)
        .order_by(Device.id)
    ).all()
    spare_heard = log.newest_times(session, [device for device, _ in spare])
    return [
        {"device": device, "kind": kind, "last_heard": spare_heard[device]}
        for device, kind in spare
        if spare_heard.get(device, datetime.min.replace(tzinfo=UTC)) >= since
    ]


def old_contacts(session: Session, followed: Sequence[str], since: datetime) -> Contacts:
    """884fec7's reads of when devices last spoke: the newest reading of every followed device,
    then `old_heard_unfollowed`."""
    return Contacts(log.newest_times(session, followed), old_heard_unfollowed(session, since))


def new_heard_unfollowed(
    session: Session, since: datetime, followed: set[str]
) -> list[dict[str, Any]]:
    """`heard_unfollowed` as the page now makes it, from the devices heard in the window (read
    once for it and the followed devices' last contact)."""
    return supervision.heard_unfollowed(session, supervision.heard_since(session, since), followed)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    """Median and p95 in ms of `repeat` calls after two to warm up, and the last answer."""
    for _ in range(2):
        answer = call()
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        answer = call()
        runs.append((time.perf_counter() - began) * 1000)
    figures = {
        "median_ms": round(statistics.median(runs), 1),
        "p95_ms": round(percentile(runs, 0.95), 1),
    }
    return figures, answer


def page(database: Database, user: User) -> Callable[[], dict[str, Any]]:
    return lambda: supervision.supervision(database, user, hours=24, silent_after_s=900)


def old_page(database: Database, user: User) -> Callable[[], dict[str, Any]]:
    """The page with its reads of when devices last spoke as they were (`old_contacts`)."""

    def call() -> dict[str, Any]:
        supervision.contacts = old_contacts
        try:
            return supervision.supervision(database, user, hours=24, silent_after_s=900)
        finally:
            supervision.contacts = NEW_CONTACTS

    return call


NEW_CONTACTS = supervision.contacts


def within(database: Database, read: Callable[[Session, datetime], Any]) -> Callable[[], Any]:
    """`read` in a read transaction of its own, over the page's window (24 hours)."""

    def call() -> Any:
        with database.reading() as session:
            return read(session, clock.now() - timedelta(hours=24))

    return call


def followed_devices(database: Database) -> list[str]:
    """The devices of the active placements' open assignments, as the page reads them."""
    with database.reading() as session:
        return [device for device, _, _ in session.execute(supervision.open_assignments())]


def what_page_says(answer: dict[str, Any]) -> tuple[Any, ...]:
    """An answer's device lists without the clock: silences are counted to each call's now."""
    listed = [(d["id"], d["silent"], d["low_battery"], d["battery"]) for d in answer["devices"]]
    return listed, answer["heard_unfollowed"], answer["past_end"]


def plans(database: Database, old: bool) -> dict[str, list[str]]:
    """The plan of the reads of devices not followed, as they were (`old`: the NOT EXISTS over
    every device in service) or as they are (the devices heard in the window); PostgreSQL's
    run, with what each step cost."""
    since = clock.now() - timedelta(hours=24)
    with database.reading() as session:
        if not old:
            heard = supervision.heard_since_statement(since, spans.watermark(session))
            return {"heard_since_new": explained(session, heard)}
        followed_now = old_followed()
        not_followed = select(Device.id, Device.kind).where(
            Device.withdrawn_at.is_(None), ~followed_now
        )
        return {
            "not_followed_old": explained(session, not_followed),
            "open_assignments_without_index": explained(session, supervision.open_assignments()),
        }


def explained_in(database: Database, statement: Any) -> list[str]:
    with database.reading() as session:
        return explained(session, statement)


def explained(session: Session, statement: Any) -> list[str]:
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        explain = f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"
        ran = session.connection().exec_driver_sql(explain, compiled.params)
        return [str(row[0]) for row in ran]
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    planned = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
    return [str(row[3]) for row in planned]


@contextmanager
def database_url(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="vigie-bench-supervision-") as folder:
            yield f"sqlite:///{folder}/centre.sqlite"
        return
    with postgres() as url:
        yield url


def run(kind: str, size: Size, repeat: int) -> dict[str, Any]:
    with database_url(kind) as url:
        upgrade(url)
        database = open_database(url)
        try:
            seeded = seed(database, size)
            print(f"{kind}: seeded {asdict(seeded)}", flush=True)
            with database.reading() as session:
                user = session.scalars(
                    select(User).where(User.username == "bench-supervisor")
                ).one()
            followed = followed_devices(database)
            ways: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
                "page": (old_page(database, user), page(database, user)),
                "contacts": (
                    within(database, lambda s, since: old_contacts(s, followed, since)),
                    within(database, lambda s, since: supervision.contacts(s, followed, since)),
                ),
                "heard_unfollowed": (
                    within(database, old_heard_unfollowed),
                    within(
                        database, lambda s, since: new_heard_unfollowed(s, since, set(followed))
                    ),
                ),
            }
            figures: dict[str, Any] = {}
            answers: dict[str, Any] = {}
            placements_index(database, made=False)
            for name, (old, _) in ways.items():
                figures[f"{name}_old"], answers[name] = timed(old, repeat)
            figures["page_new_without_index"], _ = timed(ways["page"][1], repeat)
            explained_plans = plans(database, old=True)
            placements_index(database, made=True)
            explained_plans |= plans(database, old=False)
            explained_plans["open_assignments"] = explained_in(
                database, supervision.open_assignments()
            )
            for name, (_, new) in ways.items():
                figures[f"{name}_new"], now = timed(new, repeat)
                figures[f"{name}_old_over_new"] = round(
                    figures[f"{name}_old"]["median_ms"] / figures[f"{name}_new"]["median_ms"], 1
                )
                was = answers[name]
                same = what_page_says(was) == what_page_says(now) if name == "page" else was == now
                assert same, f"{name}: the old and new reads disagree"
            found = {
                "heard_unfollowed": len(now),
                "devices_listed": len(ways["page"][1]()["devices"]),
            }
        finally:
            database.dispose()
    return {
        "database": kind,
        "seeded": asdict(seeded),
        "found": found,
        "figures": figures,
        "plans": explained_plans,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="a tenth of France, fewer calls")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls each (30; 10 quick)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    size = QUICK if args.quick else Size()
    repeat = args.repeat or (10 if args.quick else 30)
    runs = []
    for kind in args.databases.split(","):
        found = run(kind, size, repeat)
        runs.append(found)
        for name, figures in found["figures"].items():
            shown = figures.items() if isinstance(figures, dict) else [("x", figures)]
            print(f"{kind:10} {name:24} " + ", ".join(f"{k} {v}" for k, v in shown))
    result = {
        "benchmark": "the supervision page at France's size, and its heard_unfollowed part",
        "commit": commit(),
        "size": asdict(size),
        "repeat": repeat,
        "runs": runs,
        "load_average": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
