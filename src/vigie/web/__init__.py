"""The operator console: pages served by the centre's own app; every datum comes through the API."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vigie.web import activity, docs, live, pages, supervision, wearers


def install(app: FastAPI) -> None:
    """Add the console's pages, its few read endpoints and its static files to the centre's app."""
    for router in (
        pages.router,
        live.router,
        activity.router,
        supervision.router,
        docs.router,
        wearers.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(files("vigie.web") / "static")), name="static")
