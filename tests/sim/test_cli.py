"""`vigie sim generate` and `vigie sim score` from the command line."""

import json
from pathlib import Path

from typer.testing import CliRunner

from vigie.cli import app
from vigie.detect import replay


def test_generate_then_score(tmp_path: Path) -> None:
    runner = CliRunner()
    scenario, truth, alarms = tmp_path / "s.jsonl", tmp_path / "t.jsonl", tmp_path / "a.jsonl"
    args = ["sim", "generate", "--seed", "9", "--cases", "4", "--days", "2"]
    result = runner.invoke(
        app, [*args, "--mix", "psem=1,bar=1", "--out", str(scenario), "--truth", str(truth)]
    )
    assert result.exit_code == 0, result.output
    lines = scenario.read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "placement" for line in lines) == 4
    events = replay(lines, arrival_order=True)
    alarms.write_text("".join(e.to_json() + "\n" for e in events))

    result = runner.invoke(app, ["sim", "score", str(scenario), str(truth), str(alarms), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["device_days"] == (2 * 1 + 2 * 2) * 2  # 2 PSEM x 1 device, 2 BAR x 2; 2 days
    assert set(report["kinds"]) >= {"alert", "zone_entry", "signal_lost"}

    table = runner.invoke(app, ["sim", "score", str(scenario), str(truth), str(alarms)])
    assert table.exit_code == 0 and "recall" in table.output


def test_a_bad_mix_exits_2_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "generate",
            "--mix",
            "lsc=1",
            "--out",
            str(tmp_path / "s"),
            "--truth",
            str(tmp_path / "t"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown measure" in result.output
