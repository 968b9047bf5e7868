"""The working sheet's timeline drawn server-side (for the PDF): one bar per sentence, a line per
threshold reached, and the API's text escaped, never markup."""

from __future__ import annotations

import json

from tests.api.world import ROLES, build
from tests.conftest import Centre
from tests.web.test_console_permissions import READERS
from vigie.law import assess
from vigie.web.law_sheet import sheet_html, timeline_svg


def test_timeline_svg_has_a_bar_per_sentence_and_a_line_per_threshold() -> None:
    decision = assess(
        {
            "measure": "fiche",
            "as_of": "2026-11-30",
            "sentences": [
                {"id": "<b>A</b>", "start": "2026-01-05", "quantum": "P1Y", "category": "delit"},
                {"id": "B", "start": "2026-03-01", "quantum": "P6M", "category": "delit"},
            ],
            "credits": [{"sentence": "B", "kind": "dp", "from": "2025-12-01", "to": "2025-12-10"}],
        }
    )
    svg = str(timeline_svg(decision, 'chart "x"'))
    reached = [t for t in decision["thresholds"] if t["applies"] and t["date"]]
    assert svg.count('class="bar"') == 2 and svg.count('class="credit"') == 1
    assert svg.count('class="mark"') == len(reached) >= 4
    assert "&lt;b&gt;A&lt;/b&gt;" in svg and "<b>" not in svg
    html = sheet_html(decision, lambda key: key, "fr")
    assert "2027-06-25" in html and "CPP 720-I" in html  # 5 Jan 2027 (+) 6 months - 10 d


def test_sheet_pdf_admits_the_calculator_roles_and_names_a_bad_field(centre: Centre) -> None:
    build(centre)
    fiche = {
        "as_of": "2026-11-30",
        "sentences": [{"id": "A", "start": "2026-01-05", "quantum": "P1Y", "category": "delit"}],
    }
    form = {"measure": "fiche", "case": json.dumps(fiche)}
    for role in ROLES:
        answer = centre.client.post(
            "/console/law/sheet.pdf", data=form, headers=centre.headers(role)
        )
        if role in READERS:
            assert answer.status_code == 200, (role, answer.text)
            assert answer.headers["content-type"] == "application/pdf"
            assert answer.content.startswith(b"%PDF")
        else:
            assert answer.status_code == 403, role
    assert centre.client.post("/console/law/sheet.pdf", data=form).status_code == 401
    bad = {"measure": "fiche", "case": json.dumps(fiche | {"departement": "99"})}
    answer = centre.client.post("/console/law/sheet.pdf", data=bad, headers=centre.headers("spip"))
    assert answer.status_code == 422 and answer.text.startswith("departement:")
