"""`vigie gateway serve`: the device gateway (Teltonika TCP, OsmAnd HTTP, MQTT) on the store."""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from vigie.settings import Settings

app = typer.Typer(help="The device gateway: tracker protocols in, observations stored.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    teltonika_port: Annotated[int, typer.Option(help="Teltonika TCP port (0: off)")] = 5027,
    osmand_port: Annotated[int, typer.Option(help="OsmAnd HTTP port (0: off)")] = 5055,
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port (0: no MQTT)")] = 0,
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker address")] = "127.0.0.1",
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
) -> None:
    """Serve the device protocols on VIGIE_DATABASE_URL until SIGTERM or Ctrl-C.

    Devices must be registered at the centre under the identifier they announce (a tracker's
    IMEI, the Traccar Client's device id); others are refused and logged.
    """
    from vigie.gateway.broker import Mosquitto
    from vigie.gateway.limits import Limits
    from vigie.gateway.service import Gateway, Listen
    from vigie.store import open_database
    from vigie.store.schema import upgrade

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
    )
    broker = None
    if start_broker:
        if not mqtt_port:
            raise typer.BadParameter("--start-broker needs --mqtt-port", param_hint="--mqtt-port")
        folder = broker_folder or Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
        broker = Mosquitto(folder, mqtt_port)
        broker.start()
    listen = Listen(
        host,
        teltonika_port or None,
        osmand_port or None,
        (mqtt_host, mqtt_port) if mqtt_port else None,
    )

    async def run() -> None:
        gateway = Gateway(database, limits)
        bound = await gateway.start(listen)
        typer.echo(
            f"gateway ready: teltonika={bound.teltonika_port} osmand={bound.osmand_port} "
            f"mqtt={listen.mqtt_broker}",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await gateway.stop()

    try:
        asyncio.run(run())
    finally:
        if broker is not None:
            broker.stop()
        database.dispose()
