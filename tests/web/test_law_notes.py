"""The legal engine's notes in French (vigie.web.law_notes): static and dynamic fragments, and
every note the engine writes for the example and test cases has a French rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cases import factories as make
from tests.conftest import Centre
from vigie.law import LawInputError, assess
from vigie.web.i18n import catalogue, translator
from vigie.web.law_notes import french, note
from vigie.web.law_sheet import sheet_html
from vigie.web.law_words import cite, helpers

ROOT = Path(__file__).parents[2]
CASES = ROOT / "tests" / "law" / "cases"


def every_case() -> list[dict[str, Any]]:
    """The calculator's examples, the public, lawyer and review cases, and the fiches."""
    examples = json.loads((ROOT / "src/vigie/web/law_examples.json").read_text(encoding="utf-8"))
    cases = [case | {"measure": measure} for measure, case in examples.items()]
    cases += [c["case"] for c in json.loads((CASES / "public.json").read_text(encoding="utf-8"))]
    for name in ("lawyer.yaml", "review_2026_11.yaml"):
        data = yaml.safe_load((CASES / name).read_text(encoding="utf-8"))["cases"]
        cases += [c["case"] for c in json.loads(json.dumps(data, default=str))]
    fiches = yaml.safe_load((CASES / "fiches.yaml").read_text(encoding="utf-8"))
    fiches = json.loads(json.dumps(fiches, default=str))
    cases += [{"measure": "fiche", "as_of": "2026-11-30"} | f["fiche"] for f in fiches]
    # The decisions the console's demo and test cases carry (the case page's trace).
    laws = {"ddse": make.ddse_law(), "bar": make.bar_law(), "arse": make.arse_law()}
    return cases + [law | {"measure": measure} for measure, law in laws.items()]


def every_note() -> dict[str, str]:
    """Each distinct text shown in a note column (trace, thresholds, deadlines), with its rule."""
    notes: dict[str, str] = {}
    for case in every_case():
        try:
            decision = assess(case)
        except LawInputError:
            continue
        for step in decision["trace"]:
            notes.setdefault(step["note"], step["rule"])
        for row in decision.get("thresholds") or []:
            notes.setdefault(row["note"], row["id"])
            notes.setdefault(row["rounding"], row["id"])
        for row in decision.get("deadlines") or []:
            notes.setdefault(row["note"], row["id"])
            notes.setdefault(row["mode"], row["id"])
    return notes


def test_every_note_the_engine_writes_for_the_cases_has_a_french_rendering() -> None:
    notes = every_note()
    assert len(notes) > 900  # the whole corpus ran, not an empty loop
    missing = {text: rule for text, rule in notes.items() if text and french(text) is None}
    assert not missing, "notes with no French in vigie/web/law_notes.py:\n" + "\n".join(
        f"{rule}: {text}" for text, rule in list(missing.items())[:20]
    )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_rule_of_the_cases_has_a_title_in_words(lang: str) -> None:
    label = helpers(lang)["label"]
    rules = {rule for rule in every_note().values()}
    for case in every_case():
        try:
            rules.update(step["rule"] for step in assess(case)["trace"])
        except LawInputError:
            continue
    untitled = sorted(rule for rule in rules if label("law.rule", rule) == rule)
    assert not untitled, untitled
    assert label("law.rule", "assumption.ecrou_date") == label("law.rule", "assumption.ssj")


@pytest.mark.parametrize(
    ("english", "french_text"),
    [
        (
            "the judge must examine; refusal only by a specially reasoned order; modalities: "
            "parole (LC), DDSE, placement extérieur, semi-liberté",
            "le juge doit examiner ; refus seulement par ordonnance spécialement motivée ; "
            "modalités : libération conditionnelle (LC), DDSE, placement extérieur, semi-liberté",
        ),
        (
            "no accommodation: material impossibility",
            "pas d'hébergement : impossibilité matérielle",
        ),
        ("not under judicial supervision", "pas sous contrôle judiciaire"),
        ("under judicial supervision", "sous contrôle judiciaire"),
    ],
)
def test_static_notes(english: str, french_text: str) -> None:
    assert french(english) == french_text


