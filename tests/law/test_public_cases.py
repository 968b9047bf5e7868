"""Every public case (shared/law/cases/public.json) through `vigie law assess` and `cases`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.law.conftest import LOCAL_PUBLIC, SHARED_PUBLIC, public_cases, public_cases_path, vigie
from vigie.cli import app
from vigie.commands.law import matches

CASES = public_cases()


@pytest.mark.parametrize("item", CASES, ids=[c["name"] for c in CASES])
def test_public_case_through_cli(item: dict) -> None:
    run = CliRunner().invoke(app, ["law", "assess", "-"], input=json.dumps(item["case"]))
    if item["expect"].get("exit") == 2:
        assert run.exit_code == 2
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1
        return
    assert run.exit_code == 0, run.stderr
    assert matches(item["expect"], json.loads(run.stdout))


def test_every_public_case_through_the_installed_command() -> None:
    run = vigie("law", "cases", str(public_cases_path()))
    assert run.returncode == 0, run.stdout
    assert f"{len(CASES)}/{len(CASES)} cases as expected" in run.stdout


def test_local_copy_is_verbatim() -> None:
    if not SHARED_PUBLIC.exists():
        pytest.skip("shared/ absent: the local copy is the reference")
    assert json.loads(LOCAL_PUBLIC.read_text()) == json.loads(SHARED_PUBLIC.read_text())
