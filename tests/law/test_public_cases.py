"""Every public case (shared/law/cases/public.json) through the real `vigie law assess`."""

from __future__ import annotations

import json

import pytest

from tests.law.conftest import LOCAL_PUBLIC, SHARED_PUBLIC, public_cases, vigie
from vigie.commands.law import matches

CASES = public_cases()


@pytest.mark.parametrize("item", CASES, ids=[c["name"] for c in CASES])
def test_public_case_through_cli(item: dict) -> None:
    run = vigie("law", "assess", "-", stdin=json.dumps(item["case"]))
    if item["expect"].get("exit") == 2:
        assert run.returncode == 2
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1
        return
    assert run.returncode == 0, run.stderr
    assert matches(item["expect"], json.loads(run.stdout))


def test_local_copy_is_verbatim() -> None:
    if not SHARED_PUBLIC.exists():
        pytest.skip("shared/ absent: the local copy is the reference")
    assert json.loads(LOCAL_PUBLIC.read_text()) == json.loads(SHARED_PUBLIC.read_text())
