"""The console's tools of the trade (issue 12, medium): the calculator in French that reads
"3 ans" and points at the field at fault, the supervision link by role, the dark theme."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in
from tests.web.test_supervision_reads import post
from vigie.store.models import Placement, Zone


def test_the_calculator_reads_3_ans_and_answers_in_french(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "lsc")
    page.fill("[data-path='sentences.0.quantum']", "3 ans")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_have_text("Le juge décide")
    expect(page.locator("#law-outcome")).to_have_attribute("data-outcome", "judge_decides")
    end = page.locator("#law-dates dd[data-date=sentence_end]")
    expect(end).to_have_attribute("data-value", "2028-01-10")
    expect(end).to_have_text("10/01/2028")  # as a French reader writes a date
    expect(page.locator("#law-dates dt").first).not_to_contain_text("_")
    date_to_date = page.locator("#law-result tr[data-rule='sentence.date_to_date']")
    expect(date_to_date).to_contain_text("Calcul de quantième à quantième")
    expect(date_to_date).to_contain_text("3 ans")  # not P3Y
    # The same sentence as "2 ans 6 mois" ends six months earlier.
    page.fill("[data-path='sentences.0.quantum']", "2 ans 6 mois")
    page.click("#law-form button[type=submit]")
    expect(end).to_have_attribute("data-value", "2027-07-10")


@pytest.mark.parametrize(
    ("measure", "path", "value", "named"),
    [
        ("lsc", "sentences.0.quantum", "trois ans", "sentences[0].quantum"),
        ("bar", "facts.alert_distance_km", "12", "facts.alert_distance_km"),
    ],
)
def test_the_field_at_fault_is_marked_and_takes_the_focus(
    page: Page, site: Site, measure: str, path: str, value: str, named: str
) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", measure)
    field = page.locator(f"[data-path='{path}']")
    field.fill(value)
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-error")).to_contain_text(named)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()


@pytest.mark.parametrize(
    ("username", "sees"),
    [
        ("operator1", True),
        ("supervisor1", True),
        ("judge1", False),
        ("prosecutor1", False),
        ("spip1", False),
    ],
)
def test_the_supervision_link_only_for_the_centre(
    page: Page, site: Site, username: str, sees: bool
) -> None:
    log_in(page, site, username)
    page.goto(f"{site.url}/cases")
    link = page.locator("header nav a[href='/supervision']")
    if sees:
        expect(link).to_be_visible()
    else:
        expect(link).to_be_hidden()
        expect(page.locator("header nav a[href='/cases']")).to_be_visible()


def _far_from_home(page: Page) -> tuple[float, float]:
    """A point of the zone editor's map far from the wearer's home marker."""
    expect(page.locator("#map[data-ready]")).to_have_count(1)
    home = page.locator(".leaflet-marker-icon[title=Domicile]").bounding_box()
    area = page.locator("#map").bounding_box()
    assert home is not None and area is not None
    corners = [
        (area["x"] + 80, area["y"] + 80),
        (area["x"] + area["width"] - 80, area["y"] + area["height"] - 80),
    ]
    return max(corners, key=lambda c: abs(c[0] - home["x"]) + abs(c[1] - home["y"]))


def _draw_square(page: Page, cx: float, cy: float, half: float = 25) -> None:
    page.click("#draw-polygon")
    for dx, dy in ((-half, -half), (half, -half), (half, half)):
        page.mouse.click(cx + dx, cy + dy)
    page.mouse.dblclick(cx - half, cy + half)


def _zone(site: Site, key: str) -> Zone | None:
    with site.db.session() as session:
        return session.scalars(
            select(Zone).where(Zone.placement_id == site.world.placement, Zone.key == key)
        ).one_or_none()


def test_the_zone_form_takes_hours_by_day_and_refuses_a_used_id(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    x, y = _far_from_home(page)
    page.fill("#zone-form input[name=id]", "ecole")
    page.click("#z-add-window")
    window = page.locator(".z-window").first
    expect(window.locator(".z-from")).to_be_focused()
    expect(window.locator("abbr[title=lundi]")).to_have_text("Lun")
    window.locator("[data-day=sat]").check()
    window.locator(".z-from").fill("8h00")  # as written by hand: read as 08:00
    window.locator(".z-to").fill("25:00")
    _draw_square(page, x, y)
    expect(page.locator("#z-check")).to_have_text("Écrivez l'heure sur 24 h, ex. 08:00 ou 18:30.")
    window.locator(".z-to").fill("18h30")
    window.locator(".z-to").dispatch_event("change")
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")
    page.click("#z-save")
    expect(page.locator("#z-list li[data-zone=ecole]")).to_have_count(1)
    expect(page.locator("#z-list li[data-zone=ecole]")).to_contain_text("Lun–Sam 08:00–18:30")
    saved = _zone(site, "ecole")
    assert saved is not None
    assert saved.schedule == [{"days": "mon-sat", "from": "08:00", "to": "18:30"}]
    geometry = saved.geometry

    # A slot with no day is named before anything is sent.
    page.click("#z-new")
    page.fill("#zone-form input[name=id]", "ecole")
    page.click("#z-add-window")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        page.locator(".z-window [data-day=" + day + "]").uncheck()
    _draw_square(page, x + 10, y - 10, 15)
    expect(page.locator("#z-check")).to_have_text("Cochez au moins un jour pour chaque créneau.")
    page.click(".z-remove-window")
    # A new zone under the id of a saved one: refused in French by the check and by the save.
    idtaken = "Cet identifiant est déjà celui d'une zone du dossier"
    expect(page.locator("#z-check")).to_contain_text(idtaken)
    page.click("#z-save")
    expect(page.locator("#z-check")).to_contain_text(idtaken)
    expect(page.locator("#zone-form input[name=id]")).to_be_focused()
    expect(page.locator("#zone-form input[name=id]")).to_have_attribute("aria-invalid", "true")
    kept = _zone(site, "ecole")
    assert kept is not None and kept.geometry == geometry  # not replaced

    # Editing the saved zone from the list is not "reusing" its id.
    page.click("#z-list li[data-zone=ecole] button:first-of-type")
    expect(page.locator(".z-window [data-day=sat]")).to_be_checked()
    expect(page.locator(".z-window [data-day=sun]")).not_to_be_checked()
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")


def test_a_zone_edited_shows_the_days_its_hours_hold(page: Page, site: Site) -> None:
    """Hours the API took as written ("fri-mon" across the week's end, "sat, sun" spaced): the
    editor ticked no day for the first, and the supervisor had to tick the order's days again
    from memory before the zone could be saved. The engine's words ("daily") are read too."""
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    x, y = _far_from_home(page)
    page.fill("#zone-form input[name=id]", "stade")
    _draw_square(page, x, y)
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")
    page.click("#z-save")
    expect(page.locator("#z-list li[data-zone=stade]")).to_have_count(1)
    hours = [
        {"days": "fri-mon", "from": "20:00", "to": "23:00"},
        {"days": "sat, sun", "from": "09:00", "to": "12:00"},
    ]
    page.evaluate(
        """async ([placement, hours]) => {
            const { zones } = await Vigie.api(`/api/placements/${placement}`);
            const zone = { ...zones.find((z) => z.id === "stade"), schedule: hours };
            const path = `/api/placements/${placement}/zones/stade`;
            await Vigie.api(path, { method: "PUT", body: zone });
        }""",
        [site.world.placement, hours],
    )
    saved = _zone(site, "stade")
    assert saved is not None and saved.schedule == hours  # kept as written
    page.reload()
    page.click("#z-list li[data-zone=stade] button:first-of-type")
    expect(page.locator(".z-window")).to_have_count(2)
    week = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    for n, ticked in enumerate(({"fri", "sat", "sun", "mon"}, {"sat", "sun"}), start=1):
        for day in week:
            box = page.locator(f".z-window:nth-of-type({n}) [data-day={day}]")
            if day in ticked:
                expect(box).to_be_checked()
            else:
                expect(box).not_to_be_checked()
    # Saved again untouched: the same days, written as the editor writes them.
    page.click("#z-save")
    expect(page.locator("#z-check")).to_have_text("Enregistré.")
    again = _zone(site, "stade")
    assert again is not None
    assert [w["days"] for w in again.schedule] == ["mon,fri-sun", "sat,sun"]
    read = "(text) => [...Vigie.daySet(text)].sort()"
    assert page.evaluate(f"({read})('Daily')") == sorted(week)
    assert page.evaluate(f"({read})('*')") == sorted(week)
    assert page.evaluate(f"({read})('SUN-tue, thu')") == ["mon", "sun", "thu", "tue"]
    assert page.evaluate(f"({read})('someday')") == []


def test_a_late_check_answer_never_overwrites_a_newer_one(page: Page, site: Site) -> None:
    held: list[Route] = []

    def hold_first(route: Route) -> None:
        if not held:
            held.append(route)  # answered later, after the newer check
        else:
            route.continue_()

    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    x, y = _far_from_home(page)
    page.route("**/zones/check*", hold_first)
    page.fill("#zone-form input[name=id]", "gare-nord")
    _draw_square(page, x, y)  # check 1: held
    expect(page.locator("#z-check")).to_have_text("Vérification en cours…")
    page.fill("#zone-form input[name=label]", "Gare du Nord")
    page.locator("#zone-form input[name=label]").dispatch_event("change")  # check 2
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")
    stale = {"error": "refused", "message": "STALE ANSWER", "field": "geometry"}
    held[0].fulfill(status=422, json=stale)
    page.wait_for_timeout(300)
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")

    # A save while a check is in flight: the check's late answer does not speak over the save.
    held.clear()
    page.fill("#zone-form input[name=label]", "Gare du Nord, parvis")
    page.locator("#zone-form input[name=label]").dispatch_event("change")  # check 3: held
    page.click("#z-save")
    expect(page.locator("#z-check")).to_have_text("Enregistré.")
    held[0].fulfill(status=422, json=stale)
    page.wait_for_timeout(300)
    expect(page.locator("#z-check")).to_have_text("Enregistré.")
    saved = _zone(site, "gare-nord")
    assert saved is not None and saved.label == "Gare du Nord, parvis"


def test_the_bar_distance_is_changed_with_its_law_facts(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.bar_placement}/zones")
    bar = page.locator("#bar-form")
    expect(bar).to_be_visible()
    distance = bar.locator("input[name=alert_distance_km]")
    expect(distance).to_have_value("2")
    expect(bar.locator("input[name=victim_consent]")).to_be_checked()
    distance.fill("12")  # beyond what R24-18 allows
    bar.locator("button[type=submit]").click()
    expect(page.locator("#bar-check")).to_have_class("check refused")
    expect(distance).to_have_attribute("aria-invalid", "true")
    expect(distance).to_be_focused()
    distance.fill("3")
    bar.locator("button[type=submit]").click()
    expect(page.locator("#bar-check")).to_have_text("Enregistré.")
    with site.db.session() as session:
        placement = session.get_one(Placement, site.world.bar_placement)
        assert placement.alert_distance_km == 3
        assert placement.law_input["facts"]["alert_distance_km"] == 3


def _dark(page: Page) -> bool:
    return (
        page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(20, 23, 29)"
    )


def test_the_theme_follows_the_system_then_the_toggle_on_every_page(
    browser: Browser, site: Site
) -> None:
    context = browser.new_context(locale="fr-FR", color_scheme="dark")
    page = context.new_page()
    try:
        log_in(page, site, "operator1")
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_have_attribute("aria-pressed", "true")  # the system says dark
        assert _dark(page)
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert not _dark(page)
        page.goto(f"{site.url}/cases")  # kept across pages, before the first paint
        expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "false")
        assert not _dark(page)
        page.click("#theme-toggle")
        page.goto(f"{site.url}/law")
        assert _dark(page)
        expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()


