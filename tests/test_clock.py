"""The centre's clock: the system clock moved by the test-only offset, read once per process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from vigie import clock


@pytest.fixture
def fresh_offset(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Reads the offset anew for the test, and again afterwards (the environment as it was)."""
    clock.offset.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    clock.offset.cache_clear()


def test_the_offset_moves_now_and_today(fresh_offset: pytest.MonkeyPatch) -> None:
    fresh_offset.setenv(clock.OFFSET_VARIABLE, str(400 * 86400))
    system = datetime.now(UTC)
    moved = clock.now()
    assert moved.tzinfo is not None
    assert timedelta(days=400) <= moved - system < timedelta(days=400, seconds=5)
    assert clock.today_in_paris() == moved.astimezone(clock.PARIS).date()


def test_without_the_variable_the_clock_is_the_system_clock(
    fresh_offset: pytest.MonkeyPatch,
) -> None:
    fresh_offset.delenv(clock.OFFSET_VARIABLE, raising=False)
    assert clock.offset() == timedelta(0)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_an_offset_that_is_not_a_number_is_refused_by_name(
    fresh_offset: pytest.MonkeyPatch,
) -> None:
    fresh_offset.setenv(clock.OFFSET_VARIABLE, "400 days")
    with pytest.raises(ValueError, match="VIGIE_CLOCK_OFFSET_S='400 days' is not a number"):
        clock.now()
