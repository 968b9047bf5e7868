"""`vigie centre`: serve the monitoring centre's API, or run a live demo with simulated devices."""

from __future__ import annotations

import math
import secrets
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
import uvicorn
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from vigie.settings import Settings

app = typer.Typer(help="The monitoring centre: API server and live demo.", no_args_is_help=True)
PARIS = ZoneInfo("Europe/Paris")
Host = Annotated[str, typer.Option(help="address to bind (keep 127.0.0.1 unless behind a proxy)")]
Port = Annotated[int, typer.Option(help="TCP port")]


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the API (OpenAPI at /docs) with the live detection pipeline, on VIGIE_DATABASE_URL."""
    from vigie.api import create_app
    from vigie.store.schema import upgrade

    config = Settings()
    upgrade(config.database_url)
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    duration: Annotated[
        float, typer.Option(help="stop after this many seconds (0: until Ctrl-C)", min=0)
    ] = 0,
) -> None:
    """Start the centre on SQLite, seed cases and an operator, feed simulated devices live."""
    from vigie.api import create_app
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    config = Settings(escalation_after_s=60)
    if not config.database_url.startswith("sqlite"):
        raise typer.BadParameter("the demo runs on SQLite; unset VIGIE_DATABASE_URL")
    upgrade(config.database_url)
    database = open_database(config.database_url)
    login, password, feeder_password = seed(database)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    _wait_until_up(base)
    typer.echo(f"Vigie centre demo on {base}  (API docs: {base}/docs)")
    typer.echo(f"operator login: {login}   password: {password}")
    feeder = Feeder(base, "passerelle", feeder_password)
    deadline = time.monotonic() + duration if duration else math.inf
    try:
        with Live(_view(database, base), refresh_per_second=2, transient=False) as live:
            while time.monotonic() < deadline:
                feeder.send(datetime.now(UTC))
                live.update(_view(database, base))
                time.sleep(1)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a person ends the demo
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()


# ---------------------------------------------------------------- seeding


def seed(database: Any) -> tuple[str, str, str]:
    """Accounts and three live cases (DDSE, BAR, PSEM); passwords are new at every run."""
    from vigie.api.security import create_user, hash_password
    from vigie.cases import devices, people, placements
    from vigie.cases.forms import AssignmentIn, ContactIn, DeviceIn, PersonIn, PlacementIn
    from vigie.store.models import Placement, User

    password, feeder_password = secrets.token_urlsafe(9), secrets.token_urlsafe(16)
    with database.session() as session:
        for name, secret, full in (
            ("operateur", password, "Opérateur de démonstration"),
            ("passerelle", feeder_password, "Passerelle simulée"),
        ):
            user = session.scalars(select(User).where(User.username == name)).one_or_none()
            if user is None:
                create_user(session, name, secret, "operator", full)
            else:
                user.password_hash = hash_password(secret)
        if session.scalar(select(func.count()).select_from(Placement)):
            return "operateur", password, feeder_password
        who = {
            role: people.create_contact(
                session,
                ContactIn(
                    role=role, name=f"{label} de démonstration", email=f"{role}@demo.invalid"
                ),
                "demo",
            ).id
            for role, label in (("judge", "Juge"), ("prosecutor", "Procureur"), ("spip", "SPIP"))
        }
        now_paris = datetime.now(PARIS)
        window = {
            "days": "mon-sun",
            "from": (now_paris - timedelta(minutes=30)).strftime("%H:%M"),
            "to": (now_paris + timedelta(hours=8)).strftime("%H:%M"),
        }
        wearer = people.create_person(
            session,
            PersonIn(
                last_name="Martin",
                first_name="Paul",
                birth_date=date(1988, 3, 14),
                home_lat=48.8566,
                home_lon=2.3522,
            ),
            "demo",
        )
        bar_wearer = people.create_person(
            session,
            PersonIn(
                last_name="Bernard",
                first_name="Luc",
                birth_date=date(1979, 9, 2),
                home_lat=48.80,
                home_lon=2.30,
            ),
            "demo",
        )
        victim = people.create_person(
            session,
            PersonIn(
                last_name="Petit",
                first_name="Julie",
                birth_date=date(1984, 6, 30),
                home_lat=48.87,
                home_lon=2.40,
            ),
            "demo",
        )
        psem_wearer = people.create_person(
            session,
            PersonIn(
                last_name="Moreau",
                first_name="Marc",
                birth_date=date(1970, 1, 21),
                home_lat=48.83,
                home_lon=2.25,
            ),
            "demo",
        )
        common = {
            "court_order_ref": "DEMO-2026",
            "court_order_date": now_paris.date(),
            "start_date": now_paris.date(),
            "judge_id": who["judge"],
            "prosecutor_id": who["prosecutor"],
            "spip_id": who["spip"],
        }
        today = now_paris.date().isoformat()
        cases = [
            (
                PlacementIn(
                    case_ref="DEMO-DDSE",
                    person_id=wearer.id,
                    measure="ddse",
                    law={
                        "as_of": today,
                        "committal_date": today,
                        "sentences": [
                            {
                                "quantum": "P6M",
                                "category": "delit",
                                "recidivism": False,
                                "offences": [],
                            }
                        ],
                        "facts": {"as_adjustment": True},
                    },
                    schedule=[window],
                    signal_timeout_s=120,
                    **common,
                ),
                {"wearer": "B1", "home_unit": "H1"},
            ),
            (
                PlacementIn(
                    case_ref="DEMO-BAR",
                    person_id=bar_wearer.id,
                    protected_person_id=victim.id,
                    measure="bar",
                    law={
                        "as_of": today,
                        "facts": {
                            "under_judicial_supervision": True,
                            "victim_consent": True,
                            "incurred_years": 5,
                            "relationship": "former_spouse",
                        },
                    },
                    alert_distance_km=1,
                    protected_places=[{"id": "domicile", "lat": 48.87, "lon": 2.40}],
                    signal_timeout_s=120,
                    **common,
                ),
                {"wearer": "B2", "protected": "P2"},
            ),
            (
                PlacementIn(
                    case_ref="DEMO-PSEM",
                    person_id=psem_wearer.id,
                    measure="psem",
                    law={
                        "as_of": today,
                        "sentences": [
                            {
                                "quantum": "P8Y",
                                "category": "crime",
                                "recidivism": False,
                                "offences": [],
                            }
                        ],
                        "facts": {
                            "route": "R61-33",
                            "detained": True,
                            "dangerousness_established": True,
                            "commission_opinion": True,
                        },
                    },
                    zones=[
                        {
                            "id": "ecole",
                            "type": "exclusion",
                            "geometry": _square(48.84, 2.28, 0.004),
                            "label": "abords de l'école",
                        }
                    ],
                    signal_timeout_s=120,
                    **common,
                ),
                {"wearer": "B3"},
            ),
        ]
        kinds = {"wearer": "bracelet", "home_unit": "home_unit", "protected": "protected_device"}
        for form, roles in cases:
            placement = placements.create(session, form, "demo")
            for role, device in roles.items():
                devices.create_device(session, DeviceIn(id=device, kind=kinds[role]), "demo")
                devices.assign(
                    session, placement, AssignmentIn(device_id=device, role=role), "demo"
                )
    return "operateur", password, feeder_password


def _square(lat: float, lon: float, half: float) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


# ---------------------------------------------------------------- the built-in feeder


class Feeder:
    """Simulated devices posting through the real API, like a gateway would.

    Each plays a one-minute loop so alarms come at once: B1/H1 (DDSE) leaves home for 30 s,
    B2 (BAR) walks up to the protected person's home and back, B3 (PSEM) crosses the school's
    exclusion zone. Batteries drain; B1's strap opens for 20 s every 5 minutes.
    """

    def __init__(self, base: str, username: str, password: str) -> None:
        self._client = httpx.Client(base_url=base, timeout=10)
        token = self._client.post(
            "/api/auth/token", json={"username": username, "password": password}
        ).json()["access_token"]
        self._client.headers["Authorization"] = f"Bearer {token}"
        self._start = time.monotonic()

    def observations(self, now: datetime) -> list[dict[str, Any]]:
        s = time.monotonic() - self._start
        t = now.isoformat().replace("+00:00", "Z")

        def fix(device: str, lat: float, lon: float) -> dict[str, Any]:
            return {
                "device": device,
                "t": t,
                "type": "position",
                "lat": lat,
                "lon": lon,
                "accuracy_m": 12,
            }

        bar_phase = (s % 60) / 60  # 0 -> 1: far, near, far
        closeness = 1 - abs(2 * bar_phase - 1)
        psem_phase = (s % 60) / 60
        batch = [
            {"device": "H1", "t": t, "type": "presence", "present": (s % 60) < 30},
            fix("B2", 48.86 + 0.01 * closeness, 2.38 + 0.02 * closeness),
            fix("P2", 48.871, 2.401),
            fix("B3", 48.84, 2.27 + 0.02 * psem_phase),
        ]
        if int(s) % 10 == 0:
            level = max(0.05, 1 - s / 1800)
            batch += [
                {"device": d, "t": t, "type": "battery", "level": level} for d in ("B1", "B2", "B3")
            ]
        if int(s) % 300 in (150, 151):
            batch.append({"device": "B1", "t": t, "type": "tamper", "what": "strap_open"})
        if int(s) % 300 in (170, 171):
            batch.append({"device": "B1", "t": t, "type": "tamper", "what": "strap_closed"})
        return batch

    def send(self, now: datetime) -> None:
        response = self._client.post(
            "/api/observations", json={"observations": self.observations(now)}
        )
        response.raise_for_status()


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the centre did not answer on {base} within 30 s")


def _view(database: Any, base: str) -> Group:
    from vigie.store.models import Alarm, Observation

    with database.session() as session:
        alarms = session.scalars(
            select(Alarm).where(Alarm.status != "closed").order_by(Alarm.priority, Alarm.raised_at)
        ).all()
        observed = session.scalar(select(func.count()).select_from(Observation))
    table = Table(title="Alarmes en cours (priorité d'abord)", expand=True)
    for column in (
        "prio",
        "n°",
        "dossier",
        "type",
        "état",
        "levée (Paris)",
        "fin",
        "évén.",
        "escaladée",
    ):
        table.add_column(column)
    for alarm in alarms[:25]:
        table.add_row(
            str(alarm.priority),
            str(alarm.id),
            alarm.case_ref,
            alarm.kind,
            alarm.status,
            alarm.raised_at.astimezone(PARIS).strftime("%H:%M:%S"),
            alarm.cleared_at.astimezone(PARIS).strftime("%H:%M:%S") if alarm.cleared_at else "—",
            str(alarm.event_count),
            "oui" if alarm.escalated_at else "",
            style="bold red" if alarm.priority == 1 else None,
        )
    footer = Text(f"{observed} observations reçues · API {base}/docs · Ctrl-C pour arrêter")
    return Group(table, footer)
