"""The console's pages: HTML shells in the user's language; their data comes from the API.

A page carries no case data: its script asks the API with the user's token, so each role sees
exactly what the API lets it see. The one server-rendered result (the legal calculator) is
computed by the API's own endpoint function, with its role check and its audit.
"""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from vigie import clock
from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.routers import law as law_routes
from vigie.law import LawInputError
from vigie.store.bounds import Line, Prose, RowId
from vigie.web import law_notes, law_words
from vigie.web.config import console_settings
from vigie.web.i18n import COOKIE, catalogue, language, translator
from vigie.web.law_sheet import sheet_pdf as law_sheet_pdf

router = APIRouter(include_in_schema=False, route_class=BoundedJsonRoute)
templates = Jinja2Templates(directory=str(files("vigie.web") / "templates"))


def _page(request: Request, template: str, **context: Any) -> Response:
    lang = language(request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": translator(lang),
            "words": catalogue(lang),
            "server_now": clock.now().isoformat(),
            "tiles": {
                "url": console_settings().tile_url,
                "attribution": console_settings().tile_attribution,
                "geocoder": bool(console_settings().geocoder_url),
            },
            **context,
        },
    )
    if request.query_params.get("lang") == lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _page(request, "login.html", page="login")


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request) -> Response:
    return _page(request, "queue.html", page="queue")


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(request: Request, alarm_id: RowId) -> Response:
    return _page(request, "alarm.html", page="alarm", alarm_id=alarm_id)


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request) -> Response:
    return _page(request, "cases.html", page="cases")


@router.get("/cases/{placement_id}", response_class=HTMLResponse)
def case_page(request: Request, placement_id: RowId) -> Response:
    return _page(request, "case.html", page="case", placement_id=placement_id)


@router.get("/cases/{placement_id}/zones", response_class=HTMLResponse)
def zones_page(request: Request, placement_id: RowId) -> Response:
    return _page(request, "zones.html", page="zones", placement_id=placement_id)


@router.get("/law", response_class=HTMLResponse)
def law_page(request: Request) -> Response:
    examples = (files("vigie.web") / "law_examples.json").read_text(encoding="utf-8")
    return _page(request, "law.html", page="law", examples=json.loads(examples))


@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request) -> Response:
    return _page(request, "exports.html", page="exports")


@router.get("/supervision", response_class=HTMLResponse)
def supervision_page(request: Request) -> Response:
    return _page(request, "supervision.html", page="supervision")


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request) -> Response:
    return _page(request, "map.html", page="map")


@router.get("/handover", response_class=HTMLResponse)
def handover_page(request: Request) -> Response:
    return _page(request, "handover.html", page="handover")


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request) -> Response:
    return _page(request, "devices.html", page="devices")


async def _form(request: Request) -> dict[str, list[str]]:
    """The calculator's form; a body that is not UTF-8 (no browser sends one) a 422."""
    try:
        return parse_qs((await request.body()).decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_input", "the form is not UTF-8 text", "body") from None


def _case_of(form: dict[str, list[str]]) -> dict[str, Any]:
    """The form's case as a JSON object; ValueError otherwise (nested too deeply included: the
    parser's RecursionError was a 500)."""
    try:
        case = json.loads(form.get("case", ["{}"])[0] or "{}")
    except RecursionError:
        raise ValueError("the case is nested too deeply") from None
    if not isinstance(case, dict):
        raise ValueError("the case must be a JSON object")
    return case


@router.post("/console/law/result", response_class=HTMLResponse)
async def law_result(request: Request, db: DatabaseDep, user: law_routes.Lawyer) -> Response:
    """The calculator's answer as HTML for htmx: the form's JSON case through `/api/law/assess`."""
    lang = language(request)
    form = await _form(request)
    measure = form.get("measure", [""])[0]
    context: dict[str, Any] = {"t": translator(lang), "lang": lang, **law_words.helpers(lang)}
    context["note"] = lambda text: law_notes.note(str(text or ""), lang)
    try:
        case = _case_of(form)
        # In a thread, as every blocking call of an async endpoint: on the event loop, its
        # audited write (waiting for SQLite's writer) stalled every request of the process.
        decision = await asyncio.to_thread(law_routes.assess, case | {"measure": measure}, db, user)
    except LawInputError as exc:
        context["error"], context["field"] = str(exc), exc.field
    except ValueError as exc:  # json.JSONDecodeError, or not an object
        context["error"], context["field"] = f"JSON: {exc}", None
    else:
        context["decision"] = decision
    status = 422 if "error" in context else 200
    return templates.TemplateResponse(request, "law_result.html", context, status_code=status)


class LawNotes(BaseModel):
    """Notes and citations of a decision the page already holds (the case page's law trace)."""

    # The engine's sentences (no control character: the French rendering marks its slots with
    # two of them) and its citations, each of a bounded length.
    notes: list[Annotated[Prose, Field(max_length=2000)]] = Field(max_length=1000)
    citations: list[Annotated[Line, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000
    )


@router.post("/console/law/notes", dependencies=[Depends(allow(*CASE_READERS))])
def law_notes_in_language(request: Request, body: LawNotes) -> dict[str, list[Any]]:
    """The engine's notes in the page's language, each with the language it is really in, and
    its citations as the page's language writes them: the decision JSON keeps the engine's
    English (a contract), the words are the web layer's."""
    lang = language(request)
    shown = [law_notes.note(text, lang) for text in body.notes]
    return {
        "notes": [{"text": text, "lang": in_lang} for text, in_lang in shown],
        "citations": [law_words.cite(citation, lang) for citation in body.citations],
    }


@router.post("/console/law/sheet.pdf")
async def law_sheet(request: Request, db: DatabaseDep, user: law_routes.Lawyer) -> Response:
    """The fiche pénale as the greffe's working sheet (PDF), from the same form and endpoint."""
    lang = language(request)
    form = await _form(request)
    try:
        case = _case_of(form)
        decision = await asyncio.to_thread(law_routes.assess, case | {"measure": "fiche"}, db, user)
    except ValueError as exc:  # LawInputError names the field; bad JSON says so
        return Response(str(exc), status_code=422, media_type="text/plain; charset=utf-8")
    # WeasyPrint takes a third of a second and more: on the event loop, the whole process (its
    # ingest, its alarm streams) stood still for it.
    pdf = await asyncio.to_thread(law_sheet_pdf, decision, translator(lang), lang)
    disposition = 'attachment; filename="fiche-penale.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})