def test_the_outline_map_says_it_has_no_streets(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#map .map-notice")).to_contain_text("sans rues ni noms de lieux")


def test_a_phone_gets_one_column_and_no_sideways_page(browser: Browser, site: Site) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, site, "spip1")
        for path in ("/", "/cases", f"/cases/{site.world.placement}", "/law"):
            page.goto(site.url + path)
            page.wait_for_load_state("load")
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, f"{path} is {wide} px wide on a 390 px phone"
    finally:
        context.close()


def test_supervision_says_in_words_which_devices_are_silent_and_how_charged(
    page: Page, site: Site
) -> None:
    """Not "muets ∞": a home unit never heard says so, a bracelet its battery."""
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    devices = page.locator("#sup-devices li")
    expect(devices.filter(has_text="H1 (C1)")).to_have_text("H1 (C1) · jamais entendu")
    expect(devices.filter(has_text="B1 (C1)")).to_have_text("B1 (C1) · batterie 15 %")
    page.goto(f"{site.url}/supervision?lang=en")
    expect(devices.filter(has_text="H1 (C1)")).to_have_text("H1 (C1) · never heard")

    # Heard two hours ago, silent since: for how long, in the page's words.
    post(site.world, "H1", 1, timedelta(hours=2))  # a battery reading at 80 %
    page.goto(f"{site.url}/supervision?lang=fr")
    expect(devices.filter(has_text="H1 (C1)")).to_have_text(
        re.compile(r"^H1 \(C1\) · muet depuis 2:00:\d\d · batterie 80 %$")
    )


