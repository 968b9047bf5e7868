"""Detection quality under field GPS noise: the engine against a naive detector, in arrival order.

Generates a seeded population (``vigie.sim``) with field noise (``vigie.sim.noise``: fallback
fixes, indoor drift, canyon jumps, cold starts, outage bursts, duplicates, clock jitter; homes
beside the zones), replays it in arrival order (as a live centre receives it) through the
engine configured as the centre configures it (the settings' confirmation bounds) and through
`bench/naive.py` (raises on every fix inside), scores both against the ground truth
(``vigie.sim.scoring``) and writes ``bench/results/quality.json``: recall per kind, false
alarms per device-day and their ratio to the naive detector's, duplicate raises, the delay
confirmation adds and the lag of episodes seen late (``detected_at``).

    .venv/bin/python bench/quality.py [--seed 2026] [--cases 60] [--days 7] [--clean]

Targets (issue 20): recall 100 % on every kind, false alarms at most a tenth of the naive
detector's, no episode raised twice; whether each is met is in the JSON (``targets``) and
printed. The exit status is 0 either way, so that ``make bench`` runs the other benches.
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from naive import naive_alarms
from vigie.commands.sim import score_table
from vigie.detect import AlarmEvent, replay
from vigie.detect.events import ms_of
from vigie.settings import Settings
from vigie.sim.records import Episode
from vigie.sim.scenario import Mix, generate
from vigie.sim.scoring import Alarm, ScenarioFacts, Score, read_truth, score

RESULTS = Path(__file__).with_name("results") / "quality.json"
TARGET_RATIO = 0.1


def as_the_centre_configures(lines: Iterable[str], settings: Settings) -> list[str]:
    """Placement records with the settings' confirmation bounds, as the centre writes them."""
    out = []
    for line in lines:
        if line.startswith('{"') and '"kind":"placement"' in line:
            record = json.loads(line)
            record.setdefault("confirm_s", settings.breach_confirm_s.get(record["measure"], 300))
            if record["measure"] == "bar":
                record.setdefault("alert_confirm_s", settings.alert_confirm_s)
            line = json.dumps(record, sort_keys=True, separators=(",", ":"))
        out.append(line)
    return out


def scenario(
    seed: int, cases: int, days: int, mix: str, noise: bool
) -> tuple[list[str], list[Episode], dict[str, Any]]:
    """A generated scenario's lines, its ground truth and its summary."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario_path, truth_path = Path(tmp) / "s.jsonl", Path(tmp) / "t.jsonl"
        with scenario_path.open("w") as out, truth_path.open("w") as truth:
            summary = generate(
                out, truth, seed=seed, cases=cases, days=days, mix=Mix.parse(mix), noise=noise
            )
        lines = scenario_path.read_text().splitlines()
        episodes = read_truth(truth_path.read_text().splitlines())
    facts = {
        "devices": summary.devices,
        "observations": summary.records,
        "true_episodes": summary.truth_episodes,
        "generate_s": round(summary.seconds, 2),
    }
    return lines, episodes, facts


def _median_max(values: list[float]) -> dict[str, float | None]:
    return {
        "median": statistics.median(values) if values else None,
        "max": max(values) if values else None,
        "count": len(values),
    }


def engine_delays(events: list[AlarmEvent]) -> dict[str, Any]:
    """Delay confirmation added, per kind, and lag of the episodes learned late."""
    added: dict[str, list[float]] = {}
    lag: list[float] = []
    for e in events:
        if e.state != "raised":
            continue
        if "confirm_delay_s" in e.detail:
            added.setdefault(e.kind, []).append(float(e.detail["confirm_delay_s"]))
        if e.detected_at is not None:
            lag.append((ms_of(e.detected_at) - ms_of(e.t)) / 1000)
    return {
        "confirmation_delay_s": {k: _median_max(v) for k, v in sorted(added.items())},
        "detected_late_lag_s": _median_max(lag),
    }


def quality(lines: list[str], episodes: list[Episode]) -> dict[str, Any]:
    """Both detectors over one scenario: scores, ratio, delays; and whether targets are met."""
    facts = ScenarioFacts.read(lines)
    configured = as_the_centre_configures(lines, Settings())
    began = time.perf_counter()
    events = replay(configured, arrival_order=True)
    engine_s = time.perf_counter() - began
    began = time.perf_counter()
    naive = [Alarm.from_dict(a) for a in naive_alarms(lines)]
    naive_s = time.perf_counter() - began
    engine_score = score([Alarm.from_dict(e.to_dict()) for e in events], episodes, facts)
    naive_score = score(naive, episodes, facts)
    e_rate = engine_score.false_alarms / engine_score.device_days
    n_rate = naive_score.false_alarms / naive_score.device_days
    ratio = e_rate / n_rate if n_rate else None
    recalls = {k: v.recall for k, v in engine_score.kinds.items() if v.recall is not None}
    return {
        "engine": {
            "replay_s": round(engine_s, 2),
            **engine_score.to_dict(),
            **engine_delays(events),
        },
        "naive": {"run_s": round(naive_s, 2), **naive_score.to_dict()},
        "false_alarm_ratio": ratio,
        "targets": {
            "recall_every_kind_100": all(r == 1.0 for r in recalls.values()),
            "false_alarms_at_most_a_tenth_of_naive": ratio is not None and ratio <= TARGET_RATIO,
            "no_episode_raised_twice": engine_score.duplicates == 0,
        },
        "_scores": (engine_score, naive_score),
    }


def main(argv: list[str]) -> int:
    """Generate, detect twice, score, print and write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--mix", default="ddse=0.4,psem=0.35,bar=0.25")
    parser.add_argument("--clean", action="store_true", help="without field noise")
    args = parser.parse_args(argv)
    lines, episodes, facts = scenario(args.seed, args.cases, args.days, args.mix, not args.clean)
    result = quality(lines, episodes)
    scores: tuple[Score, Score] = result.pop("_scores")

    console = Console()
    console.width = max(console.width, 100)
    for name, s in zip(("engine", "naive"), scores, strict=True):
        title = f"{name}: seed {args.seed}, {args.cases} cases, {args.days} days"
        console.print(score_table(title, s))
    engine, naive = result["engine"], result["naive"]
    console.print(
        f"false alarms per device-day: engine {engine['false_alarms_per_device_day']:.4f},"
        f" naive {naive['false_alarms_per_device_day']:.4f},"
        f" ratio {result['false_alarm_ratio']:.3f} (target <= {TARGET_RATIO});"
        f" duplicate raises: engine {engine['duplicates']}, naive {naive['duplicates']}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    report = {
        "benchmark": "quality",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "scenario": {
            "seed": args.seed,
            "cases": args.cases,
            "days": args.days,
            "mix": args.mix,
            "noise": "clean" if args.clean else "field",
            "order": "arrival",
            **facts,
        },
        **result,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"targets: {result['targets']}")
    console.print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
