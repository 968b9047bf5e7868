"""`vigie centre`: serve the monitoring centre's API, or run a live demo with simulated devices."""

from __future__ import annotations

import json
import math
import secrets
import signal
import socket
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer
from pydantic import SecretStr

from vigie import clock
from vigie.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from rich.console import Group

# The server, the store, the HTTP client and the demo's screen are imported where they are
# used: every `vigie` command loads this module, `vigie law assess` too (it took 1.9 s to start).

app = typer.Typer(help="The monitoring centre: API server and live demo.", no_args_is_help=True)
PARIS = ZoneInfo("Europe/Paris")
TRACKERS = ("teltonika", "codec16", "teltonika-udp", "gt06")  # the bracelets' protocols
Host = Annotated[str, typer.Option(help="address to bind (keep 127.0.0.1 unless behind a proxy)")]
Port = Annotated[int, typer.Option(help="TCP port")]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    dev: Annotated[
        bool, typer.Option("--dev", help="development: allow the default token secret")
    ] = False,
) -> None:
    """Serve the API (OpenAPI at /docs) with the live detection pipeline, on VIGIE_DATABASE_URL.

    Refuses to start without a real VIGIE_JWT_SECRET unless --dev (or VIGIE_DEV=true) says this
    is development.
    """
    import uvicorn

    from vigie.api import create_app
    from vigie.api.serving import CentreServer
    from vigie.commands.logs import server_logging
    from vigie.settings import InsecureSettings
    from vigie.store.schema import upgrade

    config = Settings(dev=True) if dev else Settings()
    try:
        application = create_app(config)
    except InsecureSettings as exc:
        typer.echo(f"vigie centre serve: {exc}", err=True)
        typer.echo(
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"',
            err=True,
        )
        raise typer.Exit(2) from exc
    upgrade(config.database_url)
    CentreServer(
        uvicorn.Config(
            application, host=host, port=port, log_level="info", log_config=server_logging("info")
        )
    ).run()


