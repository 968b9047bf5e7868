"""Delivering queued commands to connected devices, and storing their replies.

Servers `attach` a device once they know who it is (with a function that writes a command's
text on its link) and `detach` it when the link ends. One poll a second reads the queued
commands (a single query however many devices are connected), sends those whose device is
here, and marks them sent; a protocol that cannot carry a command marks it failed as
unsupported. Replies come back through `answered`. Commands outlive a restart: they are rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from vigie import clock
from vigie.gateway import command_queue
from vigie.gateway.commands import text_for
from vigie.store import Database

logger = logging.getLogger(__name__)

Send = Callable[[int, str], None]  # command id, text as the protocol carries it


@dataclass(frozen=True)
class Link:
    protocol: str
    send: Send


class CommandDelivery:
    """The gateway's side of the command queue."""

    def __init__(self, database: Database, poll_s: float = 1.0) -> None:
        self._db = database
        self._poll_s = poll_s
        self._links: dict[str, Link] = {}
        self._waiting: set[str] = set()  # devices with commands due at the last poll, unlinked
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def attach(self, device_id: str, protocol: str, send: Send) -> None:
        """The device is reachable by `send` (the newest link wins). Wakes the poll when
        commands wait for it: a UDP tracker attaches at every datagram, and a flood of them
        must not turn the one-second poll into a query per datagram."""
        self._links[device_id] = Link(protocol, send)
        if device_id in self._waiting:
            self._waiting.discard(device_id)
            self._wake.set()

    def detach(self, device_id: str, send: Send) -> None:
        link = self._links.get(device_id)
        if link is not None and link.send is send:
            del self._links[device_id]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vigie-commands")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver()
            except Exception:
                logger.exception("command delivery failed; retrying at the next poll")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    async def deliver(self) -> int:
        """Send what is queued for the devices connected here; returns how many were sent.

        A command is marked sent before it is written, so that a quick reply finds it sent.
        """
        due = await asyncio.to_thread(self._due)
        ready: list[tuple[int, str, str, Link]] = []
        failed: list[tuple[int, str, str]] = []
        self._waiting = {device_id for _, device_id, _, _ in due} - self._links.keys()
        for command_id, device_id, kind, args in due:
            link = self._links.get(device_id)
            if link is None:
                continue
            text = text_for(link.protocol, kind, args, command_id)
            if text is None:
                failed.append((command_id, link.protocol, f"unsupported by {link.protocol}"))
            else:
                ready.append((command_id, device_id, text, link))
        if not ready and not failed:
            return 0
        sent = [(command_id, link.protocol, text) for command_id, _, text, link in ready]
        await asyncio.to_thread(self._record, sent, failed)
        lost: list[tuple[int, str, str]] = []
        for command_id, device_id, text, link in ready:
            try:
                link.send(command_id, text)
            except (ConnectionError, RuntimeError) as exc:
                logger.warning("command %d to %s not sent: %s", command_id, device_id, exc)
                lost.append((command_id, link.protocol, f"link lost: {exc}"))
        if lost:
            await asyncio.to_thread(self._record, [], lost)
        return len(ready) - len(lost)

    def _due(self) -> list[tuple[int, str, str, dict[str, object]]]:
        now = clock.now()
        with self._db.session() as session:
            command_queue.expire(session, now)
            return [
                (c.id, c.device_id, c.kind, dict(c.args)) for c in command_queue.due(session, now)
            ]

    def _record(self, sent: list[tuple[int, str, str]], failed: list[tuple[int, str, str]]) -> None:
        now = clock.now()
        with self._db.session() as session:
            for command_id, protocol, text in sent:
                command_queue.mark_sent(session, command_id, protocol, text, now)
            for command_id, protocol, why in failed:
                command_queue.mark_failed(session, command_id, protocol, why, now)

    async def answered(self, device_id: str, reply: str, command_id: int | None = None) -> None:
        """Store a device's reply on the command it answers (logged when none matches)."""

        def store() -> int | None:
            with self._db.session() as session:
                command = command_queue.answer(session, device_id, reply, clock.now(), command_id)
                return None if command is None else command.id

        matched = await asyncio.to_thread(store)
        if matched is None:
            logger.warning("reply of %s matches no command sent: %r", device_id, reply[:200])
        else:
            logger.info("device %s answered command %d", device_id, matched)
