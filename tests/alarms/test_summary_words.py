"""The measure's summary a judge files, in words: the articles of law it applied (never the
contract's "CONTRACT", which decisions stored before it was left out still list), cited in
French ("à compter du 01/01/2029, provisoire"), and a measure with no end date said so, not
"au —"."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.world import build
from tests.conftest import Centre
from vigie.alarms.narrative import lapse
from vigie.law.decision import applied_articles
from vigie.law.params import french_citation
from vigie.store.models import Placement


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
    assert "CONTRACT" not in answer.text
    renumbered = [a for a in cited if " from " in a]
    assert renumbered, "the case cites no renumbered article: nothing checked"
    assert french_citation(renumbered[0]) in answer.text and " from " not in answer.text


def test_a_measure_without_an_end_date_says_so_in_its_summary(centre: Centre) -> None:
    world = build(centre)
    with centre.db.session() as session:
        placement = session.scalars(select(Placement).where(Placement.id == world.placement)).one()
        placement.end_date = None
    answer = centre.client.get(
        f"/api/placements/{world.placement}/summary.html", headers=centre.headers("judge")
    )
    assert answer.status_code == 200, answer.text
    assert "sans date de fin fixée" in answer.text and " au —" not in answer.text


def test_a_delay_is_said_in_minutes_and_hours() -> None:
    """The incident report's time to acknowledge: '3 min 22 s', not '202 s'."""
    assert lapse(42.4) == "42\u00a0s"
    assert lapse(202) == "3\u00a0min 22\u00a0s"
    assert lapse(3903) == "1\u00a0h 05\u00a0min 03\u00a0s"
    assert lapse(-1) == "0\u00a0s"
