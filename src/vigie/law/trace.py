"""The trace of a decision: every rule considered, in order, with its citation and outcome."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypedDict

from vigie.law.params import cite

P = ParamSpec("P")

#: The citation of a step that the contract (CONTRACT.md), not a text of law, decides.
CONTRACT = "CONTRACT"
#: What a rule finds: whether it held, and a note saying on which figures.
Finding = tuple[bool, str]


class Step(TypedDict):
    rule: str
    citation: str
    held: bool
    note: str


@dataclass
class Trace:
    """Collects the steps of one assessment; citations are those in force on `as_of`."""

    as_of: dt.date
    steps: list[Step] = field(default_factory=list)
    #: Optional facts that were absent, with the value taken (CONTRACT.md `assumptions`).
    assumptions: dict[str, Any] = field(default_factory=dict)

    def record(self, rule: str, article: str, held: bool, note: str) -> bool:
        self.steps.append(
            {"rule": rule, "citation": cite(article, self.as_of), "held": held, "note": note}
        )
        return held

    def assume(self, name: str, value: Any, why: str) -> Any:
        """Take `value` for an absent optional fact, say so in the trace and list it."""
        shown = "none" if value is None else str(value).lower()
        self.assumptions[name] = value.isoformat() if isinstance(value, dt.date) else value
        self.record(f"assumption.{name}", CONTRACT, True, f"{name} not given: {shown} taken; {why}")
        return value

    def held(self) -> list[Step]:
        return [s for s in self.steps if s["held"]]

    def articles(self) -> list[str]:
        """The citations of the rules that held, once each, in order: the law the decision
        applied. An assumption's step cites this contract, not a text of law: it is listed in
        `assumptions`, and a judge's "articles appliqués" never read "CONTRACT"."""
        found: list[str] = []
        for step in self.held():
            if step["citation"] not in found and step["citation"] != CONTRACT:
                found.append(step["citation"])
        return found


def rule(
    rule_id: str, article: str
) -> Callable[[Callable[P, Finding]], Callable[Concatenate[Trace, P], bool]]:
    """Declare a rule: its id and article sit beside its body, and running it records a step."""

    def declare(body: Callable[P, Finding]) -> Callable[Concatenate[Trace, P], bool]:
        @functools.wraps(body)
        def run(trace: Trace, /, *args: P.args, **kwargs: P.kwargs) -> bool:
            held, note = body(*args, **kwargs)
            return trace.record(rule_id, article, held, note)

        return run

    return declare
