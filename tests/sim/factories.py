"""Small factories for simulator tests: spans, cases, generated scenarios."""

import io

from vigie.sim.case import CaseContext
from vigie.sim.scenario import DEFAULT_START, Mix, generate, span_of


def context(index: int = 0, seed: int = 1, days: int = 7) -> CaseContext:
    """A case over `days` from the default start (a Monday)."""
    start, end = span_of(DEFAULT_START, days)
    return CaseContext(index, seed, start, end)


def scenario_text(
    seed: int = 1, cases: int = 6, days: int = 2, mix: str = "", batch_lines: int = 2_000_000
) -> tuple[str, str]:
    """Scenario and truth text of a generated population."""
    out, truth = io.StringIO(), io.StringIO()
    generate(
        out,
        truth,
        seed=seed,
        cases=cases,
        days=days,
        mix=Mix.parse(mix) if mix else None,
        batch_lines=batch_lines,
    )
    return out.getvalue(), truth.getvalue()
