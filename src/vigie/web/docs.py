"""The API's interactive documentation (/docs), served from our own static files.

FastAPI's default page loads Swagger UI from a CDN; a monitoring centre's browsers may have no
internet, and the console promises no outside call at run time. ReDoc (CDN-only) is not offered.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json, with the assets copied from npm by `make web-assets`."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Vigie monitoring centre — API",
        swagger_js_url="/static/vendor/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui.css",
        swagger_favicon_url="/static/vendor/favicon-32x32.png",
    )