@pytest.mark.parametrize(
    ("english", "french_text"),
    [
        ("summed legal duration P2Y6M <= P5Y", "durée légale cumulée 2 ans 6 mois <= 5 ans"),
        (
            "appeal within 24 hours of notification: expires at midnight the day after (D49-39), "
            "carried past a Saturday, Sunday or holiday (CPP 801; Cass. crim. 21 Feb 2007, "
            "n° 06-85.078): notified 2026-11-27, by 2026-11-30 24:00 (2026-11-28 is a Saturday, "
            "Sunday or holiday: CPP 801)",
            "appel dans les 24 heures de la notification : expire à minuit le lendemain (D49-39), "
            "reporté au-delà d'un samedi, dimanche ou jour férié (CPP 801 ; Cass. crim. 21 févr. "
            "2007, n° 06-85.078) : notifiée le 27/11/2026, jusqu'au 30/11/2026 24 h (le 28/11/2026 "
            "est un samedi, dimanche ou jour férié : CPP 801)",
        ),
        (
            "arse from 2025-09-01 to 2025-09-30: 30 day(s), first and last day counted, "
            "deducted from A",
            "ARSE du 01/09/2025 au 30/09/2025 : 30 jour(s), premier et dernier jours comptés, "
            "imputé(s) sur A",
        ),
        (
            "ecrou_date not given: 2026-02-25 taken; continuous detention: committal less the "
            "pre-trial days (the 721 regime follows it)",
            "« Écrou (détention provisoire comprise) » non fourni : 25/02/2026 retenu ; "
            "détention continue : écrou moins les jours de détention provisoire (le régime du 721 "
            "le suit)",
        ),
        (
            "final_decision_date not given: none taken; no compensation_deadline without it",
            "« Non-lieu, relaxe ou acquittement définitif le » non fourni : aucune valeur "
            "retenue ; pas d'échéance d'indemnisation sans elle",
        ),
        (
            "pe_supervised not given: false taken; D147-24 al. 1",
            "« Placement extérieur surveillé par l'administration pénitentiaire » non fourni : "
            "« non » retenu ; D147-24 al. 1",
        ),
        ("victim is the former PACS partner", "la victime est l'ancien partenaire de PACS"),
        ("5 year(s) incurred (>= 5 needed)", "5 an(s) encouru(s) (>= 5 requis)"),
    ],
)
def test_dynamic_notes_carry_their_figures_in_french_form(english: str, french_text: str) -> None:
    assert french(english) == french_text


def test_an_english_assumption_names_its_field_as_the_form_does() -> None:
    assert note(
        "final_decision_date not given: none taken; no compensation_deadline without it", "en"
    ) == (
        "“Final dismissal, discharge or acquittal on” not given: none taken; no compensation "
        "deadline without it",
        "en",
    )


