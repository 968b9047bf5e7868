"""Devices registered and given to a case, in Chromium against the real centre: a supervisor
registers a bracelet on the devices page, then replaces the case's bracelet with it on the case's
page (the old one's assignment closed); only the devices in stock of the kind a role takes are
offered; refusals are told in words; an operator has neither form; an ended case has no such
card."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from tests.cases import factories as make
from tests.web.conftest import Site, log_in
from tests.web.test_console_tools import switch_user
from vigie.cases import placements
from vigie.store.models import DeviceAssignment


def _device(site: Site, device_id: str) -> dict[str, Any]:
    """The device as the API lists it now."""
    answer = site.http.get("/api/devices", headers=site.token_headers("supervisor"))
    answer.raise_for_status()
    (found,) = [d for d in answer.json() if d["id"] == device_id]
    return dict(found)


def _offered(page: Page) -> list[str]:
    """The values of the devices the case's form offers now."""
    options = page.locator("#assign-form select[name=device_id] option")
    return [str(v) for v in options.evaluate_all("(os) => os.map((o) => o.value)")]


def _accept_all(page: Page) -> list[str]:
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def test_a_supervisor_registers_a_bracelet_and_replaces_the_cases_bracelet_with_it(
    page: Page, site: Site
) -> None:
    new = "BR-2026.001"
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/devices")
    form = page.locator("#register-form")
    expect(form).to_be_visible()
    form.locator("input[name=id]").fill(new)
    form.locator("select[name=kind]").select_option("bracelet")
    form.locator("input[name=model]").fill("Géosat X2")
    form.locator("button[type=submit]").click()
    row = page.locator(f"#devices tr[data-device='{new}']")
    expect(row).to_contain_text("en stock")
    expect(row).to_contain_text("Géosat X2")
    expect(page.locator("#flash")).to_have_text(f"Dispositif enregistré : {new}")
    expect(form.locator("input[name=id]")).to_have_value("")
    registered = _device(site, new)
    assert (registered["kind"], registered["model"], registered["assigned"]) == (
        "bracelet",
        "Géosat X2",
        None,
    )

    page.goto(f"{site.url}/cases/{site.world.placement}")
    assign = page.locator("#assign-form")
    expect(page.locator("#c-assign")).to_be_visible()
    roles = assign.locator("select[name=role] option")
    assert roles.evaluate_all("(os) => os.map((o) => o.value)") == ["wearer", "home_unit"]
    expect(assign.locator(".current-device")).to_have_text("B1")
    expect(page.locator("#c-devices tr[data-device='B1']")).to_be_visible()
    expect(assign.locator(f"select[name=device_id] option[value='{new}']")).to_have_count(1)
    assign.locator("select[name=device_id]").select_option(new)

    asked = _accept_all(page)
    assign.locator("button[type=submit]").click()
    fitted = page.locator(f"#c-devices tr[data-device='{new}']")
    expect(fitted).to_contain_text("bracelet")
    expect(page.locator("#c-devices tr[data-device='B1']")).to_have_count(0)
    expect(page.locator("#c-devices tr[data-device='H1']")).to_be_visible()
    expect(page.locator("#flash")).to_have_text(
        f"Dispositif attribué au dossier : {new} (bracelet)"
    )
    expect(assign.locator(".current-device")).to_have_text(new)
    # The old bracelet is back in stock, so offered; the new one is on the case, so not.
    expect(assign.locator("select[name=device_id] option[value='B1']")).to_have_count(1)
    expect(assign.locator(f"select[name=device_id] option[value='{new}']")).to_have_count(0)
    assert len(asked) == 1 and "C1" in asked[0] and f"B1 → {new}" in asked[0], asked

    with site.db.session() as session:
        held = {
            a.device_id: a
            for a in session.scalars(
                select(DeviceAssignment).where(
                    DeviceAssignment.placement_id == site.world.placement,
                    DeviceAssignment.role == "wearer",
                )
            )
        }
        assert held["B1"].until is not None  # the old one's assignment closed
        assert held[new].until is None
    case = site.http.get(
        f"/api/placements/{site.world.placement}", headers=site.token_headers("supervisor")
    ).json()
    assert case["devices"] == {"wearer": new, "home_unit": "H1"}
    assert _device(site, "B1")["assigned"] is None
    assert _device(site, new)["assigned"]["case"] == "C1"


