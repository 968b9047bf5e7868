"""The FastAPI application: routers, error handlers, and the live pipeline in the background."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vigie import clock, web
from vigie.alarms import outbox
from vigie.alarms.bell import AlarmBell
from vigie.api import errors
from vigie.api.routers import (
    alarms,
    auth,
    cases,
    health,
    law,
    observations,
    quarantine,
    users,
)
from vigie.api.routers import audit as audit_routes
from vigie.settings import DEFAULT_SECRET, Settings
from vigie.store import open_database

logger = logging.getLogger(__name__)


def create_app(config: Settings | None = None) -> FastAPI:
    """The centre's API on the database of `config` (default: the environment's settings)."""
    config = config or Settings()
    if config.jwt_secret.get_secret_value() == DEFAULT_SECRET:
        logger.warning("VIGIE_JWT_SECRET is the development default: set it in production")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = open_database(config.database_url)
        app.state.settings = config
        app.state.pipeline = None
        app.state.bell = AlarmBell()
        stopping = threading.Event()
        tasks: list[asyncio.Task[None]] = []
        if config.run_pipeline:
            # Imported here: the detection engine is only loaded by a process that runs it.
            from vigie.alarms.detector import DetectorProcess
            from vigie.alarms.pipeline import Pipeline

            app.state.pipeline = (
                DetectorProcess(config, on_change=app.state.bell.ring)
                if config.pipeline_process
                else Pipeline(app.state.db, config, on_change=app.state.bell.ring)
            )
            tasks = [
                asyncio.create_task(app.state.pipeline.run()),
                asyncio.create_task(
                    outbox.deliver_forever(app.state.db, config, stopping, clock.now)
                ),
            ]
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
            if app.state.pipeline is not None:
                app.state.pipeline.stop()
            await asyncio.gather(*tasks)
            app.state.db.dispose()

    app = FastAPI(
        title="Vigie monitoring centre",
        version="0.1.0",
        description="Judicial electronic monitoring: cases, live alarms, reports, audit.",
        lifespan=lifespan,
        docs_url=None,  # served by vigie.web.docs from our static files, not from a CDN
        redoc_url=None,
    )
    errors.install(app)
    for router in (
        auth.router,
        users.router,
        cases.router,
        observations.router,
        quarantine.router,
        alarms.router,
        law.router,
        audit_routes.router,
        health.router,
    ):
        app.include_router(router)
    web.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory vigie.api.app:app_from_env`."""
    return create_app()
