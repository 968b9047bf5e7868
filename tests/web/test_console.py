"""The console in a real browser (Debian's Chromium) against the real centre on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from tests.web.conftest import Site, log_in, logged_out, press
from vigie import clock
from vigie.store.models import AuditEntry, Placement, Zone


@pytest.mark.parametrize(
    ("role", "sees_supervision"),
    [
        ("operator", True),
        ("supervisor", True),
        ("spip", False),
        ("judge", False),
        ("prosecutor", False),
    ],
)
def test_each_role_logs_in_and_sees_what_the_api_lets_it(
    page: Page, site: Site, role: str, sees_supervision: bool
) -> None:
    log_in(page, site, f"{role}1")
    expect(page.locator("#who")).to_contain_text(f"{role}1")
    expect(page.get_by_role("link", name="Supervision")).to_be_visible(visible=sees_supervision)
    # The devices are read by the centre's roles (operators, supervisors), never by officials.
    expect(page.get_by_role("link", name="Dispositifs")).to_be_visible(visible=sees_supervision)
    page.click("text=Dossiers")
    expect(page.locator("#cases tbody tr")).not_to_have_count(0)
    refs = page.locator("#cases tbody td:first-child").all_inner_texts()
    # The centre sees every case; an official sees only the cases naming them (not judge2's C3).
    assert ("C3" in refs) == (role in ("operator", "supervisor"))
    assert {"C1", "C2"} <= set(refs)


def test_admin_sees_no_case_and_a_wrong_password_is_refused(page: Page, site: Site) -> None:
    log_in(page, site, "admin1")
    expect(page.locator("#no-queue")).to_be_visible()
    expect(page.get_by_role("link", name="Dossiers")).to_be_hidden()
    expect(page.get_by_role("link", name="Dispositifs")).to_be_visible()  # the centre's stock
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", "operator1")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Identifiant ou mot de passe incorrect")


def test_too_many_failures_are_told_in_french_and_english(page: Page, site: Site) -> None:
    for _ in range(5):  # from the browser's address too (127.0.0.1)
        wrong = {"username": "intrus", "password": "one more guess"}
        assert site.http.post("/api/auth/token", json=wrong).status_code == 401
    for lang, text in (
        ("fr", "Trop de tentatives de connexion : réessayez dans 15 min"),
        ("en", "Too many login attempts: try again in 15 min"),
    ):
        page.goto(f"{site.url}/login?lang={lang}")
        page.fill("input[name=username]", "intrus")
        page.fill("input[name=password]", "one more guess")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_have_text(text)


def test_logout_revokes_the_token(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    expect(page.locator("#who")).to_contain_text("supervisor1")
    token = page.evaluate("localStorage.getItem('vigie.token')")
    headers = {"Authorization": f"Bearer {token}"}
    assert site.http.get("/api/alarms", headers=headers).status_code == 200
    page.click("#logout")
    logged_out(page, site)
    assert site.http.get("/api/alarms", headers=headers).status_code == 401


def test_english_is_available(page: Page, site: Site) -> None:
    log_in(page, site, "operator1", lang="en")
    expect(page.locator("h1")).to_contain_text("Alarm queue")
    page.goto(f"{site.url}/law")  # the choice is kept in a cookie
    expect(page.locator("h1")).to_have_text("Legal calculator")


def report_frame_body(page: Page) -> Any:
    return page.frame_locator("#report").locator("body")


def test_observation_raises_a_live_alarm_worked_to_its_report(page: Page, site: Site) -> None:
    world = site.world
    world.new_zone()  # an exclusion square around (45.0, 5.0) on case C1
    log_in(page, site, "operator1")
    expect(page.locator("#live")).to_have_class("live up")
    page.evaluate("window.notReloaded = true")
    fix = {
        "device": "B1",
        "t": clock.now().isoformat(),
        "type": "position",
        "lat": 45.0,
        "lon": 5.0,
        "accuracy_m": 5,
    }
    # The seeded track is in Paris: a first fix 400 km away is an impossible jump, held as
    # suspect (issue 20's plausibility); the second one there confirms it.
    first = fix | {"t": (clock.now() - timedelta(seconds=30)).isoformat()}
    posted = site.http.post(
        "/api/observations",
        json={"observations": [first, fix]},
        headers=site.token_headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    row = page.locator("#queue tbody tr[data-kind=zone_entry]")
    expect(row).to_have_count(1)  # arrived by the live stream...
    assert page.evaluate("window.notReloaded") is True  # ...without a reload
    alarm_id = row.get_attribute("data-id")
    expect(row.locator(".tta")).to_have_class("tta counting")

    row.click()
    page.keyboard.press("a")  # acknowledge from the keyboard
    expect(row).to_have_attribute("data-status", "acknowledged")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/alarms/{alarm_id}")
    expect(page.locator("#a-obligation")).to_contain_text("zone d'exclusion")
    expect(page.locator("#a-article")).to_have_text("CP 131-4-1 / CPP 723-7")
    expect(page.locator("#map .leaflet-interactive")).not_to_have_count(0)  # zone and track drawn

    for action in ("call_wearer", "police_alerted", "spip_informed"):
        page.click(f"#procedure button[data-action={action}]")
        expect(page.locator(f"#procedure button[data-action={action}]")).to_contain_text("✓")
    page.fill("#note-form textarea", "patrouille envoyée sur place")
    press(page, "#note-form button")
    expect(page.locator("#actions li")).to_have_count(4)
    expect(page.locator("#a-status")).to_have_text("En traitement")

    page.select_option("#close-form select", "breach")
    page.fill("#close-form textarea", "présent dans la zone")
    # The preview shows the report as closing would make it, and the alarm stays open.
    press(page, "#preview")
    draft = page.frame_locator("#report")
    expect(draft.locator("body")).to_contain_text("PROJET")
    expect(draft.locator("body")).to_contain_text("présent dans la zone")
    expect(page.locator("#a-status")).to_have_text("En traitement")
    press(page, "#close-form button[type=submit]")
    expect(page.locator("#close-confirm")).to_contain_text("« Manquement »")
    # He is still in the zone: closed, the alarm comes back if that lasts (alarms.ongoing).
    expect(page.locator("#close-confirm")).to_contain_text("toujours en cours")
    expect(page.locator("#a-status")).to_have_text("En traitement")  # not before confirming
    press(page, "#close-yes")
    # Closing renders the report's PDF (WeasyPrint): seconds when the machine is busy.
    expect(page.locator("#a-status")).to_have_text("Close", timeout=20_000)
    expect(report_frame_body(page)).not_to_contain_text("PROJET")
    report = page.frame_locator("#report")
    expect(report.locator("body")).to_contain_text("patrouille envoyée sur place")
    expect(report.locator("body")).to_contain_text("C1")
    expect(report.locator("body")).to_contain_text("le centre le signale de nouveau s'il dure")

    # The case file's timeline lists the alarm, closed and qualified.
    page.click("#a-case")
    expect(page.locator("#c-timeline")).to_contain_text(f"n° {alarm_id}")
    expect(page.locator("#c-timeline")).to_contain_text("Manquement")
    expect(page.locator("#c-devices")).to_contain_text("15 %")  # the seeded battery report
    expect(page.locator("#c-timeline")).to_contain_text("B1 · batterie 15 %")


def test_bar_alert_is_on_top_and_shows_the_protected_person_once_worked(
    page: Page, site: Site
) -> None:
    world = site.world
    world.new_alarm(kind="absence")
    alert = world.new_alarm(kind="alert", bar=True)
    log_in(page, site, "operator1")
    first = page.locator("#queue tbody tr").first
    expect(first).to_have_attribute("data-id", str(alert))
    expect(first).to_have_class("p1 bar-alert selected ")
    expect(page.locator("#bar-banner")).to_be_visible()
    expect(page.locator("#bar-banner")).to_contain_text(f"n° {alert}")
    page.select_option("#filters select[name=kind]", "absence")
    expect(page.locator("#queue tbody tr").first).to_have_attribute("data-kind", "absence")
    kinds = {r.get_attribute("data-kind") for r in page.locator("#queue tbody tr").all()}
    assert kinds == {"absence"}
    page.select_option("#filters select[name=kind]", "")

    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#procedure button").first).to_have_attribute(
        "data-action", "call_protected"
    )
    page.keyboard.press("a")
    expect(page.locator("#a-status")).to_have_text("Acquittée")
    page.keyboard.press("1")  # first step of the BAR procedure: call the protected person
    expect(page.locator("#actions li")).to_have_count(1)
    expect(page.locator("#actions")).to_contain_text("Appeler la personne protégée")
    with site.db.session() as session:
        reads = session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.action == "read_protected_position",
                AuditEntry.target == f"alarm:{alert}",
            )
        ).all()
    assert reads and set(reads) == {"operator1"}


def test_a_bar_alert_held_by_another_operator_does_not_locate_her(page: Page, site: Site) -> None:
    alert = site.world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    site.world.centre.headers("operator", "operator2")
    log_in(page, site, "operator2")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#protected-note")).to_contain_text("le seul opérateur")
    expect(page.locator("#a-detail")).to_have_text(
        "Distance : 1\u202f000 m (arrondie à 500 m : la distance exacte est réservée à "
        "l'opérateur qui tient l'alerte)"
    )
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(0)  # no marker, no circle
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-detail")).to_have_text("Distance : 800 m")
    expect(page.locator("#map path.leaflet-interactive")).not_to_have_count(0)
    expect(page.locator("#protected-note")).to_be_hidden()
    with site.db.session() as session:
        tried = session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.action.in_(("read_protected_position", "protected_position_denied")),
                AuditEntry.target == f"alarm:{alert}",
            )
        ).all()
    assert tried == ["operator1"]  # operator2's page did not even ask


def test_the_holder_hands_a_bar_alert_to_the_next_operator(page: Page, site: Site) -> None:
    """His shift ends in a BAR alert: operator1 hands it to operator2 with the reason; his page
    no longer locates her, hers does, and the log says to whom and why."""
    alert = site.world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    site.world.centre.headers("operator", "operator2")
    site.world.centre.headers("operator", "operator8")
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-detail")).to_have_text("Distance : 800 m")
    form = page.locator("#hand-form")
    expect(form).to_be_visible()
    expect(form.locator("select[name=to] option[value=operator2]")).to_have_count(1)
    # operator8 never opened a console: the list says so.
    expect(form.locator("select[name=to] option[value=operator8]")).to_contain_text(
        "(operator8) · console fermée"
    )
    expect(form.locator("select[name=to] option[value=operator1]")).to_have_count(0)
    form.locator("select[name=to]").select_option("operator2")
    form.locator("input[name=reason]").fill("Relève de 19 h")
    form.locator("button[type=submit]").click()
    expect(page.locator("#a-holder")).to_contain_text("(operator2)")
    expect(form).to_be_hidden()
    expect(page.locator("#actions")).to_contain_text("Alarme confiée à operator2 — Relève de 19 h")
    expect(page.locator("#protected-note")).to_contain_text("le seul opérateur")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(0)
    log_in(page, site, "operator2")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-detail")).to_have_text("Distance : 800 m")
    expect(page.locator("#protected-note")).to_be_hidden()
    expect(page.locator("#hand-form")).to_be_visible()  # hers to hand on in turn


def test_an_operator_logging_out_with_an_alarm_is_warned_and_it_comes_back(
    page: Page, site: Site
) -> None:
    """operator7 holds a BAR alert and logs out: asked first (he stays if he says no), then it
    is back in the queue for operator2, told as left by its operator."""
    alert = site.world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    site.world.centre.headers("operator", "operator2")
    site.world.centre.headers("operator", "operator7")
    handed = site.world.centre.client.post(
        f"/api/alarms/{alert}/hand-over",
        json={"to": "operator7", "reason": "relève"},
        headers=site.world.centre.headers("supervisor"),
    )
    assert handed.status_code == 200, handed.text
    log_in(page, site, "operator7")
    expect(page.locator(f"#queue tbody tr[data-id='{alert}'] td.holder.mine")).to_have_count(1)
    with page.expect_event("dialog") as asked:
        page.click("#logout")
    assert asked.value.message.startswith("Vous tenez 1 alarme(s)")
    asked.value.dismiss()
    expect(page.locator("#who")).to_contain_text("operator7")  # he stayed
    token = page.evaluate("localStorage.getItem('vigie.token')")
    mine = site.http.get(f"/api/alarms/{alert}", headers={"Authorization": f"Bearer {token}"})
    assert mine.json()["holder"]["username"] == "operator7"  # not logged out, still his
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#logout")
    logged_out(page, site)
    log_in(page, site, "operator2")
    row = page.locator(f"#queue tbody tr[data-id='{alert}']")
    expect(row.locator("span.back.left")).to_have_text("laissée")
    expect(row.locator("button.ack")).to_have_text("Reprendre")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-back")).to_contain_text("Son opérateur s'est déconnecté le")
    expect(page.locator("#actions")).to_contain_text(
        "Remise en attente, déconnexion de son opérateur : operator7"
    )


def test_the_queue_tells_an_operator_an_alarm_was_handed_to_him(page: Page, site: Site) -> None:
    """A supervisor hands operator1's alarm to operator2 (operator1 gone): operator2's queue says
    so at once and marks the row his; his own take of another alarm says nothing of the kind."""
    held = site.world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    other = site.world.new_alarm()  # open
    site.world.centre.headers("operator", "operator2")
    log_in(page, site, "operator2")
    row = page.locator(f"#queue tbody tr[data-id='{held}']")
    expect(row.locator("td.holder")).to_have_text("operator1")
    expect(row.locator("td.holder.mine")).to_have_count(0)
    handed = site.world.centre.client.post(
        f"/api/alarms/{held}/hand-over",
        json={"to": "operator2", "reason": "operator1 parti"},
        headers=site.world.centre.headers("supervisor"),
    )
    assert handed.status_code == 200, handed.text
    expect(page.locator("#flash")).to_have_text(
        f"Alarme n° {held} : elle vous est confiée, vous la tenez désormais."
    )
    expect(row.locator("td.holder.mine")).to_have_text("operator2")
    page.locator(f"#queue tbody tr[data-id='{other}'] button.ack").click()
    expect(page.locator("#flash")).to_have_text(f"Alarme acquittée n° {other}")
    expect(page.locator(f"#queue tbody tr[data-id='{other}'] td.holder.mine")).to_have_count(1)
    # operator1's other alarm came back: operator2 takes it again himself, nobody handed it.
    back = site.world.new_alarm("in_progress", kind="absence")
    site.world.end_alarm(back, "fix")
    site.world.raise_again(back)
    back_row = page.locator(f"#queue tbody tr[data-id='{back}']")
    expect(back_row.locator("button.ack")).to_have_text("Reprendre")
    expect(back_row).not_to_have_attribute("data-moved", "")  # a click is not held back
    back_row.locator("button.ack").click()
    expect(back_row.locator("td.holder.mine")).to_have_count(1)
    expect(page.locator("#flash")).to_have_text(f"Alarme acquittée n° {back}")


def test_a_zone_around_the_wearers_home_is_refused_before_saving(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.placement}/zones")
    expect(page.locator("#map[data-ready]")).to_have_count(1)  # zoomed to the case's places
    home = page.locator(".leaflet-marker-icon[title=Domicile]")
    expect(home).to_be_visible()
    box = home.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"]  # the marker's tip is the home
    page.fill("#zone-form input[name=id]", "autour-domicile")

    def draw_square(cx: float, cy: float, half: float) -> None:
        page.click("#draw-polygon")
        for dx, dy in ((-half, -half), (half, -half), (half, half)):
            page.mouse.click(cx + dx, cy + dy)
        page.mouse.dblclick(cx - half, cy + half)

    draw_square(x, y, 40)
    expect(page.locator("#z-check")).to_contain_text("home is inside his own exclusion zone")
    page.click("#z-save")
    expect(page.locator("#z-check")).to_have_class("check refused")
    with site.db.session() as session:
        keys = session.scalars(select(Zone.key).where(Zone.placement_id == site.world.placement))
        assert "autour-domicile" not in set(keys)

    # The same zone drawn away from the home passes the check and is saved.
    page.fill("#zone-form input[name=id]", "loin-domicile")
    area = page.locator("#map").bounding_box()
    assert area is not None
    corners = [
        (area["x"] + 80, area["y"] + 80),
        (area["x"] + area["width"] - 80, area["y"] + area["height"] - 80),
    ]
    far = max(corners, key=lambda c: abs(c[0] - x) + abs(c[1] - y))
    draw_square(*far, 30)
    expect(page.locator("#z-check")).to_have_text("Zone valide pour ce dossier.")
    page.click("#z-save")
    expect(page.locator("#z-list")).to_contain_text("loin-domicile")
    with site.db.session() as session:
        saved = session.scalars(
            select(Zone).where(
                Zone.placement_id == site.world.placement, Zone.key == "loin-domicile"
            )
        ).one()
        assert saved.type == "exclusion" and saved.geometry["type"] == "Polygon"


def _assert_decision(page: Page, outcome: str, dates: dict[str, str]) -> None:
    expect(page.locator("#law-outcome")).to_have_attribute("data-outcome", outcome)
    for name, value in dates.items():
        expect(page.locator(f"#law-dates dd[data-date={name}]")).to_have_attribute(
            "data-value", value
        )
    expect(page.locator("#law-articles li")).not_to_have_count(0)


def _law_case(page: Page) -> Any:
    return json.loads(page.locator("#law-case").input_value())


@pytest.mark.parametrize(
    ("measure", "outcome", "dates"),
    [
        ("arse", "eligible", {"term_end": "2026-09-10", "fitting_deadline": "2026-03-15"}),
        ("lsc", "judge_decides", {"sentence_end": "2028-01-10", "lsc_examination": "2027-01-10"}),
    ],
)
def test_legal_calculator_gives_the_dates_of_its_examples(
    page: Page, site: Site, measure: str, outcome: str, dates: dict[str, str]
) -> None:
    log_in(page, site, "spip1")
    page.click("text=Calculateur légal")
    page.select_option("#law-measure", measure)
    page.click("#law-form button[type=submit]")
    _assert_decision(page, outcome, dates)


def test_the_legal_calculator_sent_before_htmx_has_its_form_answers_once_it_has(
    page: Page, site: Site
) -> None:
    """Sent while the page's scripts still load (a slow link, a loaded host), the form was
    posted natively: the page answered 405 in place of the calculator (a test did, under load).
    Held (forms.js), it is sent by htmx once htmx has it."""
    log_in(page, site, "spip1")
    held: list[Route] = []
    page.route("**/static/vendor/htmx.min.js", lambda route: held.append(route))
    page.goto(f"{site.url}/law", wait_until="commit")
    expect(page.locator("#law-submit")).to_be_visible()
    assert held, "htmx was not held"
    page.click("#law-submit")
    held[0].continue_()
    expect(page.locator("#law-outcome")).to_be_visible()
    assert page.url.endswith("/law")
    page.select_option("#law-measure", "arse")
    page.click("#law-submit")
    _assert_decision(page, "eligible", {"term_end": "2026-09-10"})


def test_legal_calculator_form_builds_an_lsc_case_typed_in(page: Page, site: Site) -> None:
    log_in(page, site, "spip1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "lsc")
    # The example's sentence goes; a new one is typed in, with the dates, field by field.
    page.click("#law-sentences .law-remove")
    expect(page.locator("#law-sentences fieldset.law-sentence")).to_have_count(0)
    expect(page.locator("#law-add-sentence")).to_be_focused()
    page.click("#law-add-sentence")
    expect(page.locator("[data-path='sentences.0.quantum']")).to_be_focused()
    page.keyboard.type("P3Y")
    page.select_option("[data-path='sentences.0.category']", "delit")
    page.check("#law-sentences-0-partner_aggravation")
    page.uncheck("#law-sentences-0-partner_aggravation")
    page.fill("#law-as_of", "2026-06-01")
    page.fill("#law-birth_date", "1990-05-04")
    page.fill("#law-committal_date", "2024-01-01")
    page.fill("#law-committal_date", "2025-01-10")
    page.fill("#law-reductions_days", "0")
    page.check("#law-facts-has_accommodation")
    page.uncheck("#law-facts-refused_lsc")
    case = _law_case(page)
    assert case["committal_date"] == "2025-01-10" and case["reductions_days"] == 0
    assert case["sentences"] == [
        {"quantum": "P3Y", "category": "delit", "recidivism": False, "offences": []}
    ]
    assert case["facts"]["has_accommodation"] is True and case["facts"]["refused_lsc"] is False
    page.click("#law-form button[type=submit]")
    _assert_decision(
        page, "judge_decides", {"sentence_end": "2028-01-10", "lsc_examination": "2027-01-10"}
    )
    # A second sentence, served after the first, moves the end by its length.
    page.click("#law-add-sentence")
    page.keyboard.type("P6M")
    page.keyboard.press("Enter")  # submits the form from the keyboard
    expect(page.locator("#law-dates dd[data-date=sentence_end]")).to_have_attribute(
        "data-value", "2028-07-10"
    )


def test_legal_calculator_form_builds_an_arse_case_typed_in(page: Page, site: Site) -> None:
    log_in(page, site, "judge1", lang="en")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "arse")
    expect(page.locator("label", has=page.locator("#law-facts-order_date"))).to_contain_text(
        "Order date"
    )
    page.fill("#law-facts-order_date", "")
    assert "order_date" not in _law_case(page)["facts"]
    page.fill("#law-facts-order_date", "2026-03-10")
    page.fill("#law-facts-incurred_years", "3")
    page.fill("#law-facts-renewals_so_far", "0")
    page.check("#law-facts-mis_en_examen")
    page.check("#law-facts-consent_with_lawyer")
    page.check("#law-facts-spip_check_done")
    page.uncheck("#law-facts-mobile")
    facts = _law_case(page)["facts"]
    assert facts["order_date"] == "2026-03-10" and facts["incurred_years"] == 3
    page.click("#law-form button[type=submit]")
    _assert_decision(page, "eligible", {"term_end": "2026-09-10", "fitting_deadline": "2026-03-15"})
    page.fill("#law-facts-renewals_so_far", "1")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-dates dd[data-date=term_end]")).to_have_attribute(
        "data-value", "2027-03-10"
    )


def test_legal_calculator_offers_sentence_arithmetic(page: Page, site: Site) -> None:
    log_in(page, site, "prosecutor1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "sentence")
    page.fill("#law-sentences-0-quantum", "P2Y")
    page.fill("#law-pretrial_days", "10")
    page.click("#law-form button[type=submit]")
    _assert_decision(page, "not_applicable", {"sentence_end": "2026-12-31"})


def test_legal_calculator_names_the_field_at_fault(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "bar")
    page.fill("#law-facts-alert_distance_km", "12")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-error")).to_contain_text("facts.alert_distance_km")
    expect(page.locator("#law-facts-alert_distance_km")).to_have_attribute("aria-invalid", "true")
    page.fill("#law-facts-alert_distance_km", "3")
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-outcome")).to_be_visible()
    expect(page.locator("#law-facts-alert_distance_km")).not_to_have_attribute(
        "aria-invalid", "true"
    )


def test_legal_calculator_json_box_is_the_case(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.select_option("#law-measure", "arse")
    expect(page.locator("#law-case")).to_be_hidden()  # advanced, folded away
    page.click("#law-advanced summary")
    page.fill("#law-case", '{"as_of": "2026-02-30", "facts": {"order_date": "2026-04-01"}}')
    expect(page.locator("#law-facts-order_date")).to_have_value("2026-04-01")  # the form follows
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-error")).to_contain_text("as_of")


def test_a_judge_cannot_open_another_judges_case(page: Page, site: Site) -> None:
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/cases/{site.other_case}")
    expect(page.locator("#case-error")).to_contain_text("Introuvable")
    expect(page.locator("#c-ref")).to_have_count(0)
    page.goto(f"{site.url}/cases/{site.world.placement}")
    expect(page.locator("#c-ref")).to_have_text("C1")
    with site.db.session() as session:
        assert session.get(Placement, site.other_case) is not None  # it exists: only hidden


def test_stream_says_changed_at_once_then_on_each_new_alarm(site: Site) -> None:
    headers = site.token_headers("spip")
    with site.http.stream("GET", "/api/console/stream", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: changed"
        site.world.new_alarm(kind="tamper")
        events = [line for line in itertools.islice(lines, 3) if line.startswith("event:")]
        assert events == ["event: changed"]
