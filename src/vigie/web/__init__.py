"""The operator console: pages served by the centre's own app; every datum comes through the API."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vigie.web import activity, bar_form, docs, geocode, live, pages, supervision, wearers


def install(app: FastAPI) -> None:
    """Add the console's pages, its few read endpoints and its static files to the centre's app."""
    routers = (pages, live, activity, supervision, bar_form, geocode, wearers, docs)
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(files("vigie.web") / "static")), name="static")
