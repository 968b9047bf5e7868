"""What the operator must see, say and dial: the people to call for an alarm (her phone to the
holder of her live BAR alert only, audited), the queue's pages with their total count, who holds
each alarm, an alert grouped with its pre-alert, and a report a court can read."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.api.world import (
    POLICE_PHONE,
    SPIP_PHONE,
    VICTIM_PHONE,
    WEARER_PHONE,
    World,
    build,
)
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import episodes
from vigie.alarms.narrative import event_sentence, local_time
from vigie.clock import PARIS
from vigie.store.models import Alarm, AuditEntry, OutboxMessage


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def audit_rows(world: World, action: str, target: str) -> list[str]:
    with world.centre.db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.action == action, AuditEntry.target == target
                )
            )
        )


def test_the_holder_of_a_live_bar_alert_gets_every_number_to_dial(world: World) -> None:
    alert = world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    answer = world.centre.client.get(
        f"/api/alarms/{alert}/contacts", headers=world.centre.headers("operator")
    )
    assert answer.status_code == 200, answer.text
    sheet = answer.json()
    assert sheet["holding"] is True
    assert sheet["wearer"] == {
        "name": "MARTIN Paul",
        "phone": WEARER_PHONE,
        "address": "12 rue des Lilas, 75011 Paris",
    }
    assert sheet["protected"] == {"name": "DURAND Paul", "phone": VICTIM_PHONE, "withheld": None}
    assert sheet["spip"]["phone"] == SPIP_PHONE and sheet["spip"]["name"] == "Spip Dupont"
    assert sheet["police"] == {"station": "Commissariat du 11e", "phone": POLICE_PHONE}
    # The holder reads the exact distance (800 m), as she reads the alarm's detail.
    assert sheet["target"]["distance_m"] == 800 and sheet["target"]["rounded_to_m"] is None
    victim = f"person:{world.victim}"
    assert audit_rows(world, "read_protected_phone", victim) == ["operator1"]
    assert audit_rows(world, "read_contacts", f"alarm:{alert}") == ["operator1"]


@pytest.mark.parametrize(("role", "username"), [("operator", "operator2"), ("supervisor", None)])
def test_anyone_else_is_told_why_her_phone_is_withheld(
    world: World, role: str, username: str | None
) -> None:
    alert = world.new_alarm("acknowledged", kind="alert", bar=True)  # held by operator1
    headers = world.centre.headers(role, username)
    sheet = world.centre.client.get(f"/api/alarms/{alert}/contacts", headers=headers).json()
    assert sheet["holding"] is False
    assert sheet["protected"] == {"name": "DURAND Paul", "phone": None, "withheld": "not_holder"}
    assert VICTIM_PHONE not in str(sheet)
    # The wearer, the SPIP and the police are everyone's to call.
    assert sheet["wearer"]["phone"] == WEARER_PHONE and sheet["police"]["phone"] == POLICE_PHONE
    # Distances rounded to 500 m, as everywhere but the holder's screen.
    assert sheet["target"]["distance_m"] == 1000 and sheet["target"]["rounded_to_m"] == 500
    who = username or f"{role}1"
    assert audit_rows(world, "protected_phone_withheld", f"person:{world.victim}") == [who]
    assert audit_rows(world, "read_protected_phone", f"person:{world.victim}") == []
    # Her phone is withheld from her person record as well.
    person = world.centre.client.get(f"/api/persons/{world.victim}", headers=headers).json()
    assert person["phone"] is None and person["location_withheld"] is True


def test_the_holder_loses_her_phone_once_the_alert_is_closed(world: World) -> None:
    alert = world.new_alarm("closed", kind="alert", bar=True)
    sheet = world.centre.client.get(
        f"/api/alarms/{alert}/contacts", headers=world.centre.headers("operator")
    ).json()
    assert sheet["protected"]["phone"] is None and sheet["protected"]["withheld"] == "not_holder"


def test_an_alarm_without_a_victim_has_no_protected_person_nor_target(world: World) -> None:
    absence = world.new_alarm("open")
    sheet = world.centre.client.get(
        f"/api/alarms/{absence}/contacts", headers=world.centre.headers("spip")
    ).json()
    assert sheet["protected"] is None and sheet["target"] is None and sheet["police"] is None
    assert sheet["wearer"]["name"] == "MARTIN Paul"


def test_contacts_accept_phones_and_a_case_its_police_station(world: World) -> None:
    client, headers = world.centre.client, world.centre.headers("supervisor")
    made = client.post(
        "/api/contacts",
        json={"role": "spip", "name": "SPIP 75", "email": "spip75@justice.test", "phone": "01 23"},
        headers=headers,
    )
    assert made.status_code == 201 and made.json()["phone"] == "01 23"
    too_long = client.post(
        "/api/contacts",
        json={"role": "spip", "name": "X", "email": "x@justice.test", "phone": "1" * 41},
        headers=headers,
    )
    assert too_long.status_code == 422 and too_long.json()["field"] == "phone"
    changed = client.patch(
        f"/api/placements/{world.placement}",
        json={"police_station": "Gendarmerie de Lyon", "police_phone": "04 00 00 00 17"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["police_station"] == "Gendarmerie de Lyon"
    assert changed.json()["police_phone"] == "04 00 00 00 17"


def test_the_queue_is_paged_and_counts_every_alarm(world: World) -> None:
    for _ in range(7):
        world.new_alarm("open")
    client, headers = world.centre.client, world.centre.headers("supervisor")
    whole = client.get("/api/alarms", headers=headers)
    total = int(whole.headers["X-Total-Count"])
    assert total == len(whole.json()) >= 7  # a plain list, as before: nothing to change for callers
    first = client.get("/api/alarms?limit=5", headers=headers)
    rest = client.get("/api/alarms?limit=5&offset=5", headers=headers)
    assert len(first.json()) == 5 and len(rest.json()) == total - 5
    assert first.headers["X-Total-Count"] == rest.headers["X-Total-Count"] == str(total)
    ids = [a["id"] for a in first.json() + rest.json()]
    assert ids == [a["id"] for a in whole.json()]  # same order, no row twice, none lost
    filtered = client.get("/api/alarms?limit=1&kind=alert", headers=headers)
    assert filtered.headers["X-Total-Count"] == "0"
    bad = client.get("/api/alarms?offset=-1", headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "offset"


def test_a_row_names_its_holder_wearer_and_measure(world: World) -> None:
    held = world.new_alarm("acknowledged")
    waiting = world.new_alarm("open")
    rows = {
        a["id"]: a
        for a in world.centre.client.get(
            "/api/alarms", headers=world.centre.headers("supervisor")
        ).json()
    }
    assert rows[held]["holder"]["username"] == "operator1"
    assert rows[waiting]["holder"] is None
    assert rows[held]["wearer"] == "MARTIN Paul" and rows[held]["measure"] == "ddse"
    one = world.centre.client.get(f"/api/alarms/{held}", headers=world.centre.headers("judge"))
    assert one.json()["holder"]["username"] == "operator1"


def test_an_alert_and_its_pre_alert_are_one_incident(world: World) -> None:
    t0 = clock.now()

    def raised(kind: str, t: timedelta) -> int:
        with world.centre.db.session() as session:
            event = {"t": t0 + t, "case": "C2", "kind": kind, "state": "raised", "device": "BW"}
            (alarm,) = episodes.fold(session, [event | {"detail": {"distance_m": 900}}], t0 + t)
            return alarm.id

    pre_alert = raised("pre_alert", timedelta(0))
    alert = raised("alert", timedelta(seconds=30))
    other = world.new_alarm("open", kind="pre_alert", bar=True)  # another bracelet: not grouped
    rows = {
        a["id"]: a
        for a in world.centre.client.get(
            "/api/alarms", headers=world.centre.headers("operator")
        ).json()
    }
    pair = {"alert_id": alert, "pre_alert_id": pre_alert}
    assert rows[alert]["incident"] == rows[pre_alert]["incident"] == pair
    assert rows[other]["incident"] is None


def test_the_report_is_in_paris_time_and_french_sentences(world: World) -> None:
    closed = world.new_alarm("closed")
    client = world.centre.client
    page = client.get(f"/api/alarms/{closed}/report.html", headers=world.centre.headers("judge"))
    assert page.status_code == 200
    text = markup.unescape(page.text)
    with world.centre.db.session() as session:
        alarm = session.get_one(Alarm, closed)
        closed_at, raised_at = alarm.closed_at, alarm.raised_at
        subjects = list(
            session.scalars(select(OutboxMessage.subject).where(OutboxMessage.report_id > 0))
        )
    assert closed_at is not None
    assert local_time(closed_at) in text and local_time(raised_at) in text
    assert closed_at.astimezone(PARIS).strftime("%H:%M:%S") in text
    assert not re.search(r"\d:\d\d\.\d", text), "no fraction of a second"
    assert "+00:00" not in text and "UTC" not in text and "heure de Paris" in text
    assert "La personne placée n'était pas à son domicile aux heures fixées." in text
    assert "operator1 prend l'alarme en compte." in text
    assert "L'alarme est close, qualifiée « manquement »." in text
    # One language: no detection key nor raw detail left in the report.
    body = text[text.index("<body>") :]
    for raw in ("absence raised", "{'", "distance_m", "breach", "call_wearer", "absence ("):
        assert raw not in body, raw
    # The case's articles: law only, cited in French (the contract's English is for programs).
    assert "articles appliqués" in body and "à compter du" in body
    for raw in ("CONTRACT", "provisional", " from 20"):
        assert raw not in body, raw
    assert any("absence du domicile aux heures fixées, manquement" in s for s in subjects)


def test_a_bar_event_is_told_with_its_distance_in_words() -> None:
    rounded = {"distance_m": 1000, "distance_rounded_to_m": 500, "target_kind": "device"}
    assert event_sentence("alert", "raised", rounded) == (
        "Alerte BAR : la personne placée se trouvait à environ 1\u202f000\u00a0m "
        "de la personne protégée."
    )
    place = {"distance_m": 850, "target_kind": "place"}
    assert event_sentence("pre_alert", "cleared", place) == (
        "Fin de la pré-alerte BAR : la personne placée se trouvait à 850\u00a0m d'un lieu protégé."
    )
    assert event_sentence("sos", "raised", {}) == (
        "Déclenchement : appel de détresse de la personne protégée."
    )


@pytest.mark.parametrize(
    ("kind", "detail", "told"),
    [
        (
            "zone_entry",
            {"zone": "tribunal", "zone_type": "exclusion", "reason": "zone_inactive"},
            "L'alarme « entrée dans une zone d'exclusion » (zone « tribunal ») a pris fin parce "
            "que la zone n'était plus en vigueur (ses horaires), non parce que la personne placée "
            "en est sortie.",
        ),
        (
            "zone_exit",
            {"zone": "domicile", "reason": "obligation_removed"},
            "L'alarme « sortie d'une zone d'inclusion » (zone « domicile ») a pris fin parce que "
            "l'obligation a été levée, non parce que la situation a cessé.",
        ),
        (
            "signal_lost",
            {"reason": "obligation_removed"},
            "L'alarme « perte du signal du dispositif » a pris fin parce que l'obligation a été "
            "levée, non parce que la situation a cessé.",
        ),
        (
            "pre_alert",
            {"target": "P1", "reason": "obligation_removed"},
            "L'alarme « pré-alerte BAR (rapprochement en deçà de la distance de pré-alerte) » a "
            "pris fin parce que l'obligation a été levée, non parce que la situation a cessé.",
        ),
    ],
)
def test_an_alarm_ended_with_its_rule_is_not_told_as_the_situation_ended(
    kind: str, detail: dict[str, str], told: str
) -> None:
    """The report a judge reads: a zone's hours over is not "he left the zone", a device taken
    off the case is not "it transmits again"."""
    assert event_sentence(kind, "cleared", detail) == told
    assert event_sentence(kind, "cleared", detail | {"reason": "fix"}) != told
