"""The operator console: pages served by the centre's own app; every datum comes through the API."""

from __future__ import annotations

import os
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from vigie.web import activity, bar_form, docs, geocode, live, pages, supervision, wearers


def install(app: FastAPI) -> None:
    """Add the console's pages, its few read endpoints and its static files to the centre's app."""
    routers = (pages, live, activity, supervision, bar_form, geocode, wearers, docs)
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", Revalidated(directory=str(files("vigie.web") / "static")), name="static")


class Revalidated(StaticFiles):
    """The console's files, asked about again at each use (their ETag answers 304 Not
    Modified). Without a Cache-Control, a browser kept each file for a share of its age: after
    an upgrade, the release before's console.js ran under the new pages' scripts, which call
    what it does not have."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("cache-control", "no-cache")
        return response
