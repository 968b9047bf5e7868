"""Shared helpers for the legal engine's tests: the cases files and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SHARED_PUBLIC = REPO.parent / "shared" / "law" / "cases" / "public.json"
LOCAL_PUBLIC = HERE / "cases" / "public.json"
LAWYER = HERE / "cases" / "lawyer.yaml"
VIGIE = Path(sys.executable).with_name("vigie")


def public_cases_path() -> Path:
    """The shared public cases, or our verbatim copy when the shared folder is absent."""
    return SHARED_PUBLIC if SHARED_PUBLIC.exists() else LOCAL_PUBLIC


def public_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(public_cases_path().read_text(encoding="utf-8"))
    return cases


def lawyer_cases() -> list[dict[str, Any]]:
    data = yaml.safe_load(LAWYER.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = json.loads(json.dumps(data["cases"], default=str))
    return cases


def vigie(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `vigie` console script."""
    return subprocess.run(
        [str(VIGIE), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
