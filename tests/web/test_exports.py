"""Exports from the console: POST /api/exports read as a stream, its progress shown, the archive
offered as a download whose signed manifest verifies; refusals told in the page's language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Site, log_in
from vigie.export import keys
from vigie.export.verify import verify


@pytest.fixture
def export_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The centre's signing key (the in-process server reads the variable at each export)."""
    path = tmp_path / "centre.key"
    keys.generate(path, "signing")
    monkeypatch.setenv(keys.KEY_VARIABLE, str(path))
    yield path


def _watch_progress(page: Page) -> None:
    """Record every state and text the progress line takes (the test reads them afterwards)."""
    page.evaluate(
        """() => {
          window.seen = [];
          const line = document.getElementById("export-bytes");
          new MutationObserver(() => window.seen.push([line.dataset.state, line.textContent]))
            .observe(line, { attributes: true, childList: true, subtree: true });
        }"""
    )


def _export(page: Page, tmp_path: Path, name: str) -> Path:
    expect(page.locator("#export-bytes")).to_have_attribute("data-state", "done")
    expect(page.locator("#export-progress")).to_have_js_property("value", 100)
    link = page.locator("#export-download")
    expect(link).to_have_text(f"Télécharger {name}")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == name
    out = tmp_path / name
    download.save_as(out)
    return out


def test_an_admin_exports_a_case_with_its_progress_and_the_archive_verifies(
    page: Page, site: Site, export_key: Path, tmp_path: Path
) -> None:
    log_in(page, site, "admin1")
    page.click("text=Exports")
    page.wait_for_url(f"{site.url}/exports")
    _watch_progress(page)
    page.fill("#export-case", site.world.case_ref)
    page.click("#export-go")
    out = _export(page, tmp_path, f"case-{site.world.case_ref}.zip")
    seen: list[list[str]] = page.evaluate("window.seen")
    states = [state for state, _ in seen]
    assert states[0] == "preparing" and states[-1] == "done"
    assert "receiving" in states
    received = int(page.locator("#export-bytes").get_attribute("data-received") or 0)
    assert received == out.stat().st_size > 0
    text = page.locator("#export-bytes").inner_text()
    assert text.startswith("Reçu ") and "(100 %)" in text and "observations" in text
    checked = verify(out, keys.load_verify_key(export_key.with_suffix(".key.pub")))
    assert checked.manifest["kind"] == "case"
    assert checked.manifest["case_ref"] == site.world.case_ref
    assert checked.manifest["exported_by"] == "admin1"
    observations = next(m for m in checked.manifest["members"] if m["name"] == "observations.jsonl")
    assert f"{observations['records']} observations" in text


def test_a_judge_exports_the_evidence_of_their_own_case_from_the_case_file(
    page: Page, site: Site, export_key: Path, tmp_path: Path
) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-ref")).to_have_text(site.world.case_ref)
    page.click("#c-export")
    page.wait_for_url(lambda url: "/exports?case=" in url)
    expect(page.locator("#export-case")).to_have_value(site.world.case_ref)
    page.click("#export-go")
    out = _export(page, tmp_path, f"evidence-{site.world.case_ref}.zip")
    manifest = verify(out).manifest
    assert manifest["kind"] == "evidence"
    assert manifest["protected_data"]["status"] == "omitted"


def test_refusals_are_told_in_the_page_language(
    page: Page, site: Site, export_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(page, site, "judge1", lang="en")
    page.goto(f"{site.url}/exports?case=C3")  # judge2's case: as if it did not exist
    page.click("#export-go")
    expect(page.locator("#export-error")).to_contain_text(
        "No case with this reference is open to you"
    )
    expect(page.locator("#export-done")).to_be_hidden()
    monkeypatch.setenv(keys.KEY_VARIABLE, str(export_key.with_name("missing.key")))
    page.goto(f"{site.url}/exports?case={site.world.case_ref}&lang=fr")
    page.click("#export-go")
    expect(page.locator("#export-error")).to_contain_text(
        "Le centre n'a pas de clé de signature des exports"
    )
