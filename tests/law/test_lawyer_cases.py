"""Our own cases (cases/lawyer.yaml): inputs, expected outputs computed by hand, the article."""

from __future__ import annotations

import pytest

from tests.law.conftest import LAWYER, lawyer_cases, vigie
from vigie.commands.law import matches, run_case

CASES = lawyer_cases()


def test_enough_cases_and_every_one_cites_its_article() -> None:
    assert len(CASES) >= 60
    assert all(c.get("article") for c in CASES)


@pytest.mark.parametrize("item", CASES, ids=[c["name"] for c in CASES])
def test_lawyer_case(item: dict) -> None:
    got = run_case(item["case"])
    assert matches(item["expect"], got), got


def test_cases_file_through_cli() -> None:
    run = vigie("law", "cases", str(LAWYER))
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(CASES)}/{len(CASES)} cases as expected" in run.stdout
