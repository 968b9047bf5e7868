"""The articles a decision applied are texts of law: an assumption's step cites the contract
(CONTRACT.md), and "CONTRACT" read among a judge's "articles appliqués" (tests/alarms/
test_summary_words.py for the documents that cite them)."""

from __future__ import annotations

import json
from pathlib import Path

from vigie.law import assess
from vigie.law.decision import applied_articles

EXAMPLES = Path(__file__).parents[2] / "src/vigie/web/law_examples.json"


def test_an_assumption_is_traced_but_not_cited_as_an_article() -> None:
    examples = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    decision = assess(examples["arse"] | {"measure": "arse"})
    assumed = [s for s in decision["trace"] if s["rule"].startswith("assumption.")]
    assert assumed and all(s["citation"] == "CONTRACT" for s in assumed)
    assert decision["assumptions"]
    assert "CONTRACT" not in decision["articles"]
    assert decision["articles"] == applied_articles(decision)
    assert any(a.startswith("CPP 142-") for a in decision["articles"])
