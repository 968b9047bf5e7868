"""A short atheris (coverage-guided) run of each decoder: no input may crash it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).with_name("fuzz_decoders.py")


@pytest.mark.parametrize("target", ["teltonika", "teltonika_udp", "gt06", "osmand", "mqtt"])
def test_atheris_finds_no_crash(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(FUZZER), target, "-atheris_runs=20000", "-seed=1", "-max_len=512"],
        cwd=tmp_path,  # crash artefacts, if any, land here
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Done 20000 in" in result.stderr
