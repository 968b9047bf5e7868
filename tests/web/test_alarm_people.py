"""What the operator must see, say and dial, in Chromium: the people to call on the alarm page
(her number to the holder only), who holds the alarm, the page following live, an alert and its
pre-alert on one line, the queue's pages ("1–200 sur N"), and no API key on screen."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.api.world import POLICE_PHONE, SPIP_PHONE, VICTIM_PHONE, WEARER_PHONE
from tests.web.conftest import Site, log_in
from vigie import clock
from vigie.alarms import episodes

RAW_KEYS = ("distance_m", "target_kind", "judge_decides", "eligible", "rounded_to")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # what an untranslated key looks like


def no_raw_key(page: Page) -> None:
    text = page.locator("body").inner_text()
    for key in RAW_KEYS:
        assert key not in text, key
    assert not SNAKE.findall(text), SNAKE.findall(text)


def fold(site: Site, kind: str, device: str, at: timedelta = timedelta(0)) -> int:
    """A BAR alarm of case C2 raised by `device`, `at` from now (the detection's shape)."""
    t = clock.now() + at
    with site.db.session() as session:
        event = {"t": t, "case": "C2", "kind": kind, "state": "raised", "device": device}
        detail = {"distance_m": 850, "target": "P1", "target_kind": "device"}
        (alarm,) = episodes.fold(session, [event | {"detail": detail}], t)
        return alarm.id


def test_the_holder_reads_every_number_and_another_operator_why_hers_is_not(
    page: Page, site: Site
) -> None:
    alert = fold(site, "alert", "W1")
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{alert}")
    nobody = "Personne n'a encore pris cette alarme en charge."
    expect(page.locator("#a-holder")).to_have_text(nobody)
    wearer = page.locator("dd[data-contact=wearer]")
    expect(wearer).to_contain_text("MARTIN Paul")
    expect(wearer).to_contain_text("12 rue des Lilas, 75011 Paris")
    expect(wearer.locator("a.phone")).to_have_text(WEARER_PHONE)
    expect(wearer.locator("a.phone")).to_have_attribute("href", "tel:0611223344")
    expect(page.locator("dd[data-contact=spip] a.phone")).to_have_text(SPIP_PHONE)
    expect(page.locator("dd[data-contact=police]")).to_contain_text("Commissariat du 11e")
    expect(page.locator("dd[data-contact=police] a.phone")).to_have_text(POLICE_PHONE)
    # Not hers to dial before she takes the alert; then hers, with the exact distance.
    expect(page.locator("#protected-withheld")).to_contain_text("réservé à l'opérateur")
    expect(page.locator("#a-target")).to_have_text(
        "Cible la plus proche : à environ 1\u202f000 m de la victime"
    )
    page.keyboard.press("a")
    expect(page.locator("dd[data-contact=protected] a.phone")).to_have_text(VICTIM_PHONE)
    expect(page.locator("#a-target")).to_have_text("Cible la plus proche : à 850 m de la victime")
    expect(page.locator("#a-holder")).to_contain_text("operator1")
    expect(page.locator("#a-holder")).to_contain_text("vous")
    no_raw_key(page)

    site.world.centre.headers("operator", "operator2")
    log_in(page, site, "operator2")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-holder")).to_contain_text("Prise en charge par")
    expect(page.locator("#a-holder")).to_contain_text("(operator1)")
    expect(page.locator("#protected-withheld")).to_have_text(
        "Numéro non affiché : réservé à l'opérateur qui a pris en charge l'alerte BAR en cours "
        "de ce dossier (règle de confidentialité, consultation journalisée)."
    )
    expect(page.locator("body")).not_to_contain_text(VICTIM_PHONE)
    no_raw_key(page)


def test_the_alarm_page_follows_live(page: Page, site: Site) -> None:
    alert = fold(site, "alert", "W2")
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#live")).to_have_class("live up")
    page.evaluate("window.notReloaded = true")
    operator = site.token_headers("operator")
    taken = site.http.post(f"/api/alarms/{alert}/acknowledge", headers=operator)
    assert taken.status_code == 200, taken.text
    expect(page.locator("#a-status")).to_have_text("Acquittée")
    expect(page.locator("#a-holder")).to_contain_text("(operator1)")
    page.fill("#note-form textarea", "en cours de frappe")  # nothing typed is lost
    noted = site.http.post(
        f"/api/alarms/{alert}/actions",
        json={"action": "note", "note": "victime mise à l'abri"},
        headers=operator,
    )
    assert noted.status_code == 201, noted.text
    expect(page.locator("#actions")).to_contain_text("victime mise à l'abri")
    expect(page.locator("#a-status")).to_have_text("En traitement")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#note-form textarea")).to_have_value("en cours de frappe")


def test_an_alert_and_its_pre_alert_are_one_line_and_the_holder_a_column(
    page: Page, site: Site
) -> None:
    pre_alert = fold(site, "pre_alert", "W3", timedelta(seconds=-60))
    alert = fold(site, "alert", "W3")
    held = site.world.new_alarm("acknowledged")
    log_in(page, site, "operator1")
    rows = page.locator("#queue tbody tr")
    alert_row = page.locator(f"#queue tbody tr[data-id='{alert}']")
    expect(alert_row).to_contain_text(f"avec sa pré-alerte n° {pre_alert}")
    ids = [r.get_attribute("data-id") for r in rows.all()]
    assert ids[ids.index(str(alert)) + 1] == str(pre_alert)  # right under its alert
    grouped = page.locator(f"#queue tbody tr[data-id='{pre_alert}']")
    expect(grouped).to_have_class(re.compile(r"\bgrouped\b"))
    expect(grouped).to_contain_text(f"pré-alerte de l'alerte n° {alert}")
    held_row = page.locator(f"#queue tbody tr[data-id='{held}']")
    expect(held_row.locator("td.holder")).to_have_text("operator1")
    expect(held_row.locator("td.wearer")).to_have_text("MARTIN Paul")
    expect(held_row).to_contain_text("DDSE")
    expect(page.locator("#queue-legend")).to_contain_text("escaladée")
    expect(page.locator("#queue-legend")).to_contain_text("fin de l'événement")
    no_raw_key(page)


def test_a_case_page_says_the_decision_in_words(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/cases/{site.world.bar_placement}")
    expect(page.locator("#c-ref")).to_have_text("C2")
    expect(page.locator("#c-outcome")).to_have_text("Éligible")
    expect(page.locator("#c-order")).to_contain_text("Commissariat du 11e")
    expect(page.locator("#c-order")).to_contain_text(SPIP_PHONE)
    page.goto(f"{site.url}/cases/{site.world.placement}")  # a DDSE: the law gives it dates
    expect(page.locator("#c-dates dt")).not_to_have_count(0)
    for box in ("#c-outcome", "#c-dates", "#c-deadlines", "#c-order"):
        assert not SNAKE.findall(page.locator(box).inner_text()), box
    said = page.evaluate(
        """() => [
          Vigie.say(new Vigie.ApiError(409, {error: "conflict",
            message: "alarm 5 is acknowledged; only an open alarm is acknowledged"})),
          Vigie.say(new Vigie.ApiError(404, {error: "not_found", message: "alarm 9 not found"})),
          Vigie.say(new TypeError("Failed to fetch")),
        ]"""
    )
    assert said == [
        "Cette alarme n'est plus ouverte : elle a déjà été acquittée.",
        "Introuvable, ou hors des dossiers qui vous sont ouverts.",
        "Le centre ne répond pas : vérifiez la connexion.",
    ]


def test_the_queue_says_how_many_it_does_not_show_and_pages_on(page: Page, site: Site) -> None:
    """Last of the module: it fills the queue past a page."""
    t = clock.now()
    with site.db.session() as session:
        events = [
            {"t": t, "case": "C1", "kind": "low_battery", "state": "raised", "device": f"L{i}"}
            | {"detail": {}}
            for i in range(230)
        ]
        episodes.fold(session, events, t)
    total = int(
        site.http.get("/api/alarms?limit=1", headers=site.token_headers("operator")).headers[
            "X-Total-Count"
        ]
    )
    assert total > 230
    log_in(page, site, "operator1")
    expect(page.locator("#queue-count")).to_have_text(f"1–200 sur {total}")
    expect(page.locator("#queue tbody tr")).to_have_count(200)
    expect(page.locator("#queue-prev")).to_be_hidden()
    page.click("#queue-next")
    expect(page.locator("#queue-count")).to_have_text(f"201–{total} sur {total}")
    expect(page.locator("#queue tbody tr")).to_have_count(total - 200)
    expect(page.locator("#queue-next")).to_be_hidden()
    page.click("#queue-prev")
    expect(page.locator("#queue-count")).to_have_text(f"1–200 sur {total}")
    no_raw_key(page)
