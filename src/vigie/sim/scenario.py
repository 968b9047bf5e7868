"""Whole scenarios: a seeded population of cases written as a replay scenario and ground truth.

The scenario is placements first, then every observation and tick in the order it reaches the
monitoring centre (buffered uploads therefore come late and out of ``t`` order). Generating is
streaming: cases are made one at a time, their lines sorted by arrival in batches that are
spilled to temporary files, and the batches merged with `heapq.merge`; memory is bounded by the
batch size (``batch_lines``), not by the population or the span, so 100,000 devices for a week
is only a question of time and disk.

Each case draws from its own random stream ``default_rng([seed, case number])``: the same seed
gives the same bytes, and a case is the same whatever the size of the population around it.
"""

import heapq
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np

from vigie.sim import bar, ddse, psem, records
from vigie.sim.case import SIGNAL_TIMEOUT_S, TZ, CaseContext, CaseOutput
from vigie.sim.gps import Outbox

DEFAULT_START = date(2026, 11, 23)  # a Monday
TICK_S = 60
MEASURES = ("ddse", "psem", "bar")
ARSE_SHARE = 0.2  # of the home-detention cases, house arrest (same devices, other law)
_TICK_CASE = 9_999_999
_DEVICE = re.compile(r'"device":"([^"]+)"')