def test_calendar_dates_are_written_as_a_french_reader_writes_them(page: Page, site: Site) -> None:
    """20/05/2027, not the API's 2027-05-20: the birth, the order, the deadlines, the list; the
    hours' days in French words, not the API's "mon-fri"."""
    iso = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-deadlines li").first).to_be_attached()
    expect(page.locator("#c-dates dd").first).to_be_attached()
    for box in ("#c-person", "#c-order", "#c-deadlines", "#c-dates"):
        text = page.locator(box).inner_text()
        assert not iso.search(text), (box, text)
    expect(page.locator("#c-person")).to_contain_text("01/01/1990")
    expect(page.locator("#c-order")).to_contain_text("Lun–Ven 20:00–07:00")  # not "mon-fri"
    assert page.evaluate("() => Vigie.days('sat,sun')") == "Sam, Dim"
    assert page.evaluate("() => Vigie.days('daily')") == "tous les jours"
    due = page.locator("#c-deadlines time").first
    stamp = due.get_attribute("datetime") or ""
    assert iso.fullmatch(stamp), stamp  # the machine-readable date stays on the element
    expect(due).to_have_text("/".join(reversed(stamp.split("-"))))
    page.goto(f"{site.url}/cases")
    expect(page.locator("#cases tbody tr").first).to_be_attached()
    assert not iso.search(page.locator("#cases tbody").inner_text())


def test_a_case_without_zones_says_so_in_the_zone_editor(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.bar_placement}/zones")
    expect(page.locator("#z-list li.muted")).to_have_text("Aucune zone pour ce dossier.")
