"""Letting a partition go ends its stepping task even when a cancel is lost: Python 3.11's
`asyncio.wait_for`, which nats-py's fetch waits with, swallows a cancel whenever its inner
future completed meanwhile, as a subscription's queue fed without pause makes it do every time.
Waiting for such a task held a worker's round of claims (and its renewals) while it stepped
on; the worker's loops stop at `Owned.stopped` as well (`_step_loop`, `_consume`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vigie.alarms.pipeline import PartitionStep
from vigie.cluster.retention import StreamView
from vigie.cluster.worker import DetectionWorker, Owned
from vigie.settings import Settings
from vigie.store import open_database


def test_a_task_that_swallows_its_cancel_is_still_let_go_of(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'centre.db'}")
    settings = Settings()

    async def scenario() -> tuple[int, int, bool]:
        worker = DetectionWorker(settings, database, "w")
        owned = Owned(3, 1, PartitionStep(database, settings), StreamView(3, 0))
        queue: asyncio.Queue[int] = asyncio.Queue()
        fed = swallowed = 0

        async def feed() -> None:  # the connection's reader: messages without pause
            nonlocal fed
            while True:
                queue.put_nowait(fed)
                fed += 1
                await asyncio.sleep(0)

        async def fetching() -> None:  # a partition's loop, waiting as nats-py's fetch does
            nonlocal swallowed
            me = asyncio.current_task()
            assert me is not None
            while not owned.stopped:
                await asyncio.wait_for(queue.get(), 5)
                if me.cancelling():
                    swallowed += 1  # cancelled, and wait_for returned a message anyway

        feeder = asyncio.create_task(feed())
        owned.task = asyncio.create_task(fetching())
        worker.owned[3] = owned
        await asyncio.sleep(0.05)
        letting_go = asyncio.create_task(worker._let_go(3, release=False))
        done, _ = await asyncio.wait({letting_go}, timeout=10)
        owned.stopped = True  # whatever happened, the stand-in loop ends now
        feeder.cancel()
        await asyncio.wait({letting_go, feeder}, timeout=10)
        return fed, swallowed, bool(done) and owned.task.done() and 3 not in worker.owned

    try:
        fed, swallowed, ended = asyncio.run(scenario())
    finally:
        database.dispose()
    assert fed > 0
    assert swallowed >= 1  # the cancel was lost, as in the chaos run
    assert ended
