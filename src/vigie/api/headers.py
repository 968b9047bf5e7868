"""Security headers on every answer of the centre: pages, API, static files, errors.

The console runs only its own script files: no inline script and no eval, so a string that
slipped into a page as HTML still cannot run. No page may be framed (clickjacking), no type is
guessed from content, and no URL (which may carry a case id) leaks in a Referer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@lru_cache(maxsize=4)
def content_security_policy(tile_url: str = "") -> str:
    """The console's policy; `tile_url` (the configured base map) is the one image origin
    allowed besides our own. Styles may be inline: Leaflet positions every tile with them."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "*"))
        if parts.scheme in ("http", "https") and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware adding the headers to every response that does not set its own.

    `policy` is asked at each response: the tile server is a setting the console re-reads."""

    def __init__(self, app: ASGIApp, policy: Callable[[], str]) -> None:
        self.app = app
        self.policy = policy
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),  # for browsers that ignore frame-ancestors
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                ours = [(b"content-security-policy", self.policy().encode()), *self.headers]
                extra = [(n, v) for n, v in ours if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
