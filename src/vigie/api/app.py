"""The FastAPI application: routers, error handlers, and the live pipeline in the background."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from vigie import clock, web
from vigie.alarms import outbox as mail
from vigie.alarms import summaries_owed
from vigie.alarms.bell import AlarmBell
from vigie.api import errors
from vigie.api.headers import SecurityHeaders, content_security_policy
from vigie.api.limits import BodyLimit
from vigie.api.login_guard import LoginGuard
from vigie.api.routers import (
    alarms,
    auth,
    bulk,
    cases,
    device_commands,
    exports,
    handover,
    health,
    law,
    metrics,
    observations,
    outbox,
    quarantine,
    search,
    suspensions,
    users,
)
from vigie.api.routers import audit as audit_routes
from vigie.settings import MIN_SECRET_LENGTH, InsecureSettings, Settings
from vigie.store import anchor, open_database, repack, schema, spans
from vigie.store.group_commit import GroupCommit
from vigie.store.refusals import AuditedRefusals
from vigie.web.config import console_settings

logger = logging.getLogger(__name__)


class CentreApp(FastAPI):
    """FastAPI with two layers outside all of its own, the error page included: the security
    headers, then the body limit (so an oversized body is refused before any route or
    authentication runs)."""

    max_body_bytes: int = Settings.model_fields["max_body_bytes"].default

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(
            BodyLimit(super().build_middleware_stack(), self.max_body_bytes),
            lambda: content_security_policy(console_settings().tile_url),
        )


def create_app(config: Settings | None = None) -> FastAPI:
    """The centre's API on the database of `config` (default: the environment's settings)."""
    config = config or Settings()
    problem = config.secret_problem()
    if problem is not None:
        # Anyone who reads the code could sign an admin token with the default: never serve so.
        raise InsecureSettings(
            f"{problem}: set VIGIE_JWT_SECRET to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters (or VIGIE_DEV=true for development only)"
        )
    if config.dev:
        logger.warning("development mode (VIGIE_DEV): never use it in production")
    if clock.offset():
        logger.warning(
            "%s moves the centre's clock by %s: for tests only, never in production",
            clock.OFFSET_VARIABLE,
            clock.offset(),
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = open_database(config.database_url)
        schema.require_current(app.state.db)
        if hint := repack.advice(app.state.db):
            logger.warning(hint)
        app.state.settings = config
        app.state.pipeline = None
        app.state.bell = AlarmBell()
        app.state.closing = threading.Event()  # set by vigie.api.serving when shutdown starts
        app.state.login_guard = LoginGuard(config)
        app.state.refusals = AuditedRefusals(app.state.db)  # role refusals (deps.allow)
        stopping = threading.Event()
        tasks: list[asyncio.Task[None]] = []
        app.state.cluster = None
        app.state.cluster_watch = None
        cluster_stopping = asyncio.Event()
        if config.mode == "cluster":
            # Imported only here: the embedded centre never loads NATS. Detection runs in the
            # workers; this process publishes what it is posted and keeps the directory.
            from vigie.cluster.ingest import ClusterIngest

            app.state.cluster = await ClusterIngest.open(config, "api")
            tasks.append(
                asyncio.create_task(
                    app.state.cluster.reconcile_forever(app.state.db, cluster_stopping)
                )
            )
            # No detection here: the workers do it. This process rings its bell from theirs and
            # watches who owns each partition (blindness is a 503).
            from vigie.cluster.watch import ClusterWatch

            app.state.cluster_watch = ClusterWatch(config, app.state.bell, app.state.db)
            tasks.append(asyncio.create_task(app.state.cluster_watch.run()))
            tasks.append(
                asyncio.create_task(
                    mail.deliver_forever(
                        app.state.db, config, stopping, clock.now, summaries_owed.queue_owed
                    )
                )
            )
        # Batches posted to the API share commits (cluster mode publishes them instead).
        app.state.ingest = (
            GroupCommit(
                app.state.db,
                config.ingest_window(app.state.db.is_sqlite),
                retry_s=config.db_retry_s,
                name="ingest",
            )
            if config.mode == "embedded"
            else None
        )
        if config.run_pipeline and config.mode == "embedded":
            # Imported here: the detection engine is only loaded by a process that runs it.
            from vigie.alarms.detector import DetectorProcess
            from vigie.alarms.pipeline import Pipeline

            app.state.pipeline = (
                DetectorProcess(config, on_change=app.state.bell.ring)
                if config.pipeline_process
                else Pipeline(app.state.db, config, on_change=app.state.bell.ring)
            )
            tasks += [
                asyncio.create_task(app.state.pipeline.run()),
                asyncio.create_task(
                    mail.deliver_forever(
                        app.state.db, config, stopping, clock.now, summaries_owed.queue_owed
                    )
                ),
            ]
        # Every centre's API compacts (one at a time: `vigie.store.spans`), whichever detects.
        tasks.append(
            asyncio.create_task(spans.compact_forever(app.state.db, config.span_every_s, stopping))
        )
        key = anchor.key_of(config)
        if key is None:
            logger.warning("VIGIE_AUDIT_KEY is not set: the audit chain is not anchored")
        else:
            tasks.append(
                asyncio.create_task(anchor.checkpoint_forever(app.state.db, key, config, stopping))
            )
        if config.gc_freeze:
            # What start-up made (modules, mappers, schemas) lives as long as the process: out
            # of the collector's full passes, which otherwise stop every thread for 60-70 ms
            # under load (measured in bench/pipeline.py), they take under 10 ms.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            stopping.set()
            cluster_stopping.set()
            if app.state.pipeline is not None:
                app.state.pipeline.stop()
            if app.state.cluster_watch is not None:
                app.state.cluster_watch.stop()
            await asyncio.gather(*tasks)
            if app.state.cluster is not None:
                await app.state.cluster.close()
            if app.state.ingest is not None:
                await asyncio.to_thread(app.state.ingest.close)
            app.state.db.dispose()

    app = CentreApp(
        title="Vigie monitoring centre",
        version="0.1.0",
        description="Judicial electronic monitoring: cases, live alarms, reports, audit.",
        lifespan=lifespan,
        docs_url=None,  # served by vigie.web.docs from our static files, not from a CDN
        redoc_url=None,
    )
    app.max_body_bytes = config.max_body_bytes
    errors.install(app)
    for router in (
        auth.router,
        users.router,
        cases.router,
        device_commands.router,
        observations.router,
        quarantine.router,
        bulk.router,
        alarms.router,
        outbox.router,
        search.router,
        suspensions.router,
        handover.router,
        law.router,
        audit_routes.router,
        exports.router,
        health.router,
        metrics.router,
    ):
        app.include_router(router)
    web.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory vigie.api.app:app_from_env`."""
    return create_app()
