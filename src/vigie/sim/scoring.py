"""Detection quality: alarms scored against ground truth.

- **Recall** per kind: a true episode is caught when an alarm of that kind for that case is
  raised during it, or within `tolerance_s` after its start, or was still raised (not
  cleared) for an earlier true episode when it began (one alarm over two breaches in quick
  succession, as hysteresis wants); a raise up to `early_s` before the start also counts
  (a fix's noise can put the wearer across a line seconds before they really are).
  Episodes whose catch window runs past the end of the scenario and are not caught are left
  out (undecided).
- **Delay**: from the true start to the first matching raise (0 when already raised).
- **False alarms**: raises that match no true episode, per device-day.
- **Flapping**: raises cleared again within `flap_s`.
- **Duplicates**: raises within a true episode already raised, counting only those made
  while no raise of that case and kind was open (an open one, for another target of the same
  case, is folded into the same alarm by the centre): one episode, one alarm. A raise again
  after the episode's end, once its alarm cleared, counts as a false alarm instead.
"""

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigie.sim.records import Episode, parse_iso

KINDS = (
    "sos",
    "absence",
    "tamper",
    "power",
    "zone_entry",
    "zone_exit",
    "pre_alert",
    "alert",
    "low_battery",
    "signal_lost",
)


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm event, as much of it as scoring needs."""

    t: int
    case: str
    kind: str
    state: str
    device: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alarm":
        """An alarm read from an alarm JSONL line."""
        return cls(parse_iso(data["t"]), data["case"], data["kind"], data["state"], data["device"])


@dataclass(frozen=True, slots=True)
class ScenarioFacts:
    """What scoring needs from a scenario: how many devices, over how long."""

    devices: int
    start: int
    end: int

    @property
    def device_days(self) -> float:
        """Devices times days monitored."""
        return self.devices * max(self.end - self.start, 1) / 86_400

    @classmethod
    def read(cls, lines: Iterable[str]) -> "ScenarioFacts":
        """Count the placements' devices and find the span of the scenario's times."""
        devices: set[str] = set()
        first: str | None = None
        last: str | None = None
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("kind") == "placement":
                devices.update(
                    record[k] for k in ("wearer", "home_unit", "protected") if record.get(k)
                )
                continue
            t = record.get("t")
            if isinstance(t, str):  # ISO UTC strings of one format sort as times do
                first = t if first is None or t < first else first
                last = t if last is None or t > last else last
        if first is None or last is None:
            return cls(len(devices), 0, 0)
        return cls(len(devices), parse_iso(first), parse_iso(last))


@dataclass(slots=True)
class KindScore:
    """Scores of one alarm kind."""

    episodes: int = 0
    caught: int = 0
    undecided: int = 0
    delays: list[int] = field(default_factory=list)
    raised: int = 0
    false_alarms: int = 0
    flaps: int = 0
    duplicates: int = 0

    @property
    def recall(self) -> float | None:
        """Share of true episodes caught (None without episodes)."""
        return self.caught / self.episodes if self.episodes else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "episodes": self.episodes,
            "caught": self.caught,
            "undecided": self.undecided,
            "recall": self.recall,
            "delay_median_s": statistics.median(self.delays) if self.delays else None,
            "delay_max_s": max(self.delays) if self.delays else None,
            "raised": self.raised,
            "false_alarms": self.false_alarms,
            "flaps": self.flaps,
            "duplicates": self.duplicates,
        }


@dataclass(slots=True)
class Score:
    """Scores of a run of a detector over a scenario."""

    kinds: dict[str, KindScore]
    device_days: float
    missed: list[Episode] = field(default_factory=list)
    duplicated: list[Episode] = field(default_factory=list)

    @property
    def false_alarms(self) -> int:
        """Raises matching no true episode."""
        return sum(k.false_alarms for k in self.kinds.values())

    @property
    def flaps(self) -> int:
        """Raises cleared within the flapping window."""
        return sum(k.flaps for k in self.kinds.values())

    @property
    def duplicates(self) -> int:
        """Raises of an episode already raised (see the module)."""
        return sum(k.duplicates for k in self.kinds.values())

    def recall(self, kind: str) -> float | None:
        """Recall of one kind."""
        return self.kinds[kind].recall if kind in self.kinds else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        per_day = self.false_alarms / self.device_days if self.device_days else None
        return {
            "device_days": round(self.device_days, 3),
            "false_alarms": self.false_alarms,
            "false_alarms_per_device_day": per_day,
            "flaps": self.flaps,
            "duplicates": self.duplicates,
            "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
            "missed": [json.loads(e.to_json()) for e in self.missed],
            "duplicated": [json.loads(e.to_json()) for e in self.duplicated],
        }


def score(
    alarms: Iterable[Alarm],
    truth: Iterable[Episode],
    facts: ScenarioFacts,
    *,
    tolerance_s: int = 600,
    early_s: int = 120,
    flap_s: int = 60,
) -> Score:
    """Score alarms against the true episodes; see the module docstring for the rules."""
    raises: dict[tuple[str, str], list[int]] = defaultdict(list)
    clears: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    actives: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    open_since: dict[tuple[str, str, str], int] = {}
    kinds: dict[str, KindScore] = {k: KindScore() for k in KINDS}
    open_count: dict[tuple[str, str], int] = defaultdict(int)
    fresh: set[tuple[str, str, int]] = set()  # raises made while none of theirs was open
    for a in sorted(alarms, key=lambda a: (a.t, a.state != "raised")):
        kinds.setdefault(a.kind, KindScore())
        key = (a.case, a.kind, a.device)
        if a.state == "raised":
            raises[(a.case, a.kind)].append(a.t)
            kinds[a.kind].raised += 1
            open_since.setdefault(key, a.t)
            if open_count[(a.case, a.kind)] == 0:
                fresh.add((a.case, a.kind, a.t))
            open_count[(a.case, a.kind)] += 1
        elif a.state == "cleared":
            open_count[(a.case, a.kind)] = max(0, open_count[(a.case, a.kind)] - 1)
            clears[key].append(a.t)
            if key in open_since:
                began = open_since.pop(key)
                actives[(a.case, a.kind)].append((began, a.t))
                if a.t - began < flap_s:
                    kinds[a.kind].flaps += 1
    for (case, kind, _), began in open_since.items():
        actives[(case, kind)].append((began, facts.end + 1))

    matched: set[tuple[str, str, int]] = set()
    missed: list[Episode] = []
    duplicated: list[Episode] = []
    for e in sorted(truth, key=lambda e: (e.start, e.case, e.kind)):
        ks = kinds.setdefault(e.kind, KindScore())
        window_end = max(e.end, e.start + tolerance_s)
        hits = [r for r in raises.get((e.case, e.kind), []) if e.start - early_s <= r <= window_end]
        already = any(
            s < e.start - early_s and c > e.start and (e.case, e.kind, s) in matched
            for s, c in actives[(e.case, e.kind)]
        )
        if hits or already:
            ks.episodes += 1
            ks.caught += 1
            ks.delays.append(0 if already else max(0, min(hits) - e.start))
            new_hits = sorted({r for r in hits if (e.case, e.kind, r) not in matched})
            again = [r for r in new_hits if (e.case, e.kind, r) in fresh][0 if already else 1 :]
            # A raise again after the episode ended (and its alarm cleared) is a false alarm
            # that the catch window happens to cover; one before its end is a duplicate.
            after = {r for r in again if r >= e.end}
            extra = len(again) - len(after)
            ks.duplicates += extra
            if extra:
                duplicated.append(e)
            matched.update((e.case, e.kind, r) for r in hits if r not in after)
        elif window_end > facts.end:
            ks.undecided += 1
        else:
            ks.episodes += 1
            missed.append(e)
    for (case, kind), times in raises.items():
        kinds[kind].false_alarms += sum(1 for r in times if (case, kind, r) not in matched)
    return Score(kinds, facts.device_days, missed, duplicated)


def read_alarms(lines: Iterable[str]) -> list[Alarm]:
    """Alarms from JSON Lines."""
    return [Alarm.from_dict(json.loads(line)) for line in lines if line.strip()]


def read_truth(lines: Iterable[str]) -> list[Episode]:
    """True episodes from JSON Lines."""
    return [Episode.from_dict(json.loads(line)) for line in lines if line.strip()]
