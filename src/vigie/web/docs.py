"""The API's interactive documentation (/docs), served from our own static files.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script; a
monitoring centre's browsers may have no internet, the console promises no outside call at run
time, and the Content-Security-Policy runs no inline script. So the page is ours: the bundle
copied from npm by `make web-assets` and a small start-up file. ReDoc (CDN-only) is not offered.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from vigie.api.limits import BoundedJsonRoute

router = APIRouter(include_in_schema=False, route_class=BoundedJsonRoute)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/vendor/swagger-ui.css">
<link rel="icon" href="/static/vendor/favicon-32x32.png">
<title>Vigie monitoring centre — API</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json."""
    return HTMLResponse(PAGE)
