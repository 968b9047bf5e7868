"""One NATS connection from the settings: every URL, credentials, TLS, and reconnecting for ever
(a process outlives any one node's restart)."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import nats
from nats.aio.client import Client

from vigie.settings import Settings

logger = logging.getLogger(__name__)


async def connect(settings: Settings, name: str, once: bool = False) -> Client:
    """A connection to the cluster of `VIGIE_NATS_URLS`; `name` shows in the servers' lists.

    `once`: for a command that answers and ends (`vigie cluster status`, `init`), each server
    is tried twice and none answering raises (nats' NoServersError): trying for ever, they
    printed a failed connect four times a second and never answered."""
    servers = settings.nats_servers
    if not servers:
        raise ValueError("VIGIE_NATS_URLS is empty: give the NATS servers (nats://host:4222,…)")
    options: dict[str, Any] = {
        "servers": servers,
        "name": name,
        "allow_reconnect": not once,
        # nats-py tries the servers in turn until each has failed this often; -1: for ever
        # (0 would mean the same). Once: a second try each, then NoServersError.
        "max_reconnect_attempts": 1 if once else -1,
        "reconnect_time_wait": 0.25,
        "connect_timeout": 2,
        "error_cb": _log_error,
        "disconnected_cb": _log_disconnected,
        "reconnected_cb": _log_reconnected,
    }
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    if settings.nats_tls_ca:
        options["tls"] = ssl.create_default_context(cafile=settings.nats_tls_ca)
    return await nats.connect(**options)


async def _log_error(error: Exception) -> None:
    logger.warning("NATS: %s", error)


async def _log_disconnected() -> None:
    logger.info("NATS: disconnected (reconnecting unless closing)")


async def _log_reconnected() -> None:
    logger.info("NATS: reconnected")