@app.command("create-user")
def create_user_command(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[
        str,
        typer.Option(
            help="operator, supervisor, spip, judge, prosecutor, admin; or integration: a "
            "system posting observations (POST /api/observations), the only role that may"
        ),
    ],
    full_name: Annotated[str, typer.Option(help="the person's name")],
    email: Annotated[str | None, typer.Option(help="e-mail address")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an account (the first admin of a new centre is made this way); audited.

    An integration account's name is recorded as the source of every observation it posts.
    """
    from pydantic import ValidationError

    from vigie.api.password_policy import WeakPassword, check
    from vigie.api.routers.users import UserIn
    from vigie.api.security import ROLES, create_user
    from vigie.store import audit, open_database
    from vigie.store.schema import upgrade
    from vigie.store.users import by_username

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    try:  # the API's own model: what `POST /api/users` refuses is refused here too
        UserIn.model_validate(
            {
                "username": username,
                "password": password,
                "role": role,
                "full_name": full_name,
                "email": email,
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        hint = "USERNAME" if field == "username" else f"--{field.replace('_', '-')}"
        raise typer.BadParameter(error["msg"], param_hint=hint) from None
    try:
        check(password, username, full_name)
    except WeakPassword as exc:
        raise typer.BadParameter(str(exc), param_hint="--password") from exc
    config = Settings()
    upgrade(config.database_url)
    database = open_database(config.database_url)
    try:
        with database.session() as session:
            if by_username(session, username) is not None:
                raise typer.BadParameter(f"user {username!r} exists", param_hint="USERNAME")
            user = create_user(session, username, password, role, full_name, email)
            audit.record(session, "cli", "create", f"user:{user.id}", {"role": role})
    finally:
        database.dispose()
    typer.echo(f"user {username!r} created with role {role}")


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    duration: Annotated[
        float, typer.Option(help="stop after this many seconds (0: until Ctrl-C)", min=0)
    ] = 0,
    cases: Annotated[int, typer.Option(help="simulated cases (vigie.sim)", min=1)] = 150,
    seed_value: Annotated[int, typer.Option("--seed", help="the simulation's seed")] = 1,
    via: Annotated[
        str,
        typer.Option(help="how devices reach the centre: gateway (Teltonika, OsmAnd, MQTT) or api"),
    ] = "gateway",
    trackers: Annotated[
        str,
        typer.Option(
            help="the bracelets' protocol via the gateway: teltonika, codec16, teltonika-udp, "
            "gt06 (the bracelets then have IMEIs for ids)"
        ),
    ] = "teltonika",
) -> None:
    """Start the centre on SQLite with a simulated population (vigie.sim) fed live.

    Seeds an operator account (printed), opens the simulated cases (each assessed by the law),
    stores today's observations so far, then posts the rest through the API as their time
    comes, and shows the alarm queue live while the API serves /docs.
    """
    import uvicorn
    from rich.live import Live
    from sqlalchemy import make_url

    from vigie.api import create_app
    from vigie.api.serving import CentreServer
    from vigie.commands.logs import server_logging
    from vigie.sim.mail import DemoMail
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    if via not in ("gateway", "api"):
        raise typer.BadParameter("gateway or api", param_hint="--via")
    if trackers not in TRACKERS:
        raise typer.BadParameter(", ".join(TRACKERS), param_hint="--trackers")
    # A secret of its own at every run: a demo's tokens are worth nothing to the next one.
    config = Settings(escalation_after_s=60, jwt_secret=SecretStr(secrets.token_urlsafe(48)))
    if not config.database_url.startswith("sqlite"):
        raise typer.BadParameter("the demo runs on SQLite; unset VIGIE_DATABASE_URL")
    _check_port_free(host, port)
    upgrade(config.database_url)
    # Reports go to the demo's own mail server, beside its database (`vigie.sim.mail`).
    mail = DemoMail(Path(make_url(config.database_url).database or ".").parent / "demo-mail")
    config = config.model_copy(
        update={
            "smtp_host": mail.host,
            "smtp_port": mail.port,
            "smtp_starttls": False,
            "smtp_username": "",
        }
    )
    mail.start()  # a daemon thread: an error before the `finally` below leaves nothing running
    database = open_database(config.database_url)
    # SIGTERM (systemd, `kill`, a terminal closed) ends the demo as Ctrl-C does: through the
    # `finally` below, which stops the gateway and its Mosquitto instead of leaving them running.
    # A flag, not an exception: raised inside the feeder or a database call, an exception could
    # be taken for theirs.
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    # GT06 logs in with a numeric IMEI only: the bracelets are then seeded under one.
    logins, feeder_password, pending = seed(
        database, cases, seed_value, imei_bracelets=trackers == "gt06"
    )
    server = CentreServer(
        # A console tab keeps its event stream open: do not wait on it for long at Ctrl-C.
        uvicorn.Config(
            create_app(config),
            host=host,
            port=port,
            log_level="warning",
            log_config=server_logging("warning"),
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    _wait_until_up(server, thread, host, port)
    typer.echo(f"Vigie centre demo: console on {base}/  (API docs: {base}/docs)")
    typer.echo(f"reports mailed to judges, prosecutors and SPIP: {mail.folder}/new/ (a Maildir)")
    for role, (login, password) in logins.items():
        typer.echo(f"{role} login: {login}   password: {password}")
    if via == "gateway":
        from vigie.sim.protocols import DemoDevices

        devices = DemoDevices(database, pending, trackers)
        typer.echo(devices.describe())
        feeder: Feeder | DemoDevices = devices
    else:
        feeder = Feeder(base, "passerelle", feeder_password, pending)
    deadline = time.monotonic() + duration if duration else math.inf
    try:
        with Live(_view(database, base), refresh_per_second=2, transient=False) as live:
            while time.monotonic() < deadline and not terminated.is_set():
                feeder.send(clock.now())
                live.update(_view(database, base))
                terminated.wait(1)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a person ends the demo
    finally:
        if not isinstance(feeder, Feeder):
            feeder.close()  # the gateway, its broker and the simulated devices
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()
        mail.stop()


# ---------------------------------------------------------------- seeding


# Who the demo lets in: role, login, full name. Judges, prosecutors and SPIP officers come two of
# each, each the contact of half the cases, so that "each sees only their own cases" can be tried.
DEMO_USERS = (
    ("operator", "operateur", "Opérateur de démonstration"),
    ("supervisor", "superviseur", "Superviseur de démonstration"),
    ("admin", "admin", "Administrateur de démonstration"),
    ("judge", "juge1", "Juge de démonstration 1"),
    ("judge", "juge2", "Juge de démonstration 2"),
    ("prosecutor", "procureur1", "Procureur de démonstration 1"),
    ("prosecutor", "procureur2", "Procureur de démonstration 2"),
    ("spip", "spip1", "Conseiller SPIP de démonstration 1"),
    ("spip", "spip2", "Conseiller SPIP de démonstration 2"),
)
# The roles and kinds as the case forms take them.
ContactRole = Literal["judge", "prosecutor", "spip"]
DeviceRole = Literal["wearer", "home_unit", "protected"]
DeviceKind = Literal["bracelet", "home_unit", "protected_device"]
CONTACT_ROLES: tuple[ContactRole, ...] = ("judge", "prosecutor", "spip")


def seed(
    database: Any, cases: int, seed_value: int, imei_bracelets: bool = False
) -> tuple[dict[str, tuple[str, str]], str, list[dict[str, Any]]]:
    """Accounts (one per login of DEMO_USERS, keyed "role login" -> (login, password)), then a
    population from `vigie.sim` made into real cases (the law asked for each); today's
    observations up to now are stored as history, the rest returned to feed live.

    Passwords are new at every run. A restarted demo (cases already open) makes the same
    population again (same seed, same day) and feeds it from now on: without that, it served a
    centre that heard nothing and raised a signal-lost alarm for every device. With
    `imei_bracelets`, each bracelet is registered under an IMEI (`vigie.sim.protocols.imei_of`)
    instead of its ``B…`` id, as GT06 trackers need."""
    from sqlalchemy import func, select

    from vigie.store import observations as log
    from vigie.store.models import Device, Placement

    feeder_password = secrets.token_urlsafe(16)
    with database.session() as session:
        logins = _demo_accounts(session)
        _account(session, "passerelle", feeder_password, "integration", "Passerelle simulée")
        contacts = _demo_contacts(session)
        reopened = bool(session.scalar(select(func.count()).select_from(Placement)))
    placements, observations = simulated_population(cases, seed_value)
    if imei_bracelets:
        _bracelets_as_imeis(placements, observations)
    if reopened:
        with database.session() as session:
            known = set(session.scalars(select(Device.id)))
        observations = [o for o in observations if o["device"] in known]
    else:
        with database.session() as session:
            for index, record in enumerate(placements):
                mine = {role: ids[index % len(ids)] for role, ids in contacts.items()}
                _open_case(session, record, mine)
    now = clock.now()
    past = [o for o in observations if record_time(o) <= now]
    with database.session() as session:
        # Idempotent: a restart stores again only what it had not heard while stopped.
        log.append(session, [log.row_for(o, record_time(o), now, source="demo-seed") for o in past])
    return logins, feeder_password, observations[len(past) :]


def _account(session: Any, username: str, password: str, role: str, full_name: str) -> Any:
    """The demo's account `username`, made or given `password` anew."""
    from sqlalchemy import select

    from vigie.api.security import create_user, hash_password
    from vigie.store.models import User

    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        return create_user(session, username, password, role, full_name)
    user.password_hash = hash_password(password)
    user.role = role  # a demo database from before the integration role
    return user


def _demo_accounts(session: Any) -> dict[str, tuple[str, str]]:
    logins = {}
    for role, username, full_name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        _account(session, username, password, role, full_name)
        logins[f"{role} {username[-1] if username[-1].isdigit() else ''}".strip()] = (
            username,
            password,
        )
    session.flush()
    return logins


def simulated_population(
    cases: int, seed_value: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Today's cases from `vigie.sim`: placements, and observations ordered by time.

    Cases are generated one by one (each from its own random stream), so a case the simulator
    fails to make is reported and left out instead of ending the demo.
    """
    import numpy as np

    from vigie.sim.case import CaseContext
    from vigie.sim.scenario import Mix, generate_case, span_of

    start_s, end_s = span_of(clock.today_in_paris(), 1)
    measures = Mix().measures(np.random.default_rng([seed_value, 2**32 - 1]), cases)
    placements: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    failed: list[str] = []
    for index, measure in enumerate(measures):
        context = CaseContext(index, seed_value, start_s, end_s)
        try:
            case = generate_case(context, measure)
        except (IndexError, ValueError) as exc:
            failed.append(f"{context.case} ({measure}: {type(exc).__name__}: {exc})")
            continue
        placements.append(case.placement)
        observations += [json.loads(line) for line in case.outbox.lines]
    if failed:
        typer.echo(f"vigie.sim could not make {len(failed)} case(s): {'; '.join(failed)}", err=True)
    return placements, sorted((o for o in observations if o["kind"] == "obs"), key=record_time)


def _bracelets_as_imeis(
    placements: list[dict[str, Any]], observations: list[dict[str, Any]]
) -> None:
    """Each bracelet renamed to its IMEI, in its placement and in everything it sends."""
    from vigie.sim.protocols import imei_of

    imeis = {p["wearer"]: imei_of(p["wearer"]) for p in placements if p.get("wearer")}
    for placement in placements:
        if placement.get("wearer"):
            placement["wearer"] = imeis[placement["wearer"]]
    for record in observations:
        record["device"] = imeis.get(record["device"], record["device"])


def record_time(record: dict[str, Any]) -> datetime:
    """When a replay-format record says it was taken (its `t`)."""
    return datetime.fromisoformat(record["t"].replace("Z", "+00:00"))


def _demo_contacts(session: Any) -> dict[str, list[int]]:
    """Per role, the demo's judges, prosecutors and SPIP officers as contacts, each linked to
    the user of the same name (a contact made by an older demo is linked now)."""
    from sqlalchemy import select

    from vigie.cases import people
    from vigie.cases.forms import ContactIn
    from vigie.store.models import Contact, User

    # Numbers in the range ARCEP keeps for fiction (01 99 00 xx xx): shown, never a real line.
    services = {
        "judge": ("01 99 00 10 0{}", "Tribunal judiciaire, service de l'application des peines"),
        "prosecutor": ("01 99 00 11 0{}", "Parquet, permanence"),
        "spip": ("01 99 00 12 0{}", "SPIP, permanence de surveillance électronique"),
    }
    contacts: dict[str, list[int]] = {role: [] for role in CONTACT_ROLES}
    for role in CONTACT_ROLES:
        for user_role, username, full_name in DEMO_USERS:
            if user_role != role:
                continue
            user = session.scalars(select(User).where(User.username == username)).one()
            contact = session.scalars(select(Contact).where(Contact.user_id == user.id)).first()
            if contact is None:
                phone, service = services[role]
                form = ContactIn(
                    role=role,
                    name=full_name,
                    email=f"{username}@demo.invalid",
                    user_id=user.id,
                    phone=phone.format(len(contacts[role]) + 1),
                    service=service,
                )
                contact = people.create_contact(session, form, "demo")
            contacts[role].append(contact.id)
    session.flush()
    return contacts


def _law_case(record: dict[str, Any], today: str) -> dict[str, Any]:
    """A legal case under which the simulated measure is lawful (the demo's court decided so)."""
    month_ago = (clock.today_in_paris() - timedelta(days=30)).isoformat()
    sentence = {"category": "delit", "recidivism": False, "offences": []}
    measure = record["measure"]
    if measure == "ddse":
        return {
            "as_of": today,
            "committal_date": month_ago,
            "sentences": [sentence | {"quantum": "P1Y"}],
            "facts": {"as_adjustment": True},
        }
    if measure == "arse":
        facts: dict[str, Any] = {
            "mis_en_examen": True,
            "consent_with_lawyer": True,
            "spip_check_done": True,
        }
        facts |= {"incurred_years": 5, "order_date": month_ago, "renewals_so_far": 0}
        return {"as_of": today, "facts": facts | {"mobile": False, "ssj_incurred": False}}
    if measure == "psem":
        facts = {"route": "R61-33", "detained": True, "dangerousness_established": True}
        return {
            "as_of": today,
            "sentences": [sentence | {"quantum": "P8Y", "category": "crime"}],
            "facts": facts | {"commission_opinion": True},
        }
    return {
        "as_of": today,
        "facts": {
            "under_judicial_supervision": True,
            "victim_consent": True,
            "incurred_years": 5,
            "relationship": "former_spouse",
            "alert_distance_km": record["alert_distance_km"],
        },
    }


def _open_case(session: Any, record: dict[str, Any], contacts: dict[str, int]) -> None:
    """A simulated placement as a real case: persons, the court order, devices assigned."""
    from vigie.cases import devices, people, placements
    from vigie.cases.forms import AssignmentIn, DeviceIn, PersonIn, PlacementIn

    today = clock.today_in_paris()
    number = record["case"][-4:]
    wearer = people.create_person(
        session,
        PersonIn(
            last_name=f"Placé-{number}",
            first_name="Démo",
            birth_date=date(1985, 5, 17),
            phone=f"06 39 98 {number[:2]} {number[2:]}",
            address=f"{int(number) % 90 + 1} rue de la Démonstration, 75011 Paris",
        ),
        "demo",
    )
    protected = None
    if record["measure"] == "bar":
        protected = people.create_person(
            session,
            PersonIn(
                last_name=f"Protégée-{number}",
                first_name="Démo",
                birth_date=date(1987, 2, 3),
                phone=f"07 00 11 {number[:2]} {number[2:]}",
            ),
            "demo",
        ).id
    form = PlacementIn(
        case_ref=record["case"],
        person_id=wearer.id,
        protected_person_id=protected,
        measure=record["measure"],
        court_order_ref=f"DEMO-{number}",
        court_order_date=today,
        start_date=today,
        judge_id=contacts["judge"],
        prosecutor_id=contacts["prosecutor"],
        spip_id=contacts["spip"],
        police_station="Commissariat de démonstration",
        police_phone="01 99 00 17 17",
        law=_law_case(record, today.isoformat()),
        schedule=record.get("schedule", []),
        zones=record.get("zones", []),
        protected_places=record.get("protected_places", []),
        grace_s=record.get("grace_s", 0),
        signal_timeout_s=record.get("signal_timeout_s", 600),
    )
    placement = placements.create(session, form, "demo")
    kinds: dict[DeviceRole, DeviceKind] = {
        "wearer": "bracelet",
        "home_unit": "home_unit",
        "protected": "protected_device",
    }
    for role, kind in kinds.items():
        if record.get(role):
            devices.create_device(session, DeviceIn(id=record[role], kind=kind), "demo")
            devices.assign(
                session, placement, AssignmentIn(device_id=record[role], role=role), "demo"
            )


# ---------------------------------------------------------------- the live feeder


class Feeder:
    """Posts the simulated devices' observations through the API as their time comes, with the
    demo's integration account (`passerelle`), as a system feeding the centre would."""

    def __init__(self, base: str, username: str, password: str, pending: list[dict[str, Any]]):
        import httpx

        self._client = httpx.Client(base_url=base, timeout=30)
        token = self._client.post(
            "/api/auth/token", json={"username": username, "password": password}
        ).json()["access_token"]
        self._client.headers["Authorization"] = f"Bearer {token}"
        self._pending = pending
        self._next = 0

    def send(self, now: datetime) -> int:
        due = []
        while self._next < len(self._pending) and record_time(self._pending[self._next]) <= now:
            due.append(self._pending[self._next])
            self._next += 1
        if due:
            response = self._client.post("/api/observations", json={"observations": due})
            response.raise_for_status()
        return len(due)


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start when the address is taken: the demo would feed whatever answers there.

    SO_REUSEADDR as uvicorn binds: a socket left in TIME-WAIT by the previous demo (for a minute
    after it stopped) does not hold the port, a listening program does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise typer.BadParameter(
                f"{host}:{port} is in use ({error.strerror}): stop the program holding it "
                "(an earlier demo?) or choose another --port",
                param_hint="--port",
            ) from error


def _wait_until_up(server: uvicorn.Server, thread: threading.Thread, host: str, port: int) -> None:
    """Wait for *our* server to listen (not any server on that port); fail if it died."""
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise typer.BadParameter(
                f"the centre could not start on {host}:{port}", param_hint="--port"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"the centre did not start on {host}:{port} within 30 s")
        time.sleep(0.1)


def _view(database: Any, base: str) -> Group:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    from sqlalchemy import func, select

    from vigie.alarms.imported import RAISED_HERE
    from vigie.store.models import Alarm, Observation

    with database.session() as session:
        alarms = session.scalars(
            select(Alarm)
            .where(Alarm.status != "closed", RAISED_HERE)
            .order_by(Alarm.priority, Alarm.raised_at)
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