def test_every_assumption_of_the_engine_names_a_field_of_both_catalogues() -> None:
    """The keys `trace.assume` is called with, read from the engine's source: each has a label."""
    called = set()
    for path in (ROOT / "src/vigie/law").glob("*.py"):
        called |= set(re.findall(r"\.assume\(\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
    assert {"final_decision_date", "ecrou_date", "notified_on"} <= called
    for lang in ("fr", "en"):
        missing = {k for k in called if f"law.f.{k}" not in catalogue(lang)}
        assert not missing, (lang, missing)


def test_an_unknown_note_keeps_its_english_and_says_so() -> None:
    # One known fragment is not enough: a half-translated note would mislead.
    text = "no accommodation: material impossibility; a brand new rule from 2027-01-01"
    assert french(text) is None
    assert note(text, "fr") == (
        "no accommodation: material impossibility; a brand new rule from 01/01/2027",
        "en",
    )
    assert note("no accommodation: material impossibility", "en") == (
        "no accommodation: material impossibility",
        "en",
    )
    assert note("no accommodation: material impossibility", "fr")[1] == "fr"


def test_the_notes_endpoint_answers_in_the_page_language_to_a_case_reader(centre: Centre) -> None:
    body = {"notes": ["no accommodation: material impossibility", "something new"]}
    assert centre.client.post("/console/law/notes", json=body).status_code == 401
    operator = centre.headers("operator")
    french_page = centre.client.post("/console/law/notes?lang=fr", json=body, headers=operator)
    assert french_page.status_code == 200
    assert french_page.json() == {
        "notes": [
            {"text": "pas d'hébergement : impossibilité matérielle", "lang": "fr"},
            {"text": "something new", "lang": "en"},
        ],
        "citations": [],
    }
    cited = {"notes": [], "citations": ["CPP 716-1 (CPP L5211-2 from 2029-01-01, provisional)"]}
    french_cited = centre.client.post("/console/law/notes?lang=fr", json=cited, headers=operator)
    assert french_cited.json()["citations"] == [
        "CPP 716-1 (CPP L5211-2 à compter du 01/01/2029, provisoire)"
    ]
    english_cited = centre.client.post("/console/law/notes?lang=en", json=cited, headers=operator)
    assert english_cited.json()["citations"] == cited["citations"]
    english = centre.client.post("/console/law/notes?lang=en", json=body, headers=operator)
    assert english.json()["notes"][0] == {"text": body["notes"][0], "lang": "en"}
    refused = centre.client.post("/console/law/notes", json={"notes": "x"}, headers=operator)
    assert refused.status_code == 422 and "notes" in refused.text
    for citations in ("x", [1], [{"a": 1}], ["CPP 721"] * 1001):
        refused = centre.client.post(
            "/console/law/notes", json={"notes": [], "citations": citations}, headers=operator
        )
        assert refused.status_code == 422 and "citations" in refused.text, citations


def test_the_printed_sheet_carries_the_titles_and_the_french_notes() -> None:
    examples = json.loads((ROOT / "src/vigie/web/law_examples.json").read_text(encoding="utf-8"))
    decision = assess(examples["fiche"] | {"measure": "fiche"})
    page = sheet_html(decision, translator("fr"), "fr")
    assert 'lang="en"' not in page.replace('<html lang="fr">', "")
    assert "Visa du parquet" in page and "pas d&#39;exécution avant" in page


def test_the_french_sheet_writes_dates_durations_and_citations_as_a_french_reader_does() -> None:
    """The printed sheet a judge files: no ISO date, no ISO duration, no English in citations."""
    examples = json.loads((ROOT / "src/vigie/web/law_examples.json").read_text(encoding="utf-8"))
    decision = assess(examples["fiche"] | {"measure": "fiche"})
    body = sheet_html(decision, translator("fr"), "fr").split("<body>", 1)[1]
    text = re.sub(r"<svg.*?</svg>", "", body, flags=re.S)  # the chart's own labels aside
    assert not re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)
    assert not re.findall(r"\bP\d+[YMWD]", text)
    assert re.search(r"\d{2}/\d{2}/\d{4}", text)
    cited = [step["citation"] for step in decision["trace"] if " from " in step["citation"]]
    assert cited, "the example cites no renumbered article: nothing checked"
    assert " from " not in text and "provisional" not in text and "à compter du" in text
    english = sheet_html(decision, translator("en"), "en")
    assert cited[0] in english  # the contract's English stays in the English sheet


def test_a_citation_reads_in_french() -> None:
    assert cite(
        "CPP 720-II (LEGIARTI000049455599; CPP L5252-1 from 2029-01-01, provisional)", "fr"
    ) == ("CPP 720-II (LEGIARTI000049455599; CPP L5252-1 à compter du 01/01/2029, provisoire)")
    assert cite("CPP L5252-1 (formerly CPP 720-II; LEGIARTI000049455599)", "fr") == (
        "CPP L5252-1 (anciennement CPP 720-II; LEGIARTI000049455599)"
    )
    assert cite("CPP 142-5", "en") == "CPP 142-5"
