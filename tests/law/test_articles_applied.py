"""The articles a decision applied are texts of law: an assumption's step cites the contract
(CONTRACT.md), and "CONTRACT" read among a judge's "articles appliqués" in the measure's summary
and the incident reports."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests.api.world import build
from tests.conftest import Centre
from vigie.law import assess
from vigie.law.decision import applied_articles
from vigie.store.models import Placement

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


def test_a_decision_stored_with_the_contract_among_its_articles_is_cited_without_it(
    centre: Centre,
) -> None:
    world = build(centre)
    with centre.db.session() as session:
        placement = session.scalars(select(Placement).where(Placement.id == world.placement)).one()
        cited = applied_articles(placement.law_decision)
        assert cited
        placement.law_decision = placement.law_decision | {"articles": ["CONTRACT", *cited]}
    answer = centre.client.get(
        f"/api/placements/{world.placement}/summary.html", headers=centre.headers("judge")
    )
    assert answer.status_code == 200, answer.text
    assert cited[0] in answer.text and "CONTRACT" not in answer.text
