"""Errors as JSON a person can act on: a code, a message, and the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigie.alarms import AlarmNotFound, AlarmStateError, QualificationRefused
from vigie.cases import CaseNotFound, CaseRefused, DeviceInUse, DeviceWithdrawn, MeasureEnded
from vigie.law import LawInputError
from vigie.store.failover import DatabaseUnavailable

# How long a client refused during a database failover is told to wait before trying again.
FAILOVER_RETRY_AFTER_S = 5


class ApiError(Exception):
    """A refusal with an HTTP status, a stable code, a message and optionally the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.headers = headers
        self.status, self.code, self.message, self.field, self.extra = (
            status,
            code,
            message,
            field,
            extra,
        )


def error_body(code: str, message: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "field": field, **extra}


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "observations", 3, "lat") -> "observations[3].lat"
    parts = [p for p in location if p not in ("body", "query", "path")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every refusal into the same JSON shape."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field, **exc.extra),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(CaseRefused)
    async def case_refused(_request: Request, exc: CaseRefused) -> JSONResponse:
        body = error_body("refused", exc.message, exc.field, reasons=exc.reasons)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(MeasureEnded)
    async def measure_ended(_request: Request, exc: MeasureEnded) -> JSONResponse:
        return JSONResponse(error_body("measure_ended", exc.message, exc.field), status_code=409)

    @app.exception_handler(DeviceWithdrawn)
    async def device_withdrawn(_request: Request, exc: DeviceWithdrawn) -> JSONResponse:
        return JSONResponse(error_body("device_withdrawn", exc.message, exc.field), status_code=409)

    @app.exception_handler(DeviceInUse)
    async def device_in_use(_request: Request, exc: DeviceInUse) -> JSONResponse:
        return JSONResponse(error_body("device_in_use", exc.message, exc.field), status_code=409)

    @app.exception_handler(CaseNotFound)
    async def case_not_found(_request: Request, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc), None), status_code=404)

    @app.exception_handler(AlarmNotFound)
    async def alarm_not_found(_request: Request, exc: AlarmNotFound) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc), None), status_code=404)

    @app.exception_handler(QualificationRefused)
    async def qualification_refused(_request: Request, exc: QualificationRefused) -> JSONResponse:
        body = error_body("qualification_refused", str(exc), exc.field)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(AlarmStateError)
    async def alarm_state(_request: Request, exc: AlarmStateError) -> JSONResponse:
        return JSONResponse(error_body("conflict", str(exc), None), status_code=409)

    @app.exception_handler(LawInputError)
    async def law_input(_request: Request, exc: LawInputError) -> JSONResponse:
        return JSONResponse(error_body("invalid_input", str(exc), exc.field), status_code=422)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(_request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        # Not a 500: nothing is broken in the request or the code, and nothing of it was kept.
        body = error_body(
            "database_unavailable",
            f"{exc.what}: nothing was saved, try again in a few seconds ({exc.reason})",
            None,
        )
        headers = {"Retry-After": str(FAILOVER_RETRY_AFTER_S)}
        return JSONResponse(body, status_code=503, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        first = errors[0]
        return JSONResponse(
            error_body(
                "invalid_input",
                f"{first['field']}: {first['message']}",
                first["field"],
                errors=errors,
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail), getattr(exc, "field", None)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
