"""The `vigie law` commands: exit codes, one-line errors, --explain, notice, cases."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.law.conftest import public_cases, public_cases_path, vigie
from vigie.cli import app

RUNNER = CliRunner()
CASES = {c["name"]: c["case"] for c in public_cases()}
AUTOMATIC = CASES["18 months: automatic with three months left"]
BAR = CASES["BAR: 2 km alert distance, spouse, victim consents"]


def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return RUNNER.invoke(app, ["law", *args], input=stdin)


def test_assess_prints_the_contract_json() -> None:
    result = invoke("assess", "-", stdin=json.dumps(AUTOMATIC))
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert {"measure", "outcome", "dates", "figures", "trace"} <= out.keys()
    assert all(set(step) == {"rule", "citation", "held", "note"} for step in out["trace"])


def test_assess_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(BAR))
    result = invoke("assess", str(path))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["figures"]["pre_alert_distance_km"] == 4


def test_explain_writes_the_trace_on_stderr_only() -> None:
    run = vigie("law", "assess", "-", "--explain", stdin=json.dumps(AUTOMATIC))
    assert run.returncode == 0
    assert json.loads(run.stdout)["outcome"] == "automatic"
    assert "lsc.720-III.terrorism" in run.stderr
    assert "✓ lsc.720-II.automatic_three_months_left" in run.stderr


def one_line_error(*args: str, stdin: str | None = None) -> str:
    assert args[0] == "law"
    run = invoke(*args[1:], stdin=stdin)
    assert run.exit_code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_installed_command_exits_2_with_one_line() -> None:
    run = vigie("law", "assess", "-", stdin='{"measure": "lsc", "as_of": "2026-02-30"}')
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "as_of" in run.stderr


def test_invalid_inputs_exit_2_with_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = {**BAR, "facts": {**BAR["facts"], "alert_distance_km": 12}}
    assert "facts.alert_distance_km" in one_line_error("law", "assess", "-", stdin=json.dumps(bad))
    assert "measure" in one_line_error(
        "law", "assess", "-", stdin=json.dumps({**BAR, "measure": "x"})
    )
    assert "invalid JSON" in one_line_error("law", "assess", "-", stdin="{nope")
    assert "cannot read" in one_line_error("law", "assess", str(tmp_path / "missing.json"))
    missing = {**AUTOMATIC, "facts": {}}
    # The first rule to read a fact of this 18-month case is 720-II's accommodation condition.
    assert "facts.has_accommodation" in one_line_error(
        "law", "assess", "-", stdin=json.dumps(missing)
    )


def test_invalid_input_in_process_is_exit_2() -> None:
    result = invoke("assess", "-", stdin=json.dumps({**AUTOMATIC, "committal_date": "2026-2-1"}))
    assert result.exit_code == 2
    assert "committal_date" in result.stderr


def test_notice_for_bar_fills_in_the_distances() -> None:
    result = invoke("notice", "-", stdin=json.dumps(BAR))
    assert result.exit_code == 0
    assert "Distance d'alerte : 2 km" in result.stdout
    assert "Distance de pré-alerte : 4 km" in result.stdout
    assert "R24-20" in result.stdout


def test_notice_for_lsc_fills_in_the_dates() -> None:
    run = vigie("law", "notice", "-", stdin=json.dumps(AUTOMATIC))
    assert run.returncode == 0
    flat = " ".join(run.stdout.split())  # the text is wrapped at 88 columns
    assert "5 avril 2027" in flat  # automatic release
    assert "5 mars 2027" in flat  # notice one month before
    assert "10 avril 2027" in flat  # SPIP within 5 jours ouvrables
    assert "24 heures" in flat


def test_notice_refused_for_other_measures() -> None:
    ddse = {
        "measure": "ddse",
        "as_of": "2026-06-01",
        "committal_date": "2026-01-01",
        "sentences": [{"quantum": "P6M", "category": "delit"}],
        "facts": {"as_adjustment": True},
    }
    assert "notice" in one_line_error("law", "notice", "-", stdin=json.dumps(ddse))
    not_applicable = CASES["6 years: outside LSC"]
    line = one_line_error("law", "notice", "-", stdin=json.dumps(not_applicable))
    assert "not_applicable" in line


def test_arse_notice_says_refusing_the_fitting_is_a_breach() -> None:
    """CPP 142-5 since loi 2019-222: ordered d'office; the device is not fitted without consent,
    but refusing it is a breach (revocation, pre-trial detention) — review D1."""
    result = invoke("notice", "-", stdin=json.dumps(CASES["ARSE: first term of six months"]))
    assert result.exit_code == 0, result.stdout
    assert "d'office" in result.stdout
    flat = " ".join(result.stdout.split())
    assert "ne peut être effectuée sans son consentement" in flat
    assert "le fait de refuser cette installation constitue une violation" in flat
    assert "15 mars 2026" in result.stdout  # fitting deadline, order + 5 days


def test_cases_reports_and_exits_0_on_the_public_file() -> None:
    result = invoke("cases", str(public_cases_path()))
    assert result.exit_code == 0, result.stdout
    assert "✓" in result.stdout and "✗" not in result.stdout


def test_cases_exits_1_on_a_mismatch(tmp_path: Path) -> None:
    wrong = [{"name": "wrong on purpose", "case": BAR, "expect": {"outcome": "excluded"}}]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(wrong))
    run = vigie("law", "cases", str(path))
    assert run.returncode == 1
    assert "✗" in run.stdout and "0/1 cases as expected" in run.stdout


def test_cases_rejects_a_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"not": "a list"}))
    assert "name, case, expect" in one_line_error("law", "cases", str(path))


def test_a_file_that_is_not_utf8_exits_2_with_one_line(tmp_path: Path) -> None:
    """A Latin-1 export from another tool: read as UTF-8, it raised a traceback (exit 1)."""
    case = tmp_path / "case.json"
    case.write_bytes(json.dumps(BAR).replace("bar", "bär").encode("latin-1"))
    assert "not UTF-8 text" in one_line_error("law", "assess", str(case))
    cases = tmp_path / "cases.yaml"
    cases.write_bytes("cases:\n  - name: é\n".encode("latin-1"))
    assert "not UTF-8 text" in one_line_error("law", "cases", str(cases))
