"""Detection quality side by side: the engine and the naive detector on the same seeded scenario.

Generates a simulated population (``vigie.sim``), replays it through the engine in arrival
order (as a live centre receives it, late uploads included) and through `bench/naive.py`,
scores both against the ground truth (``vigie.sim.scoring``), prints the two tables and writes
``bench/results/quality.json``.

    .venv/bin/python bench/quality.py [--seed 2026] [--cases 40] [--days 7]
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from naive import naive_alarms
from vigie.commands.sim import score_table
from vigie.detect import replay
from vigie.sim.scenario import Mix, generate
from vigie.sim.scoring import Alarm, ScenarioFacts, read_truth, score

RESULTS = Path(__file__).with_name("results") / "quality.json"


def main(argv: list[str]) -> int:
    """Generate, detect twice, score, print and write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--mix", default="ddse=0.4,psem=0.35,bar=0.25")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scenario_path, truth_path = Path(tmp) / "s.jsonl", Path(tmp) / "t.jsonl"
        with scenario_path.open("w") as out, truth_path.open("w") as truth:
            summary = generate(
                out,
                truth,
                seed=args.seed,
                cases=args.cases,
                days=args.days,
                mix=Mix.parse(args.mix),
            )
        lines = scenario_path.read_text().splitlines()
        episodes = read_truth(truth_path.read_text().splitlines())
    facts = ScenarioFacts.read(lines)
    began = time.perf_counter()
    engine = [Alarm.from_dict(e.to_dict()) for e in replay(lines, arrival_order=True)]
    engine_s = time.perf_counter() - began
    began = time.perf_counter()
    naive = [Alarm.from_dict(a) for a in naive_alarms(lines)]
    naive_s = time.perf_counter() - began
    scores = {"engine": score(engine, episodes, facts), "naive": score(naive, episodes, facts)}

    console = Console()
    console.width = max(console.width, 100)
    for name, result in scores.items():
        console.print(
            score_table(f"{name}: seed {args.seed}, {args.cases} cases, {args.days} days", result)
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
            "devices": summary.devices,
            "observations": summary.records,
            "true_episodes": summary.truth_episodes,
            "generate_s": round(summary.seconds, 2),
        },
        "engine": {"replay_s": round(engine_s, 2), **scores["engine"].to_dict()},
        "naive": {"run_s": round(naive_s, 2), **scores["naive"].to_dict()},
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
