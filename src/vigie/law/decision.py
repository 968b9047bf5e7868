"""A decision: the outcome, the dates and figures that follow, and the trace of every rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vigie.law.trace import CONTRACT, Trace

Outcome = Literal["eligible", "automatic", "judge_decides", "excluded", "not_applicable"]


@dataclass
class Decision:
    measure: str
    outcome: Outcome
    dates: dict[str, str]
    figures: dict[str, int]
    trace: Trace

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of CONTRACT.md (plus `as_of` and `articles`, the citations that held)."""
        return {
            "measure": self.measure,
            "as_of": self.trace.as_of.isoformat(),
            "outcome": self.outcome,
            "dates": dict(sorted(self.dates.items())),
            "figures": dict(sorted(self.figures.items())),
            "assumptions": dict(sorted(self.trace.assumptions.items())),
            "articles": self.trace.articles(),
            "trace": [dict(step) for step in self.trace.steps],
        }


def applied_articles(decision: Mapping[str, Any]) -> list[str]:
    """A stored decision's articles, as reports and pages cite them: a decision stored before
    `Trace.articles` left the contract out still lists "CONTRACT" among them."""
    return [a for a in decision.get("articles", []) if a != CONTRACT]
