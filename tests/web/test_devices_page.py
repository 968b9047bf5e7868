"""The devices page in Chromium against the real centre: every device with its case, in stock or
withdrawn from service; a supervisor withdraws one in stock (never one on a case) and puts it back
in service; an operator reads the list with no control; hostile ids and notes stay text."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in
from tests.web.test_console_tools import switch_user
from vigie import clock
from vigie.store.models import AuditEntry, Device

IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = '"><script>window.__xss=1</script>'


def _device(site: Site, device_id: str) -> dict[str, Any]:
    """The device as the API lists it now."""
    answer = site.http.get("/api/devices", headers=site.token_headers("supervisor"))
    answer.raise_for_status()
    (found,) = [d for d in answer.json() if d["id"] == device_id]
    return dict(found)


def _row(page: Page, device_id: str) -> Any:
    return page.locator("#devices tbody tr[data-device]").filter(
        has=page.locator("td:first-child", has_text=device_id)
    )


def test_a_supervisor_withdraws_a_device_in_stock_never_one_on_a_case(
    page: Page, site: Site
) -> None:
    spare = site.world.new_device()
    log_in(page, site, "supervisor1")
    page.get_by_role("link", name="Dispositifs").click()
    page.wait_for_url(f"{site.url}/devices")
    fitted = page.locator("#devices tr[data-device='B1']")
    expect(fitted).to_contain_text("sur le dossier C1 (bracelet)")
    expect(fitted.locator("a")).to_have_attribute("href", f"/cases/{site.world.placement}")
    expect(fitted.get_by_role("button")).to_have_count(0)  # on a case: nothing to withdraw
    expect(page.locator("#devices tr[data-device='H1']")).to_contain_text("boîtier de domicile")
    row = page.locator(f"#devices tr[data-device='{spare}']")
    expect(row).to_contain_text("en stock")

    asked: list[str] = []
    answers = [False, True]  # the first confirmation is refused, the second given

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if answers.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    row.get_by_role("button", name="Retirer du service").click()
    form = page.locator("#withdraw-form")
    expect(form).to_be_visible()
    expect(form.locator(".device-id")).to_have_text(spare)
    form.locator("select[name=reason]").select_option("lost")
    form.locator("textarea[name=note]").fill("Perdu lors de la dépose au domicile")
    with page.expect_event("dialog"):
        form.locator("button[type=submit]").click()
    expect(form).to_be_visible()
    expect(row).to_have_attribute("data-status", "stock")
    assert len(asked) == 1 and spare in asked[0]
    assert _device(site, spare)["withdrawn"] is None  # refused: nothing sent

    form.locator("button[type=submit]").click()
    expect(row).to_have_attribute("data-status", "withdrawn")
    expect(row).to_contain_text("retiré du service le")
    expect(row).to_contain_text("(perdu) · par supervisor1")
    expect(row).to_contain_text("Perdu lors de la dépose au domicile")
    expect(row).to_have_class("muted")  # greyed, as an ended case on the cases list
    expect(row.get_by_role("button", name="Remettre en service")).to_be_visible()
    expect(form).to_be_hidden()
    expect(page.locator("#flash")).to_contain_text(f"Dispositif retiré du service : {spare}")
    withdrawn = _device(site, spare)["withdrawn"]
    assert withdrawn["reason"] == "lost" and withdrawn["by"] == "supervisor1"
    assert withdrawn["note"] == "Perdu lors de la dépose au domicile"
    with site.db.session() as session:
        assert session.get_one(Device, spare).withdrawn_at is not None
        assert _device(site, "B1")["withdrawn"] is None

    page.select_option("#filters select[name=status]", "in_service")
    expect(row).to_be_hidden()
    expect(fitted).to_be_visible()
    page.select_option("#filters select[name=status]", "withdrawn")
    expect(row).to_be_visible()
    expect(fitted).to_be_hidden()


def test_a_device_taken_by_a_case_meanwhile_is_refused_in_words(page: Page, site: Site) -> None:
    spare = site.world.new_device()
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/devices")
    row = page.locator(f"#devices tr[data-device='{spare}']")
    expect(row).to_contain_text("en stock")
    row.get_by_role("button", name="Retirer du service").click()
    form = page.locator("#withdraw-form")
    form.locator("select[name=reason]").select_option("broken")
    # Fitted on judge2's case C3 while the form is open.
    fitted = site.http.post(
        f"/api/placements/{site.other_case}/devices",
        json={"device_id": spare, "role": "wearer"},
        headers=site.token_headers("supervisor"),
    )
    assert fitted.status_code == 201, fitted.text
    page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    error = form.locator(".error")
    expect(error).to_contain_text("Refusé : le dispositif est posé sur un dossier")
    expect(error).to_contain_text("C3")  # the API's own words name the case
    expect(row).to_contain_text("sur le dossier C3")  # the list read again
    expect(row.get_by_role("button", name="Retirer du service")).to_have_count(0)
    device = _device(site, spare)
    assert device["withdrawn"] is None and device["assigned"]["case"] == "C3"


def test_a_supervisor_puts_a_withdrawn_device_back_in_service_with_a_note(
    page: Page, site: Site
) -> None:
    spare = site.world.new_device("home_unit")
    supervisor = site.token_headers("supervisor")
    answer = site.http.post(
        f"/api/devices/{spare}/withdraw", json={"reason": "repair"}, headers=supervisor
    )
    assert answer.status_code == 200, answer.text
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/devices")
    row = page.locator(f"#devices tr[data-device='{spare}']")
    expect(row).to_contain_text("(en réparation)")
    expect(row.get_by_role("button", name="Retirer du service")).to_have_count(0)
    row.get_by_role("button", name="Remettre en service").click()
    form = page.locator("#reinstate-form")
    expect(form).to_be_visible()
    form.locator("button[type=submit]").click()  # no note: the browser asks for one
    note = form.locator("textarea[name=note]")
    assert note.evaluate("(n) => n.validity.valueMissing")
    expect(row).to_have_attribute("data-status", "withdrawn")
    note.fill("Revenu de réparation, testé à l'atelier")
    form.locator("button[type=submit]").click()
    expect(row).to_have_attribute("data-status", "stock")
    expect(row).to_contain_text("en stock · pas encore de secret de passerelle")
    expect(row.get_by_role("button", name="Retirer du service")).to_be_visible()
    assert _device(site, spare)["withdrawn"] is None
    with site.db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "reinstate_device", AuditEntry.target == f"device:{spare}"
            )
        ).one()
        assert entry.detail["note"] == "Revenu de réparation, testé à l'atelier"


def test_an_operator_reads_the_devices_with_no_control(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    page.get_by_role("link", name="Dispositifs").click()
    page.wait_for_url(f"{site.url}/devices")
    expect(page.locator("#devices tr[data-device='B1']")).to_contain_text("sur le dossier C1")
    expect(page.locator("#devices tr[data-device='H1'] a")).to_have_text("C1")
    expect(page.locator("#devices button")).to_have_count(0)
    expect(page.locator("#devices th", has_text="Actions")).to_be_hidden()
    expect(page.locator("#withdraw-form")).to_be_hidden()
    expect(page.locator("#reinstate-form")).to_be_hidden()
    switch_user(page, site, "judge1")  # not a reader of devices: no link, and the API refuses
    expect(page.get_by_role("link", name="Dispositifs")).to_be_hidden()
    page.goto(f"{site.url}/devices")
    expect(page.locator("#devices-error")).to_have_text("Refusé : votre rôle ne le permet pas.")


def test_hostile_ids_models_and_notes_are_shown_as_text(page: Page, site: Site) -> None:
    # Only the database holds such an id (the API's pattern refuses it); a note may be anything.
    with site.db.session() as session:
        session.add(
            Device(
                id=IMG,
                kind="bracelet",
                model=SCRIPT,
                withdrawn_at=clock.now(),
                withdrawn_reason="other",
                withdrawn_note=SCRIPT,
                withdrawn_by="supervisor1",
            )
        )
        session.add(Device(id=SCRIPT, kind="protected_device", model=IMG))
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/devices")
    withdrawn, in_stock = _row(page, IMG), _row(page, SCRIPT)
    expect(withdrawn).to_contain_text(f"(autre) · par supervisor1{SCRIPT}")
    expect(withdrawn.locator("td").nth(2)).to_have_text(SCRIPT)
    expect(in_stock.locator("td").nth(2)).to_have_text(IMG)
    expect(page.locator("#devices img, #devices script")).to_have_count(0)
    withdrawn.get_by_role("button", name="Remettre en service").click()
    page.fill("#reinstate-form textarea[name=note]", IMG)
    page.click("#reinstate-form button[type=submit]")  # its id, in the URL, as text too
    expect(page.locator("#flash")).to_have_text(f"Dispositif remis en service : {IMG}")
    expect(withdrawn).to_have_attribute("data-status", "stock")
    assert _device(site, IMG)["withdrawn"] is None
    assert page.evaluate("window.__xss") is None


def test_a_phone_scrolls_the_table_and_keeps_the_open_form_in_view(
    browser: Browser, site: Site
) -> None:
    spare = site.world.new_device()
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, site, "supervisor1")
        page.goto(f"{site.url}/devices")
        page.locator(f"#devices tr[data-device='{spare}'] button").click()
        form = page.locator("#withdraw-form")
        expect(form).to_be_visible()
        # The table scrolls sideways in itself; the page's content is never wider than the phone.
        assert page.evaluate("() => document.querySelector('main').scrollWidth") <= 390
        page.locator("#devices").evaluate("(table) => { table.scrollLeft = 400; }")
        for part in (form, form.locator("button[type=submit]"), form.locator("textarea")):
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    finally:
        context.close()
