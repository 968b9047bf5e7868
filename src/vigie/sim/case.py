"""One simulated case: its identifiers, its random stream, and what generating it yields."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigie.sim import records
from vigie.sim.gps import Outbox
from vigie.sim.intervals import Interval
from vigie.sim.records import Episode

TZ = "Europe/Paris"
SIGNAL_TIMEOUT_S = 600  # the replay format's default
LOW_BATTERY = 0.20  # idem


@dataclass(frozen=True, slots=True)
class CaseContext:
    """Who and when: the case number, its identifiers and the simulated span."""

    index: int
    seed: int
    start_s: int
    end_s: int
    noise: bool = False  # field noise (noise.py) on the GPS devices' fixes

    def noise_rng(self) -> np.random.Generator:
        """The case's stream for field noise, apart from ``rng``: the same days either way."""
        return np.random.default_rng([self.seed, self.index, 20])

    @property
    def case(self) -> str:
        """Case id."""
        return f"C{self.index:06d}"

    @property
    def wearer(self) -> str:
        """The bracelet's device id."""
        return f"B{self.index:06d}"

    @property
    def home_unit(self) -> str:
        """The home unit's device id (DDSE, ARSE)."""
        return f"H{self.index:06d}"

    @property
    def protected(self) -> str:
        """The protected person's device id (BAR)."""
        return f"P{self.index:06d}"

    @property
    def days(self) -> float:
        """Length of the span in days."""
        return (self.end_s - self.start_s) / 86_400

    def rng(self) -> np.random.Generator:
        """This case's own random stream: a case is the same whatever else is generated."""
        return np.random.default_rng([self.seed, self.index])


@dataclass(slots=True)
class CaseOutput:
    """A generated case: its placement record, what its devices send, and the true breaches."""

    placement: dict[str, Any]
    outbox: Outbox
    truth: list[Episode] = field(default_factory=list)

    def add_truth(
        self,
        ctx: CaseContext,
        kind: str,
        device: str,
        intervals: list[Interval],
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record true breach intervals of one kind."""
        for s, e in intervals:
            self.truth.append(Episode(ctx.case, kind, device, s, e, dict(detail or {})))


def tamper_episodes(
    rng: np.random.Generator,
    ctx: CaseContext,
    device: str,
    what: str,
    rate_per_week: float,
    allowed: list[Interval] | None,
    out: CaseOutput,
) -> None:
    """Occasional tampering (strap or case opened, then restored), within `allowed` times."""
    if rng.random() >= rate_per_week * ctx.days / 7:
        return
    spans = allowed if allowed is not None else [(ctx.start_s, ctx.end_s)]
    spans = [(s, e) for s, e in spans if e - s > 3_600]
    if not spans:
        return
    s, e = spans[int(rng.integers(len(spans)))]
    t0 = int(rng.integers(s, e - 3_000))
    t1 = t0 + int(rng.integers(120, 2_400))
    out.outbox.add(t0 + 2, t0, records.tamper(device, t0, what))
    out.outbox.add(t1 + 2, t1, records.tamper(device, t1, "restored"))
    out.add_truth(ctx, "tamper", device, [(t0, t1)], {"what": what})


SOS_STREAM = 21  # the presses' own random stream: adding them changed no other draw of a case


def sos_presses(ctx: CaseContext, device: str, rate_per_week: float, out: CaseOutput) -> None:
    """She sometimes calls for help (a Poisson number of calls over the span); a call is
    sometimes pressed again a minute or two later. Each call is one true `sos` episode, which
    detection must raise at once (its window: the scoring's tolerance after the press)."""
    rng = np.random.default_rng([ctx.seed, ctx.index, SOS_STREAM])
    if ctx.end_s - ctx.start_s <= 600:
        return
    for _ in range(int(rng.poisson(rate_per_week * ctx.days / 7))):
        t = int(rng.integers(ctx.start_s, ctx.end_s - 600))
        out.outbox.add(t + 1, t, records.sos(device, t))
        if rng.random() < 0.3:
            again = t + int(rng.integers(30, 120))
            out.outbox.add(again + 1, again, records.sos(device, again))
        out.add_truth(ctx, "sos", device, [(t, t + 1)])  # an instant: its second
