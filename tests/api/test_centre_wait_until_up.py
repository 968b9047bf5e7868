"""A demo centre that dies before listening is reported as a bad --port, not as a crash:
`typer.BadParameter`'s second positional argument is a click context, so "--port" given there
made building the error raise AttributeError instead."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from vigie.commands import centre


def test_a_dead_server_thread_is_a_bad_port() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    # Only `started` is read: a stand-in for a server that never got to listen.
    server: Any = SimpleNamespace(started=False)
    with pytest.raises(typer.BadParameter) as raised:
        centre._wait_until_up(server, thread, "127.0.0.1", 8000)
    assert raised.value.param_hint == "--port"
    assert "could not start on 127.0.0.1:8000" in raised.value.format_message()