class MixError(ValueError):
    """A population mix the simulator cannot use."""


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of each kind of case in the population."""

    ddse: float = 0.4
    psem: float = 0.35
    bar: float = 0.25

    @classmethod
    def parse(cls, text: str) -> "Mix":
        """Read ``"ddse=0.5,psem=0.3,bar=0.2"`` (shares are normalised; missing ones are 0)."""
        shares = dict.fromkeys(MEASURES, 0.0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name.strip() not in shares:
                raise MixError(f"mix: unknown measure {name.strip()!r}; use {', '.join(MEASURES)}")
            try:
                shares[name.strip()] = float(value)
            except ValueError:
                raise MixError(f"mix: {part!r} is not measure=number") from None
        total = sum(shares.values())
        if total <= 0 or any(v < 0 for v in shares.values()):
            raise MixError("mix: shares must be non-negative and not all zero")
        return cls(**{k: v / total for k, v in shares.items()})

    def measures(self, rng: np.random.Generator, cases: int) -> list[str]:
        """The measure of each case: exact shares (largest remainder), in shuffled order."""
        shares = np.array([self.ddse, self.psem, self.bar]) * cases
        counts = np.floor(shares).astype(int)
        for i in np.argsort(-(shares - counts), kind="stable")[: cases - counts.sum()]:
            counts[i] += 1
        out = [m for m, n in zip(MEASURES, counts, strict=True) for _ in range(n)]
        return [out[i] for i in rng.permutation(cases)]


@dataclass(frozen=True, slots=True)
class Summary:
    """What a generation produced and what it cost."""

    cases: int
    devices: int
    days: int
    records: int
    truth_episodes: int
    seconds: float


def span_of(start: date, days: int) -> tuple[int, int]:
    """Epoch seconds of local midnight on `start` and `days` later."""
    zone = ZoneInfo(TZ)
    first = datetime.combine(start, datetime.min.time(), zone)
    last = datetime.combine(start + timedelta(days=days), datetime.min.time(), zone)
    return int(first.timestamp()), int(last.timestamp())


def generate_case(ctx: CaseContext, measure: str) -> CaseOutput:
    """One case of the given measure (``ddse`` cases are sometimes ARSE)."""
    if measure == "ddse":
        arse = ctx.rng().random() < ARSE_SHARE  # a draw of its own, before the case's stream
        return ddse.generate(ctx, "arse" if arse else "ddse")
    if measure == "psem":
        return psem.generate(ctx)
    return bar.generate(ctx)


def _device_count(placement: dict[str, object]) -> int:
    return sum(1 for key in ("wearer", "home_unit", "protected") if placement.get(key))


class _Spill:
    """Sorted runs of prefixed lines, in memory until too big, then in temporary files."""

    def __init__(self, limit: int, directory: str, stack: ExitStack) -> None:
        self._limit = limit
        self._dir = directory
        self._stack = stack
        self._buffer: list[str] = []
        self._runs: list[IO[str]] = []

    def add(self, keyed_lines: list[str]) -> None:
        self._buffer.extend(keyed_lines)
        if len(self._buffer) >= self._limit:
            self._flush()

    def _flush(self) -> None:
        self._buffer.sort()
        run = self._stack.enter_context(  # closed (and deleted) when the ExitStack ends
            tempfile.TemporaryFile("w+", encoding="utf-8", dir=self._dir)  # noqa: SIM115
        )
        run.writelines(self._buffer)
        run.seek(0)
        self._runs.append(run)
        self._buffer = []

    def merged(self, *extra: Iterator[str]) -> Iterator[str]:
        """All lines in key order, keys still on."""
        self._buffer.sort()
        return heapq.merge(*self._runs, iter(self._buffer), *extra)


def _as_received(box: Outbox, start_s: int) -> list[tuple[int, str]]:
    """A case's lines in arrival order, a tick before each that comes late or ends a silence.

    A live centre ticks every second, so its clock reads a line's arrival when the line comes
    in: that is when it hears the device (`gps.silence_truth`). The scenario's minute ticks
    alone would leave the engine's clock up to a minute behind for a buffered line, and miss a
    silence shorter than a minute; these ticks come from what the centre receives, never from
    the ground truth.
    """
    heard: dict[str, int] = {}
    out: list[tuple[int, str]] = []
    for i in np.lexsort((np.array(box.order), np.array(box.arrival))).tolist():
        arrival, event, line = box.arrival[i], box.event[i], box.lines[i]
        found = _DEVICE.search(line)
        if found is not None:
            device = found.group(1)
            last = heard.get(device, start_s)
            if arrival - event > TICK_S or arrival > last + SIGNAL_TIMEOUT_S:
                out.append((arrival, records.tick(arrival)))
            heard[device] = max(last, event, arrival)
        out.append((arrival, line))
    return out


def _ticks(start_s: int, end_s: int) -> Iterator[str]:
    for t in range(start_s, end_s + 1, TICK_S):
        yield f"{t:011d}{_TICK_CASE:07d}{0:08d}{records.tick(t)}\n"


KEY_WIDTH = 26  # arrival (11) + case (7) + rank within the case (8)


def generate(
    out: IO[str],
    truth: IO[str],
    *,
    seed: int,
    cases: int,
    days: int,
    mix: Mix | None = None,
    start: date = DEFAULT_START,
    batch_lines: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
    noise: bool = False,
) -> Summary:
    """Write a scenario to `out` and its ground truth to `truth`; see the module docstring."""
    if cases < 1 or days < 1:
        raise MixError("a scenario needs at least one case and one day")
    if cases >= _TICK_CASE:
        raise MixError(f"at most {_TICK_CASE - 1} cases")
    began = time.perf_counter()
    mix = mix or Mix()
    start_s, end_s = span_of(start, days)
    measures = mix.measures(np.random.default_rng([seed, 2**32 - 1]), cases)
    total = episodes = devices = 0
    directory = os.path.dirname(os.path.abspath(getattr(out, "name", "") or ".")) or None
    with ExitStack() as stack:
        spill = _Spill(batch_lines, directory or tempfile.gettempdir(), stack)
        truth_spill = _Spill(batch_lines // 10, directory or tempfile.gettempdir(), stack)
        placements = stack.enter_context(
            tempfile.TemporaryFile("w+", encoding="utf-8", dir=directory)
        )
        for index, measure in enumerate(measures):
            case = generate_case(CaseContext(index, seed, start_s, end_s, noise), measure)
            placements.write(records.canonical(case.placement) + "\n")
            devices += _device_count(case.placement)
            spill.add(
                [
                    f"{arrival:011d}{index:07d}{rank:08d}{line}\n"
                    for rank, (arrival, line) in enumerate(_as_received(case.outbox, start_s))
                ]
            )
            total += len(case.outbox.lines)
            truth_spill.add(
                [
                    f"{e.start:011d}{index:07d}{e.kind:<12}{e.end:011d}{e.device}{e.to_json()}\n"
                    for e in case.truth
                ]
            )
            episodes += len(case.truth)
            if progress is not None:
                progress(index + 1)
        placements.seek(0)
        for line in placements:
            out.write(line)
        for keyed in spill.merged(_ticks(start_s, end_s)):
            out.write(keyed[KEY_WIDTH:])
        for keyed in truth_spill.merged():
            truth.write(keyed[keyed.index("{") :])
    return Summary(cases, devices, days, total, episodes, time.perf_counter() - began)
