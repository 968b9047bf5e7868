"""uvicorn for the centre: a shutdown (SIGTERM, Ctrl-C) that does not wait on console tabs.

uvicorn's graceful shutdown waits for every response to finish, and a console's event stream
never does: with one tab open, SIGTERM waited for ever. This server marks the application as
closing and rings the alarm bell before that wait, so each stream ends within a moment and its
tab, reconnecting, shows the operator that the connection is lost.
"""

from __future__ import annotations

import socket
import threading

import uvicorn

from vigie.alarms.bell import AlarmBell


class CentreServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        closing: threading.Event | None = getattr(state, "closing", None)
        bell: AlarmBell | None = getattr(state, "bell", None)
        if closing is not None:
            closing.set()
        if bell is not None:
            bell.ring()  # wake the streams waiting for a change: they see `closing` at once
        await super().shutdown(sockets)
