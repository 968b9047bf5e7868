"""Issue 19's worked fiches (cases/fiches.yaml): several sentences on their own dates, dated
credits, grants and withdrawals, each written from the texts with its articles and reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.law.conftest import HERE, vigie
from vigie.law import LawInputError, assess

FICHES = HERE / "cases" / "fiches.yaml"
AS_OF = "2026-11-30"


def load() -> list[dict[str, Any]]:
    data = yaml.safe_load(FICHES.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = json.loads(json.dumps(data, default=str))
    return cases


CASES = load()


def fiche_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"measure": "fiche", "as_of": AS_OF} | item["fiche"]


def check(expect: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Every expected value that differs, as 'where: expected != got'."""
    wrong: list[str] = []

    def same(where: str, want: Any, have: Any) -> None:
        if want != have:
            wrong.append(f"{where}: {want!r} != {have!r}")

    for section in ("dates", "figures"):
        for key, want in expect.get(section, {}).items():
            same(f"{section}.{key}", want, got[section].get(key))
    for key in ("legal_duration", "regime"):
        if key in expect:
            same(key, expect[key], got[key])
    thresholds = {t["id"]: t for t in got["thresholds"]}
    for tid, want in expect.get("thresholds", {}).items():
        t = thresholds[tid]
        same(f"thresholds.{tid}", want, t["date"] if t["applies"] else None)
    deadlines = {d["id"]: d["date"] for d in got["deadlines"]}
    for did, want in expect.get("deadlines", {}).items():
        same(f"deadlines.{did}", want, deadlines.get(did))
    lines = {ln["id"]: ln for ln in got["timeline"]["sentences"]}
    for sid, fields in expect.get("sentences", {}).items():
        for key, want in fields.items():
            same(f"sentences.{sid}.{key}", want, lines[sid][key])
    if "event" in expect:
        events = [e for ln in got["timeline"]["sentences"] for e in ln["events"]]
        for key, want in expect["event"].items():
            same(f"event.{key}", want, events[0][key])
    return wrong


def test_at_least_thirty_fiches_each_with_articles_and_reason() -> None:
    assert len(CASES) >= 30
    assert all(c.get("articles") and c.get("why") and c.get("expect") for c in CASES)
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("item", CASES, ids=[c["name"] for c in CASES])
def test_fiche(item: dict[str, Any]) -> None:
    if "error" in item["expect"]:
        with pytest.raises(LawInputError) as err:
            assess(fiche_of(item))
        assert err.value.field == item["expect"]["error"], str(err.value)
        return
    got = assess(fiche_of(item))
    assert check(item["expect"], got) == [], item["why"]


def test_every_date_carries_its_article_and_rounding_in_the_trace() -> None:
    got = assess(fiche_of(CASES[0]))
    rules = {s["rule"]: s for s in got["trace"]}
    assert rules["fiche.threshold.720-I"]["citation"].startswith("CPP 720-I")
    assert "ceil(2 x 365 / 3)" in rules["fiche.threshold.720-I"]["note"]
    assert "clamped" in rules["fiche.threshold.720-II"]["note"]
    assert rules["fiche.release_on_jour_ouvrable"]["citation"].startswith("CPP 716-3")
    assert all(t["rounding"] and t["article"] for t in got["thresholds"])
    deadlines = assess(fiche_of(named("deadlines that trigger actions")))["deadlines"]
    assert len(deadlines) == 5 and all(d["mode"] and d["article"] for d in deadlines)


def named(name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["name"] == name)


def test_explain_prints_the_fiche_trace(tmp_path: Any) -> None:
    path = tmp_path / "fiche.json"
    path.write_text(
        json.dumps(fiche_of(named("parole revoked, the time on parole is not counted")))
    )
    run = vigie("law", "assess", str(path), "--explain")
    assert run.returncode == 0, run.stderr
    assert "CPP 733" in run.stderr and "fiche.withdrawal.parole" in run.stderr


def test_cli_assesses_a_fiche_and_names_the_field_at_fault(tmp_path: Any) -> None:
    good = tmp_path / "fiche.json"
    good.write_text(json.dumps(fiche_of(CASES[0])), encoding="utf-8")
    run = vigie("law", "assess", str(good))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["dates"]["lsc_examination"] == "2026-09-06"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(fiche_of(CASES[0]) | {"credits": [{"sentence": "A", "kind": "dp"}]}),
        encoding="utf-8",
    )
    run = vigie("law", "assess", str(bad))
    assert run.returncode == 2
    assert "credits[0].from" in run.stderr


def test_the_older_measures_are_untouched() -> None:
    got = assess(
        {
            "measure": "sentence",
            "as_of": AS_OF,
            "committal_date": "2026-01-05",
            "sentences": [{"quantum": "P1Y", "category": "delit"}],
        }
    )
    assert got["dates"]["sentence_end"] == "2027-01-05"
    assert "timeline" not in got
