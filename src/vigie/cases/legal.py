"""Asking `vigie.law` about a placement, and turning its answer into a decision or a refusal."""

from __future__ import annotations

from datetime import date
from typing import Any

from vigie import law
from vigie.cases.errors import CaseRefused
from vigie.store.models import Person

REFUSING_OUTCOMES = ("excluded", "not_applicable")


def law_case(measure: str, law_input: dict[str, Any], person: Person) -> dict[str, Any]:
    """The case for `law.assess`: the caller's input, the measure, the person's birth date."""
    case = {key: value for key, value in law_input.items() if key != "measure"}
    case["measure"] = measure
    if "birth_date" not in case and person.birth_date is not None:
        case["birth_date"] = person.birth_date.isoformat()
    return case


def assess(case: dict[str, Any]) -> dict[str, Any]:
    """The law's decision; CaseRefused with the reasons when it refuses or the input is invalid."""
    try:
        decision = law.assess(case)
    except law.LawInputError as exc:
        field = getattr(exc, "field", None)
        raise CaseRefused(
            f"the legal engine cannot decide on this input: {exc}",
            f"law.{field}" if field else "law",
        ) from exc
    if decision["outcome"] in REFUSING_OUTCOMES:
        reasons = [
            f"{step['rule']} ({step['citation']}): {step['note']}"
            for step in decision["trace"]
            if step.get("held")
        ]
        raise CaseRefused(
            f"the law refuses this placement: outcome {decision['outcome']!r} for measure "
            f"{case['measure']!r}",
            "law",
            reasons or [f"outcome {decision['outcome']}"],
        )
    return decision


def deadlines(decision: dict[str, Any]) -> dict[str, date]:
    """The law's dates, which become the case's deadlines."""
    return {name: date.fromisoformat(value) for name, value in decision.get("dates", {}).items()}
