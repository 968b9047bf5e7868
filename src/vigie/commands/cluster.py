"""`vigie cluster`: production mode's NATS side (README, "Production (cluster mode)")."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from typing import Annotated, Any

import typer

from vigie.settings import WORKER_NAME_PATTERN, Settings

app = typer.Typer(help="Production mode: the NATS JetStream cluster (VIGIE_NATS_URLS).")


def _settings() -> Settings:
    config = Settings()  # a bad VIGIE_* variable: said by `vigie` itself (cli.main), a line each
    if not config.nats_servers:
        raise typer.BadParameter("set VIGIE_NATS_URLS (nats://h1:4222,nats://h2:4222,…)")
    return config


def _unreachable(config: Settings) -> None:
    typer.echo(
        f"no NATS server answered ({', '.join(config.nats_servers)}): is the cluster up, and "
        "VIGIE_NATS_URLS right?",
        err=True,
    )


@app.command()
def init() -> None:
    """Create the stream VIGIE_OBS and the buckets, and store VIGIE_PARTITIONS; idempotent.
    Refuses a cluster initialised with another partition count or replica count."""
    from nats.errors import NoServersError

    from vigie.cluster.connection import connect
    from vigie.cluster.topology import Topology, TopologyDrift, ensure

    config = _settings()

    async def run() -> list[str]:
        connection = await connect(config, "vigie-cluster-init", once=True)
        try:
            return await ensure(connection.jetstream(), Topology.from_settings(config))
        finally:
            await connection.close()

    try:
        done = asyncio.run(run())
    except TopologyDrift as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    except NoServersError as exc:
        _unreachable(config)
        raise typer.Exit(1) from exc
    for line in done or ["already initialised, nothing to do"]:
        typer.echo(line)
    typer.echo(f"cluster ready: {config.partitions} partitions, R{config.stream_replicas}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The stream's nodes, each partition's owner and lag, the live workers."""
    from nats.errors import NoServersError

    from vigie.cluster.connection import connect
    from vigie.cluster.status import collect
    from vigie.cluster.topology import Topology, check

    config = _settings()

    async def run() -> dict[str, Any]:
        connection = await connect(config, "vigie-cluster-status", once=True)
        try:
            js = connection.jetstream()
            await check(js, Topology.from_settings(config))
            return await collect(js, config.partitions)
        finally:
            await connection.close()

    try:
        state = asyncio.run(run())
    except NoServersError as exc:
        _unreachable(config)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(state, indent=2))
        return
    stream = state["stream"]
    typer.echo(
        f"stream {stream['name']}: {stream['messages']} messages, {stream['bytes']} bytes, "
        f"seq {stream['first_seq']}..{stream['last_seq']}"
    )
    for node in state["nodes"]:
        current = "current" if node["current"] else "NOT current"
        typer.echo(f"  node {node['name']}: {node['role']}, {current}, lag {node['lag']}")
    typer.echo(f"workers: {', '.join(state['workers']) or 'none'}")
    for row in state["partitions"]:
        lag = "-" if row["lag"] is None else row["lag"]
        typer.echo(f"  partition {row['partition']:>4}: owner {row['owner'] or '-'}, lag {lag}")
    if state["unowned"]:
        typer.echo(f"{len(state['unowned'])} partition(s) without an owner", err=True)


@app.command()
def local() -> None:
    """Run a 3-node cluster on free 127.0.0.1 ports (development) until Ctrl-C; prints
    the VIGIE_NATS_URLS to use."""
    from vigie.cluster.local import LocalCluster

    stop = False

    def finish(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    with LocalCluster(folder=None) as cluster:
        typer.echo(f"VIGIE_NATS_URLS={cluster.urls_setting}")
        typer.echo(f"PIDs: {' '.join(str(node.pid) for node in cluster.nodes)}")
        while not stop:
            time.sleep(0.2)


@app.command()
def worker(
    name: Annotated[str, typer.Option(help="name in leases and presence (default host-pid)")] = "",
) -> None:
    """Run a detection worker: owns partitions by lease and steps them from the stream into
    PostgreSQL, fenced by each partition's term; SIGTERM hands its leases back."""
    from vigie.cluster.worker import DetectionWorker
    from vigie.store import open_database, schema

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not re.fullmatch(WORKER_NAME_PATTERN, name):
        raise typer.BadParameter(
            f"{name!r}: a worker's name is up to 64 letters, digits, '-' or '_' (it is a key "
            "in the lease and presence buckets), as VIGIE_WORKER_NAME",
            param_hint="--name",
        )
    config = _settings()
    if config.database_url.startswith("sqlite"):
        raise typer.BadParameter("a worker needs PostgreSQL: set VIGIE_DATABASE_URL")
    database = open_database(config.database_url)
    try:
        schema.require_current(database)
    except schema.SchemaBehind as exc:
        typer.echo(f"vigie cluster worker: {exc}", err=True)
        raise typer.Exit(2) from exc
    runner = DetectionWorker(config, database, name or None)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run()

    typer.echo(f"worker {runner.name}: {config.partitions} partitions, lease {config.lease_s} s")
    asyncio.run(run())


@app.command()
def demo(
    cases: Annotated[int, typer.Option(help="simulated cases (vigie.sim)", min=1)] = 60,
    seed_value: Annotated[int, typer.Option("--seed", help="the simulation's seed")] = 1,
    duration: Annotated[
        float, typer.Option(help="stop after this many seconds (0: until Ctrl-C)", min=0)
    ] = 0,
    port: Annotated[int, typer.Option(help="the first API process's port")] = 8000,
) -> None:
    """The production topology on 127.0.0.1 (3 NATS nodes, PostgreSQL primary and synchronous
    standby, 2 gateways, 2 workers, 2 API processes) with the simulated population: kill any
    one by its PID and watch the console (what `make demo-cluster` runs)."""
    from vigie.cluster.demo import run

    run(cases, seed_value, duration, port)
