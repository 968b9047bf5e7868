"""`vigie gateway serve`: the gateway (Teltonika TCP/UDP, GT06, OsmAnd, MQTT) on the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigie.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="The device gateway: tracker protocols in, observations stored.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    teltonika_port: Annotated[int, typer.Option(help="Teltonika TCP port (0: off)")] = 5027,
    osmand_port: Annotated[int, typer.Option(help="OsmAnd HTTP port (0: off)")] = 5055,
    teltonika_udp_port: Annotated[int, typer.Option(help="Teltonika UDP port (0: off)")] = 0,
    gt06_port: Annotated[int, typer.Option(help="GT06 (Concox) TCP port (0: off)")] = 0,
    osmand_zone: Annotated[
        str, typer.Option(help="time zone of OsmAnd times sent without one (IANA name)")
    ] = "Europe/Paris",
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port (0: no MQTT)")] = 0,
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker address")] = "127.0.0.1",
    mqtt_failover: Annotated[
        str,
        typer.Option(
            envvar="VIGIE_MQTT_FAILOVER",
            help="the broker cluster's other nodes, host:port,host:port (tried in turn)",
        ),
    ] = "",
    start_broker: Annotated[
        bool, typer.Option(help="start Mosquitto on 127.0.0.1:--mqtt-port first")
    ] = False,
    broker_folder: Annotated[
        Path | None, typer.Option(help="Mosquitto's config and persistence (default: a temp dir)")
    ] = None,
    max_connections: Annotated[int, typer.Option(min=1)] = 5000,
    idle_timeout: Annotated[float, typer.Option(help="seconds without a packet", min=0.1)] = 300,
    frame_timeout: Annotated[float, typer.Option(help="seconds for a whole frame", min=0.1)] = 10,
    rate: Annotated[float, typer.Option(help="readings per device per second", min=0.1)] = 50,
    burst: Annotated[float, typer.Option(help="readings a device may send at once", min=1)] = 2000,
    mqtt_username: Annotated[str, typer.Option(help="the gateway's account on the broker")] = (
        "vigie@gateway"
    ),
    mqtt_password: Annotated[
        str | None,
        typer.Option(
            envvar="VIGIE_MQTT_PASSWORD",
            help="the gateway's password on the broker (with --start-broker: a new one if unset)",
        ),
    ] = None,
    teltonika_tls_port: Annotated[
        int, typer.Option(help="Teltonika over TLS port (0: off); needs --tls-cert/--tls-key")
    ] = 0,
    tls_cert: Annotated[
        Path | None, typer.Option(envvar="VIGIE_GATEWAY_TLS_CERT", help="PEM certificate chain")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar="VIGIE_GATEWAY_TLS_KEY", help="PEM private key")
    ] = None,
) -> None:
    """Serve the device protocols on VIGIE_DATABASE_URL until SIGTERM or Ctrl-C.

    Devices must be registered at the centre under the identifier they announce (a tracker's
    IMEI, the Traccar Client's device id); others are refused and logged. Phones and MQTT
    units also prove themselves with their secret (`vigie gateway device-secret`).
    """
    from vigie.cases import device_secrets
    from vigie.gateway.broker import BrokerError, Mosquitto
    from vigie.gateway.broker_logins import BrokerLogins
    from vigie.gateway.limits import Limits
    from vigie.gateway.service import Gateway, Listen
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    try:
        failover = broker_list(mqtt_failover)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mqtt-failover") from exc
    if failover and not mqtt_port:
        raise typer.BadParameter("needs --mqtt-port (the first node)", param_hint="--mqtt-failover")
    _check_zone(osmand_zone)
    if teltonika_tls_port:
        _check_tls(tls_cert, tls_key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = Settings()
    upgrade(config.database_url)
    database = open_database(config.database_url)
    limits = Limits(
        max_connections=max_connections,
        idle_timeout_s=idle_timeout,
        frame_timeout_s=frame_timeout,
        rate_per_s=rate,
        burst=burst,
        bounds=config.time_bounds,
        local_zone=osmand_zone,
        db_retry_s=config.db_retry_s,
    )
    broker = None
    accounts: dict[str, str] = {}
    if start_broker:
        if not mqtt_port:
            raise typer.BadParameter("--start-broker needs --mqtt-port", param_hint="--mqtt-port")
        mqtt_password = mqtt_password or secrets.token_urlsafe(24)
        with database.session() as session:
            accounts = {mqtt_username: device_secrets.hash_secret(mqtt_password)}
            passwords = device_secrets.password_file(session, accounts)
        folder = broker_folder or Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
        broker = Mosquitto(folder, mqtt_port, passwords)
        try:
            broker.start()
        except BrokerError as exc:  # its port taken, its folder not writable: said in a line
            typer.echo(f"vigie gateway: the MQTT broker did not start: {exc}", err=True)
            raise typer.Exit(1) from exc
    if mqtt_port and mqtt_password is None:
        raise typer.BadParameter(
            "the broker admits no anonymous client: set VIGIE_MQTT_PASSWORD",
            param_hint="--mqtt-password",
        )
    listen = Listen(
        host,
        teltonika_port or None,
        osmand_port or None,
        (mqtt_host, mqtt_port) if mqtt_port else None,
        (mqtt_username, mqtt_password) if mqtt_port and mqtt_password else None,
        teltonika_tls_port or None,
        tls_cert,
        tls_key,
        teltonika_udp_port or None,
        gt06_port or None,
        failover,
    )

    async def run() -> None:
        ingest = None
        # The broker this gateway started keeps to the devices' secrets: a device withdrawn, or
        # given a new secret, loses its live session within about a second.
        logins = None if broker is None else BrokerLogins(database, broker, accounts)
        if config.mode == "cluster":
            # Imported only here: the embedded gateway never loads NATS.
            from vigie.cluster.ingest import ClusterIngest

            ingest = await ClusterIngest.open(config, "gateway")
            gateway = Gateway(
                database,
                limits,
                sink=ingest.sink(),
                registry=ingest.registry(database),
                broker_logins=logins,
            )
        else:
            gateway = Gateway(database, limits, broker_logins=logins)
        bound = await gateway.start(listen)
        typer.echo(
            f"gateway ready: teltonika={bound.teltonika_port} "
            f"teltonika-tls={bound.teltonika_tls_port} teltonika-udp={bound.teltonika_udp_port} "
            f"gt06={bound.gt06_port} osmand={bound.osmand_port} "
            f"mqtt={listen.mqtt_broker}",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await gateway.stop()
        if ingest is not None:
            await ingest.close()

    try:
        asyncio.run(run())
    finally:
        if broker is not None:
            broker.stop()
        database.dispose()


def _check_zone(name: str) -> None:
    """Before anything starts: an unknown zone was a traceback from deep in the limits."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(
            f"{name!r} is not a known time zone (IANA name, e.g. Europe/Paris)",
            param_hint="--osmand-zone",
        ) from None