def test_only_devices_in_stock_of_the_roles_kind_are_offered(page: Page, site: Site) -> None:
    supervisor = site.token_headers("supervisor")
    spare = site.world.new_device("bracelet")
    withdrawn = site.world.new_device("bracelet")
    answer = site.http.post(
        f"/api/devices/{withdrawn}/withdraw", json={"reason": "broken"}, headers=supervisor
    )
    assert answer.status_code == 200, answer.text
    elsewhere = site.world.new_device("bracelet")
    answer = site.http.post(
        f"/api/placements/{site.other_case}/devices",
        json={"device_id": elsewhere, "role": "wearer"},
        headers=supervisor,
    )
    assert answer.status_code == 201, answer.text
    unit = site.world.new_device("home_unit")
    phone = site.world.new_device("protected_device")

    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    assign = page.locator("#assign-form")
    expect(assign.locator(f"option[value='{spare}']")).to_have_count(1)
    offered = _offered(page)
    assert spare in offered
    assert not {withdrawn, elsewhere, unit, phone} & set(offered), offered

    assign.locator("select[name=role]").select_option("home_unit")  # the list follows the role
    expect(assign.locator(f"option[value='{unit}']")).to_have_count(1)
    expect(assign.locator(".current-device")).to_have_text("H1")
    offered = _offered(page)
    assert not {spare, withdrawn, elsewhere, phone} & set(offered), offered

    # A BAR case: the wearer's bracelet and the protected person's device, no home unit.
    page.goto(f"{site.url}/cases/{site.world.bar_placement}")
    roles = assign.locator("select[name=role] option")
    expect(roles).to_have_count(2)
    assert roles.evaluate_all("(os) => os.map((o) => o.value)") == ["wearer", "protected"]
    assign.locator("select[name=role]").select_option("protected")
    expect(assign.locator(f"option[value='{phone}']")).to_have_count(1)
    expect(assign.locator(".current-device")).to_have_text("aucun")
    offered = _offered(page)
    assert not {spare, unit, withdrawn} & set(offered), offered


def test_a_device_taken_by_another_case_meanwhile_is_refused_in_words(
    page: Page, site: Site
) -> None:
    spare = site.world.new_device("home_unit")
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    assign = page.locator("#assign-form")
    assign.locator("select[name=role]").select_option("home_unit")
    assign.locator("select[name=device_id]").select_option(spare)
    taken = site.http.post(
        f"/api/placements/{site.other_case}/devices",
        json={"device_id": spare, "role": "home_unit"},
        headers=site.token_headers("supervisor"),
    )
    assert taken.status_code == 201, taken.text
    _accept_all(page)
    assign.locator("button[type=submit]").click()
    error = assign.locator(".error")
    expect(error).to_contain_text("Refusé : le dispositif est posé sur un autre dossier.")
    expect(error).to_contain_text("assigned to another placement")  # the API's own words
    expect(assign.locator(f"option[value='{spare}']")).to_have_count(0)  # read again
    expect(page.locator("#c-devices tr[data-device='H1']")).to_be_visible()
    assert _device(site, spare)["assigned"]["case"] == "C3"


def test_a_duplicate_id_is_refused_in_words_and_a_malformed_one_never_sent(
    page: Page, site: Site
) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/devices")
    form = page.locator("#register-form")
    expect(page.locator("#devices tr[data-device='H1']")).to_be_visible()
    id_box = form.locator("input[name=id]")
    id_box.fill("un id")  # a space: the browser asks for the pattern, nothing is sent
    form.locator("button[type=submit]").click()
    assert id_box.evaluate("(i) => i.validity.patternMismatch")
    expect(form.locator(".error")).to_be_hidden()

    id_box.fill("H1")
    form.locator("select[name=kind]").select_option("bracelet")
    form.locator("button[type=submit]").click()
    error = form.locator(".error")
    expect(error).to_contain_text("Refusé : un dispositif porte déjà cet identifiant.")
    expect(error).to_contain_text("device 'H1' is already registered")
    expect(id_box).to_have_value("H1")  # the form stays as typed
    assert _device(site, "H1")["kind"] == "home_unit"  # unchanged


def test_an_operator_sees_neither_form(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/devices")
    expect(page.locator("#devices tr[data-device='H1']")).to_be_visible()
    expect(page.locator("#register-form")).to_be_hidden()
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-devices tr[data-device='H1']")).to_be_visible()
    expect(page.locator("#c-assign")).to_be_hidden()
    expect(page.locator("#assign-form")).to_be_hidden()
    switch_user(page, site, "admin1")  # an admin registers devices, and has no case
    page.goto(f"{site.url}/devices")
    expect(page.locator("#register-form")).to_be_visible()


def test_an_ended_case_is_given_no_device(page: Page, site: Site) -> None:
    with site.db.session() as session:
        who = make.contacts(session)
        wearer = make.person(session, "Lefèvre")
        case = placements.create(session, make.placement_form(wearer, who, case_ref="C7"), "t")
        case_id = case.id
    spare = site.world.new_device("bracelet")
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{case_id}")
    assign = page.locator("#assign-form")
    expect(assign.locator(".current-device")).to_have_text("aucun")
    assign.locator("select[name=device_id]").select_option(spare)
    ended = site.http.post(  # ended meanwhile, on another desk
        f"/api/placements/{case_id}/end",
        json={"reason": "lifted", "decision_ref": "JAP-2026-0042"},
        headers=site.token_headers("supervisor"),
    )
    assert ended.status_code == 200, ended.text
    _accept_all(page)
    assign.locator("button[type=submit]").click()
    expect(assign.locator(".error")).to_contain_text(
        "Refusé : la mesure de ce dossier est terminée"
    )
    assert _device(site, spare)["assigned"] is None

    page.reload()
    expect(page.locator("#c-ended")).to_contain_text("JAP-2026-0042")
    expect(page.locator("#c-assign")).to_have_count(0)
