"""Issue 12 in Chromium: the French legal calculator's LSC answer and the case page's law trace
show the engine's notes in French and rule titles in words, never a raw key as the only text."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in

RAW = re.compile(r"judge_decides|eligible|not_eligible")


def _no_english_note_and_titled_rules(page: Page, rows: str, notes: str) -> None:
    assert page.locator(rows).count() > 3
    english = page.locator(f"{notes}[lang=en]")
    assert english.count() == 0, english.all_text_contents()
    for text in page.locator(notes).all_text_contents():
        assert not RAW.search(text), text
    # (text_content: the case page's trace is folded in a <details>.)
    # The rule's title comes first; its id only as the <code> after it.
    for row in page.locator(rows).all():
        rule = row.get_attribute("data-rule") or ""
        title = (row.locator("td").first.text_content() or "").replace(rule, "").strip()
        assert title and not RAW.search(title), (rule, row.text_content())


def test_the_french_calculator_writes_an_lsc_answer_in_french(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "lsc")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_be_visible()
    outcome = page.locator("#law-outcome").inner_text()
    assert outcome and not RAW.search(outcome)
    _no_english_note_and_titled_rules(page, "#law-result tr[data-rule]", "#law-result td.law-note")
    expect(page.locator("#law-result")).to_contain_text("le juge doit examiner")
    expect(page.locator("#law-result")).not_to_contain_text("The legal engine's notes")


def test_the_case_page_shows_the_law_trace_in_words(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    for placement in (site.world.placement, site.world.bar_placement):
        page.goto(f"{site.url}/cases/{placement}")
        expect(page.locator("#c-trace tbody tr").first).to_be_attached()
        expect(page.locator("#c-trace td.law-note").first).to_be_attached()
        _no_english_note_and_titled_rules(page, "#c-trace tr[data-rule]", "#c-trace td.law-note")
        outcome = page.locator("#c-outcome").inner_text()
        assert outcome and not RAW.search(outcome)


def test_the_arse_assumptions_and_articles_are_in_french_words(page: Page, site: Site) -> None:
    """The ARSE example leaves the final decision's date out: the assumption box says so with
    the form's own label, and the articles read "à compter du", not a key nor English."""
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "arse")
    page.click("#law-form button[type=submit]")
    box = page.locator("#law-assumptions")
    expect(box).to_contain_text("Hypothèses retenues")
    expect(box).to_contain_text("« Non-lieu, relaxe ou acquittement définitif le » non fourni")
    assert not re.search(r"\w+_\w+|assumptions", box.inner_text()), box.inner_text()
    articles = page.locator("#law-articles").inner_text()
    assert "à compter du" in articles and not re.search(r" from |provisional", articles)


def test_the_case_page_cites_the_law_in_french(page: Page, site: Site) -> None:
    """The case's articles: law only (not the contract an assumption cites), renumbered ones
    "à compter du", in the list and in the trace."""
    stored = site.http.get(
        f"/api/placements/{site.world.placement}", headers=site.token_headers("operator")
    ).json()["law_decision"]
    english = [s["citation"] for s in stored["trace"] if " from " in s["citation"]]
    assert english, "the case cites no renumbered article: nothing checked"
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-trace tbody tr").first).to_be_attached()
    expect(page.locator("#c-articles")).to_contain_text("à compter du")
    articles = page.locator("#c-articles").inner_text()
    assert "CONTRACT" not in articles and " from " not in articles, articles
    cited = page.locator("#c-trace tbody tr td:nth-child(2)").all_text_contents()
    assert not [c for c in cited if "provisional" in c], cited