def _check_tls(cert: Path | None, key: Path | None) -> None:
    """The certificate and its key loaded before anything starts (a wrong path was a traceback
    once the store was upgraded and the other listeners bound)."""
    import ssl

    from vigie.gateway.service import Listen

    if cert is None or key is None:
        raise typer.BadParameter(
            "needs --tls-cert and --tls-key", param_hint="--teltonika-tls-port"
        )
    try:
        Listen(tls_cert=cert, tls_key=key).tls_context()
    except (OSError, ssl.SSLError) as exc:
        raise typer.BadParameter(
            f"cannot load {cert} with {key}: {exc.strerror or exc}", param_hint="--tls-cert"
        ) from None


def broker_list(text: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` as addresses; a clear error naming the faulty item."""
    brokers = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        brokers.append((host, int(port)))
    return tuple(brokers)


@app.command("device-secret")
def device_secret(
    device: Annotated[str, typer.Argument(help="the registered device's id")],
) -> None:
    """Issue a new secret for a device, replacing its old one (audited), and print it once.

    Configure it on the device: a phone's Traccar Client server URL becomes
    http://<gateway>:5055/?key=<secret>; an MQTT unit logs in as <device id> / <secret> (then
    regenerate the broker's password file: `vigie gateway mqtt-passwords`).
    """
    from vigie.cases import device_secrets
    from vigie.cases.errors import CaseNotFound
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    config = Settings()
    upgrade(config.database_url)
    database = open_database(config.database_url)
    try:
        with database.session() as session:
            secret = device_secrets.issue(session, device, "cli")
    except CaseNotFound as exc:
        raise typer.BadParameter(f"{exc}: register it first", param_hint="DEVICE") from exc
    finally:
        database.dispose()
    typer.echo(secret)


def _check_gateway_password(password: str) -> None:
    if len(password) < 16:
        raise typer.BadParameter("set VIGIE_MQTT_PASSWORD (16 characters or more)")


@contextlib.contextmanager
def _registry() -> Iterator[Session]:
    """A session on the centre's database (brought to its schema's head first)."""
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    config = Settings()
    upgrade(config.database_url)
    database = open_database(config.database_url)
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()


def _write_private(output: Path, text: str) -> None:
    """Write a file of credentials readable by its owner only (0600 before any byte)."""
    output.touch(mode=0o600)
    output.chmod(0o600)
    output.write_text(text)


@app.command("mqtt-passwords")
def mqtt_passwords(
    output: Annotated[Path, typer.Option(help="the Mosquitto password file to write")],
    acl: Annotated[Path | None, typer.Option(help="also write the Mosquitto ACL file here")] = None,
    mqtt_username: Annotated[str, typer.Option(help="the gateway's account")] = "vigie@gateway",
    mqtt_password: Annotated[
        str, typer.Option(envvar="VIGIE_MQTT_PASSWORD", help="the gateway's password")
    ] = "",
) -> None:
    """Write Mosquitto's password file (0600): every device with a secret, and the gateway.

    For a broker of your own: `password_file` and `acl_file` in its configuration, with
    `allow_anonymous false`; send it SIGHUP after each run to reload.
    """
    from vigie.cases import device_secrets
    from vigie.gateway.broker import ACL

    _check_gateway_password(mqtt_password)
    with _registry() as session:
        gateway = {mqtt_username: device_secrets.hash_secret(mqtt_password)}
        text = device_secrets.password_file(session, gateway)
    _write_private(output, text)
    if acl is not None:
        acl.write_text(ACL)
    typer.echo(f"{len(text.splitlines())} accounts written to {output}")


@app.command("nats-accounts")
def nats_accounts(
    output: Annotated[Path, typer.Option(help="the accounts file to write")],
    mqtt_username: Annotated[str, typer.Option(help="the gateway's account")] = "vigie@gateway",
    mqtt_password: Annotated[
        str, typer.Option(envvar="VIGIE_MQTT_PASSWORD", help="the gateway's password")
    ] = "",
) -> None:
    """Write the `accounts` block (0600) for the MQTT listener of the NATS nodes: the gateway
    and every device with a secret, by bcrypt hash, each allowed its own topics only.

    Include it in every node's configuration (`include accounts.conf`) and reload each node
    after each new secret (`nats-server --signal reload=PID`). A device whose secret was
    issued before NATS hashes were kept is named: issue it a new secret.
    """
    from vigie.cases import device_secrets
    from vigie.gateway import nats_mqtt

    _check_gateway_password(mqtt_password)
    with _registry() as session:
        users, lacking = device_secrets.nats_users(session)
    refused = sorted(d for d in users if not nats_mqtt.can_be_user(d))
    units = {d: h for d, h in users.items() if nats_mqtt.can_be_user(d)}
    gateway = (mqtt_username, device_secrets.nats_hash(mqtt_password))
    _write_private(output, nats_mqtt.accounts_block(gateway, units))
    typer.echo(f"{len(units)} devices and the gateway written to {output}")
    if lacking:
        typer.echo(
            f"{len(lacking)} devices have a secret from before NATS hashes were kept and "
            f"cannot log in to NATS until given a new one: {', '.join(lacking)}",
            err=True,
        )
    if refused:
        typer.echo(f"not an MQTT user name on NATS, left out: {', '.join(refused)}", err=True)
