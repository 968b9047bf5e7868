"""Issue 14's cases (cases/review_2026_11.yaml): written from the texts, each with its article
and a one-line reason, checked through the engine and through `vigie law cases`."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.law.conftest import HERE, vigie
from vigie.commands.law import matches, run_case

REVIEW = HERE / "cases" / "review_2026_11.yaml"


def review_cases() -> list[dict[str, Any]]:
    data = yaml.safe_load(REVIEW.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = json.loads(json.dumps(data["cases"], default=str))
    return cases


CASES = review_cases()


def test_at_least_forty_cases_each_with_article_and_reason() -> None:
    assert len(CASES) >= 40
    assert all(c.get("article") and c.get("reason") for c in CASES)
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("item", CASES, ids=[c["name"] for c in CASES])
def test_review_case(item: dict[str, Any]) -> None:
    got = run_case(item["case"])
    assert matches(item["expect"], got), json.dumps(got, ensure_ascii=False)[:3000]


def test_review_cases_through_cli() -> None:
    run = vigie("law", "cases", str(REVIEW))
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(CASES)}/{len(CASES)} cases as expected" in run.stdout
