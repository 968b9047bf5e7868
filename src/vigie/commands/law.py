"""`vigie law`: assess a case, print a notice, run a file of cases (JSON in, JSON/text out)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from vigie.law import LawInputError, assess
from vigie.law.notice import notice as notice_text

app = typer.Typer(
    help="The legal engine: LSC, DDSE, ARSE, PSEM, BAR and sentence arithmetic.",
    no_args_is_help=True,
)

CaseArg = Annotated[str, typer.Argument(metavar="CASE.json|-", help="case file, or - for stdin")]


class InputFailure(Exception):
    """Input that cannot be read as a case: reported on one line, exit 2."""


def _read_json(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFailure(f"file {source!r}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputFailure(f"file {source!r}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFailure(
            f"file {source!r}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from exc
    except RecursionError:  # nested deeper than the parser's stack: a traceback before
        raise InputFailure(f"file {source!r}: JSON nested too deeply") from None


def _read_cases(source: str) -> Any:
    """A cases file: JSON (public.json), or YAML whose `cases` key holds the list."""
    if not source.endswith((".yaml", ".yml")):
        return _read_json(source)
    try:
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFailure(f"file {source!r}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputFailure(f"file {source!r}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise InputFailure(f"file {source!r}: invalid YAML: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("cases")
    # YAML reads unquoted dates as dates; the engine and the expectations speak ISO strings.
    return json.loads(json.dumps(data, default=str))


def _fail(command: str, message: str) -> typer.Exit:
    one_line = " ".join(message.split())
    print(f"vigie law {command}: invalid input: {one_line}", file=sys.stderr)
    return typer.Exit(2)


def explain(decision: dict[str, Any]) -> str:
    """The trace as text a person reads: one line per rule, ✓ held, · did not."""
    lines = [f"{decision['measure']}: {decision['outcome']} (as of {decision['as_of']})"]
    for step in decision["trace"]:
        mark = "✓" if step["held"] else "·"
        lines.append(f"  {mark} {step['rule']} [{step['citation']}] — {step['note']}")
    return "\n".join(lines)


@app.command("assess")
def assess_cmd(
    case: CaseArg,
    explain_: Annotated[
        bool, typer.Option("--explain", help="also print the trace as text on stderr")
    ] = False,
) -> None:
    """Assess one case: the decision as JSON on stdout (CONTRACT.md); exit 2 on invalid input."""
    try:
        decision = assess(_read_json(case))
    except (InputFailure, LawInputError) as exc:
        raise _fail("assess", str(exc)) from None
    print(json.dumps(decision, ensure_ascii=False, indent=2))
    if explain_:
        print(explain(decision), file=sys.stderr)


@app.command("notice")
def notice_cmd(case: CaseArg) -> None:
    """Print the R24-20 notice (BAR) or the LSC information notice, in French."""
    try:
        text = notice_text(_read_json(case))
    except (InputFailure, LawInputError) as exc:
        raise _fail("notice", str(exc)) from None
    print(text)


def matches(expect: Any, got: Any) -> bool:
    """Whether `got` holds every key and value of `expect` (a subset match, recursively)."""
    if isinstance(expect, dict):
        return isinstance(got, dict) and all(
            k in got and matches(v, got[k]) for k, v in expect.items()
        )
    return bool(expect == got)


def run_case(case: Any) -> dict[str, Any]:
    """The decision for a case, or `{"exit": 2, "error": ...}` for invalid input."""
    try:
        return assess(case)
    except LawInputError as exc:
        return {"exit": 2, "error": str(exc)}


@app.command("cases")
def cases_cmd(
    file: Annotated[
        str, typer.Argument(metavar="FILE.json", help="list of {name, case, expect}, or YAML")
    ],
) -> None:
    """Run every case of a cases file; ✓/✗ against its expectations; exit 1 on any mismatch."""
    try:
        cases = _read_cases(file)
    except InputFailure as exc:
        raise _fail("cases", str(exc)) from None
    if not isinstance(cases, list) or not all(
        isinstance(c, dict) and {"name", "case", "expect"} <= c.keys() for c in cases
    ):
        raise _fail("cases", f"file {file!r}: expected a list of {{name, case, expect}}")
    # Piped output (make demo, CI logs) gets a readable width instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"Vigie legal engine — {file}", show_lines=True, expand=True)
    for col, style in (
        ("", ""),
        ("case", "bold"),
        ("outcome", "cyan"),
        ("dates", ""),
        ("articles", "dim"),
    ):
        table.add_column(col, style=style, overflow="fold")
    failures = 0
    for item in cases:
        got = run_case(item["case"])
        ok = matches(item["expect"], got)
        failures += not ok
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        if "error" in got:
            outcome, dates, arts = "exit 2", got["error"], ""
        else:
            outcome = got["outcome"]
            dates = "\n".join(f"{k}: {v}" for k, v in got["dates"].items())
            figures = ", ".join(f"{k}={v}" for k, v in got["figures"].items() if k in _SHOWN)
            dates = "\n".join(x for x in (dates, figures) if x)
            arts = ", ".join(a.split(" (")[0] for a in got["articles"])
        name = item["name"]
        if not ok:
            name += f"\n[red]expected {json.dumps(item['expect'], ensure_ascii=False)}[/]"
        table.add_row(mark, name, outcome, dates, arts)
    console.print(table)
    total = len(cases)
    colour = "green" if not failures else "red"
    console.print(f"[{colour}]{total - failures}/{total} cases as expected[/]")
    if failures:
        raise typer.Exit(1)


_SHOWN = {
    "total_days",
    "alert_distance_km",
    "pre_alert_distance_km",
    "max_duration_months",
    "renewals_allowed",
    "renewals_left",
}
