"""Errors as JSON a person can act on: a code, a message, and the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """A refusal with an HTTP status, a stable code, a message and optionally the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
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
            error_body(exc.code, exc.message, exc.field, **exc.extra), status_code=exc.status
        )

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
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail), None),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
