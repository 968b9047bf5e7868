"""The alarm bell: rung from any thread, it wakes every waiter, and no ring is ever missed."""

from __future__ import annotations

import asyncio
import threading

from vigie.alarms.bell import AlarmBell


def test_a_ring_from_another_thread_wakes_every_waiter() -> None:
    bell = AlarmBell()

    async def scenario() -> list[bool]:
        seen = bell.generation
        waiters = [asyncio.create_task(bell.wait(seen, timeout=30)) for _ in range(3)]
        await asyncio.sleep(0.05)  # all three are waiting
        threading.Thread(target=bell.ring).start()
        return await asyncio.gather(*waiters)

    assert asyncio.run(scenario()) == [True, True, True]
    assert bell.generation == 1


def test_a_ring_before_the_wait_is_not_missed() -> None:
    bell = AlarmBell()

    async def scenario() -> bool:
        seen = bell.generation
        bell.ring()  # e.g. while the stream was reading the queue
        return await bell.wait(seen, timeout=30)

    assert asyncio.run(scenario()) is True


def test_without_a_ring_the_wait_ends_at_its_timeout() -> None:
    bell = AlarmBell()
    assert asyncio.run(bell.wait(bell.generation, timeout=0.05)) is False
