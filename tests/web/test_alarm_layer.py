"""The night shift's critical cases, in Chromium against the real centre: an alarm is never
missed (filters, another page, a reload that blocks audio, an expired token, a lost connection)
nor mis-handled (the keyboard's selection, a pre-alert closed as a breach).

The test cannot hear: the alarm layer says what it sounds on #alarm-bar (data-sound, data-rings,
data-missed, data-audio); see src/vigie/web/static/alarm_layer.js."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.web.conftest import PASSWORD, Site, log_in, logged_out, press
from vigie import clock
from vigie.api.security import issue_token
from vigie.settings import Settings
from vigie.store.models import Alarm, User


@pytest.fixture(autouse=True)
def quiet(site: Site) -> None:
    """Each test starts with no open alarm: what the bar shows is what the test raised."""
    acknowledge_all(site)


def acknowledge_all(site: Site) -> None:
    headers = site.token_headers("operator")
    for alarm in site.http.get("/api/alarms?to_take=true&limit=1000", headers=headers).json():
        site.http.post(f"/api/alarms/{alarm['id']}/acknowledge", headers=headers)


def counter(page: Page, name: str) -> int:
    return int(page.locator("#alarm-bar").get_attribute(f"data-{name}") or 0)


def rings(page: Page) -> int:
    return counter(page, "rings")


def wait_for_count(page: Page, name: str, above: int, timeout_s: float = 15) -> None:
    """Until #alarm-bar's data-<name> counter passes `above` (the page's CSP forbids the
    string evaluation that page.wait_for_function needs)."""
    deadline = time.monotonic() + timeout_s
    while counter(page, name) <= above:
        assert time.monotonic() < deadline, f"data-{name} stayed at {counter(page, name)}"
        page.wait_for_timeout(200)


def turn_sound_on(page: Page) -> None:
    page.click("#sound-on")
    expect(page.locator("#alarm-bar")).to_have_attribute("data-audio", "running")
    expect(page.locator("#audio-blocked")).to_be_hidden()


def expect_bar_alert(page: Page, alarm: int) -> None:
    bar = page.locator("#alarm-bar")
    expect(page.locator("#bar-banner")).to_be_visible()
    expect(page.locator("#bar-banner")).to_contain_text(f"n° {alarm}")
    expect(page.locator("#bar-banner")).to_contain_text("ALERTE BAR")
    expect(bar).to_have_attribute("data-top-id", str(alarm))
    expect(bar).to_have_attribute("data-sound", "bar")


def go_by_click(page: Page, path: str) -> None:
    """Reached by a click in the console, as an operator does (the browser keeps sound allowed)."""
    page.evaluate(
        f"document.querySelector('#main').append(Object.assign("
        f"document.createElement('a'), {{id: 'go', href: '{path}', textContent: 'go'}}))"
    )
    page.click("#go")
    page.wait_for_url(f"**{path}")


def hand_to_operator2(site: Site, alert: int, reason: str) -> None:
    """operator1, its holder, hands it to operator2 through the API."""
    site.http.post(
        f"/api/alarms/{alert}/hand-over",
        json={"to": "operator2", "reason": reason},
        headers=site.token_headers("operator"),
    ).raise_for_status()


def test_a_filtered_queue_still_shows_and_sounds_a_bar_alert(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    turn_sound_on(page)
    page.select_option("#filters select[name=kind]", "absence")
    absence = site.world.new_alarm(kind="absence")
    expect(page.locator(f"#queue tbody tr[data-id='{absence}']")).to_have_count(1)
    before = rings(page)
    alert = site.world.new_alarm(kind="alert", bar=True)
    expect_bar_alert(page, alert)
    wait_for_count(page, "rings", before)
    # The queue itself keeps its filter: the alert is in the bar, not in the filtered rows.
    assert {r.get_attribute("data-kind") for r in page.locator("#queue tbody tr").all()} == {
        "absence"
    }
    assert int(page.locator("#alarm-bar").get_attribute("data-open") or 0) >= 2
    # Repeated until acknowledged, then silent.
    wait_for_count(page, "rings", before + 1)
    site.http.post(
        f"/api/alarms/{alert}/acknowledge", headers=site.token_headers("operator")
    ).raise_for_status()
    expect(page.locator("#alarm-bar")).to_have_attribute("data-top-id", str(absence))
    expect(page.locator("#alarm-bar")).to_have_attribute("data-sound", "alarm")


def test_a_taken_bar_alert_that_comes_back_sounds_again_until_taken_again(
    page: Page, site: Site
) -> None:
    """Taken, it was silent; its condition ended and began again (he came back within the
    alert distance): every console sounds it again, its page asks to take it again before any
    close, and taking it again silences it."""
    log_in(page, site, "operator1")
    turn_sound_on(page)
    bar = page.locator("#alarm-bar")
    alert = site.world.new_alarm(kind="alert", bar=True, state="in_progress")
    expect(bar).to_have_attribute("data-open", "0")
    expect(bar).to_have_attribute("data-sound", "")
    site.world.end_alarm(alert, "fix", distance_m=2500)
    site.world.raise_again(alert, distance_m=400)
    expect_bar_alert(page, alert)
    expect(bar).to_have_attribute("data-back", "1")
    expect(page.locator("#bar-banner")).to_contain_text("de retour")
    before = rings(page)
    wait_for_count(page, "rings", before)
    row = page.locator(f"#queue tbody tr[data-id='{alert}']")
    expect(row.locator(".back")).to_have_text("revenue")
    expect(row.locator("button.ack")).to_have_text("Reprendre")

    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-back")).to_be_visible()
    expect(page.locator("#a-back")).to_contain_text("La situation est revenue")
    expect(page.locator("#close-form")).to_be_hidden()  # taken again first
    expect(page.locator("#note-form")).to_be_visible()
    expect(page.locator("#ack")).to_contain_text("Reprendre")
    page.click("#ack")
    expect(page.locator("#a-back")).to_be_hidden()
    expect(page.locator("#ack")).to_be_hidden()
    expect(page.locator("#close-form")).to_be_visible()
    expect(bar).to_have_attribute("data-open", "0")
    expect(bar).to_have_attribute("data-sound", "")
    expect(page.locator("#actions")).to_contain_text("Reprise de l'alarme revenue")


def test_the_bar_keeps_its_height_so_the_page_never_moves_under_the_pointer(
    page: Page, site: Site
) -> None:
    """With no alarm open, then with more BAR alerts than one line can name, the bar is as high:
    what is below it (the acknowledge button) stays where the operator aimed."""
    page.set_viewport_size({"width": 900, "height": 800})
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/law")  # a page whose own content stays as it is
    acknowledge_all(site)
    banner = page.locator("#bar-banner")
    expect(page.locator("#alarm-bar")).to_have_attribute("data-open", "0")
    expect(banner).to_be_hidden()
    quiet_box = page.locator("main").bounding_box()
    alerts = [site.world.new_alarm(kind="alert", bar=True) for _ in range(6)]
    expect(page.locator("#alarm-bar")).to_have_attribute("data-open", str(len(alerts)))
    expect(banner).to_be_visible()
    assert page.locator("main").bounding_box() == quiet_box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 900  # no side scroll
    title = banner.get_attribute("title") or ""
    assert all(f"n° {alarm}" in title for alarm in alerts), title  # the whole list, on hover


def test_one_bar_alert_is_named_whole_beside_the_blocked_sound_notice(
    page: Page, site: Site
) -> None:
    """The banner keeps its room: the notice beside it (sound blocked, shown until the first
    click of a page) gives way first, never the name of the alert."""
    log_in(page, site, "operator1")
    page.reload()  # no click on this page yet: the browser blocks the sound
    expect(page.locator("#audio-blocked")).to_be_visible()
    alert = site.world.new_alarm(kind="alert", bar=True)
    banner = page.locator("#bar-banner")
    expect(banner).to_contain_text(f"n° {alert}")
    assert banner.evaluate("(b) => b.scrollWidth <= b.clientWidth"), "the alert's name is cut"


@pytest.mark.parametrize("where", ["case", "zones", "law", "supervision"])
def test_an_alarm_raised_while_on_another_page_is_shown_and_sounds(
    page: Page, site: Site, where: str
) -> None:
    page.context.grant_permissions(["notifications"], origin=site.url)
    log_in(page, site, "operator1")
    turn_sound_on(page)
    path = {
        "case": f"/cases/{site.world.placement}",
        "zones": f"/cases/{site.world.placement}/zones",
        "law": "/law",
        "supervision": "/supervision",
    }[where]
    go_by_click(page, path)
    expect(page.locator("#alarm-bar")).to_have_attribute("data-open", "0")
    expect(page.locator("#alarm-bar")).to_have_attribute("data-audio", "running")
    alert = site.world.new_alarm(kind="alert", bar=True)
    expect_bar_alert(page, alert)
    wait_for_count(page, "rings", 0)
    expect(page.locator("#alarm-bar")).to_have_attribute("data-flashing", "true")
    wait_for_count(page, "notified", 0)  # and the browser's notification
    deadline = time.monotonic() + 5
    while not page.title().startswith("(!) "):
        assert time.monotonic() < deadline, "the tab's title does not flash"
        page.wait_for_timeout(200)
    # The banner leads to the alarm.
    page.click("#bar-banner")
    page.wait_for_url(f"**/alarms/{alert}")


def test_a_reload_with_audio_blocked_shows_the_red_notice(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    turn_sound_on(page)
    page.reload()  # Chromium's autoplay policy: a reloaded page may not play sound unasked
    expect(page.locator("#alarm-bar")).to_have_attribute("data-audio", "blocked")
    expect(page.locator("#audio-blocked")).to_be_visible()
    expect(page.locator("#audio-blocked")).to_contain_text("Son bloqué")
    expect(page.locator("#sound-on")).to_be_visible()
    alert = site.world.new_alarm(kind="alert", bar=True)
    expect_bar_alert(page, alert)  # shown, even though it cannot be heard yet...
    wait_for_count(page, "missed", 0)
    assert rings(page) == 0
    turn_sound_on(page)  # ...until the one click
    wait_for_count(page, "rings", 0)


def test_a_bar_alert_arriving_while_a_row_is_selected_keeps_the_selection(
    page: Page, site: Site
) -> None:
    first = site.world.new_alarm(kind="absence")
    second = site.world.new_alarm(kind="absence")
    log_in(page, site, "operator1")
    chosen = page.locator(f"#queue tbody tr[data-id='{second}']")
    chosen.click()
    expect(chosen).to_have_attribute("aria-selected", "true")
    alert = site.world.new_alarm(kind="alert", bar=True)
    expect(page.locator(f"#queue tbody tr[data-id='{alert}']")).to_have_count(1)
    ids = [r.get_attribute("data-id") for r in page.locator("#queue tbody tr").all()]
    assert ids.index(str(alert)) < ids.index(str(second))  # it arrived above the selection
    selected = page.locator("#queue tbody tr.selected")
    expect(selected).to_have_count(1)
    expect(selected).to_have_attribute("data-id", str(second))
    expect(selected).to_have_attribute("aria-selected", "true")
    page.keyboard.press("a")  # acknowledges exactly the selected alarm, not the new top row
    expect(chosen).to_have_attribute("data-status", "acknowledged")
    with site.db.session() as session:
        assert session.get(Alarm, alert).status == "open"
        assert session.get(Alarm, first).status == "open"
    page.keyboard.press("k")  # the keys move from the selected alarm
    expect(page.locator("#queue tbody tr.selected")).not_to_have_attribute("data-id", str(second))


def test_a_pre_alert_closed_as_a_breach_is_refused(page: Page, site: Site) -> None:
    pre_alert = site.world.new_alarm("in_progress", kind="pre_alert", bar=True)
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{pre_alert}")
    select = page.locator("#close-form select")
    expect(select.locator("option")).to_have_count(4)  # "choose" and the three allowed
    assert select.input_value() == ""  # no default
    values = [o.get_attribute("value") for o in select.locator("option").all()]
    assert values == ["", "technical_fault", "false_alarm", "authorised_absence"]
    press(page, "#close-form button[type=submit]")  # nothing chosen: nothing happens
    expect(page.locator("#close-confirm")).to_be_hidden()
    # A page that offered it anyway (an old tab, a hand-edited form): the centre refuses.
    page.evaluate(
        "const s = document.querySelector('#close-form select');"
        "s.append(new Option('Manquement', 'breach')); s.value = 'breach';"
    )
    press(page, "#close-form button[type=submit]")
    press(page, "#close-yes")
    expect(page.locator("#flash")).to_contain_text("pré-alerte BAR ne peut jamais être qualifiée")
    expect(page.locator("#a-status")).to_have_text("En traitement")
    refused = site.http.post(
        f"/api/alarms/{pre_alert}/close",
        json={"qualification": "breach"},
        headers=site.token_headers("operator"),
    )
    assert refused.status_code == 422 and refused.json()["field"] == "qualification"
    # The right way: a qualification the kind allows, confirmed, then on to the next alarm.
    waiting = site.world.new_alarm(kind="tamper")
    select.select_option("false_alarm")
    press(page, "#close-form button[type=submit]")
    expect(page.locator("#close-confirm")).to_contain_text("« Fausse alarme »")
    press(page, "#close-yes")
    # The report is made and queued on closing: slow on a busy machine.
    expect(page.locator("#a-status")).to_have_text("Close")
    press(page, "#next-alarm")
    page.wait_for_url(f"**/alarms/{waiting}")


@pytest.fixture
def late_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[timedelta]]:
    """The served centre's clock (it runs in this process), moved by the test: `late[0] = ...`."""
    late = [timedelta(0)]
    real = clock.now

    def now() -> datetime:
        return real() + late[0]

    monkeypatch.setattr(clock, "now", now)
    yield late


def test_an_expired_token_loses_neither_the_alarm_nor_the_typed_note(
    page: Page, site: Site, late_clock: list[timedelta]
) -> None:
    worked = site.world.new_alarm("acknowledged", kind="absence")
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/alarms/{worked}")
    expect(page.locator("#note-form")).to_be_visible()
    page.fill("#note-form textarea", "appel au porteur : messagerie, je rappelle")
    late_clock[0] = timedelta(hours=9)  # past the 8 h token (a PC left asleep all night)
    alert = site.world.new_alarm(kind="alert", bar=True)
    dialog = page.locator("#relogin")
    expect(dialog).to_be_visible(timeout=20_000)
    expect(dialog).to_contain_text("Session expirée")
    assert page.url == f"{site.url}/alarms/{worked}"  # no trip to /login
    expect(page.locator("#alarm-bar")).to_be_visible()
    expect(page.locator("#note-form textarea")).to_have_value(
        "appel au porteur : messagerie, je rappelle"
    )
    expect(dialog.locator("input[name=username]")).to_have_value("operator1")
    dialog.locator("input[name=password]").fill(PASSWORD)
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect_bar_alert(page, alert)  # the alarm that came during the expiry is there
    expect(page.locator("#note-form textarea")).to_have_value(
        "appel au porteur : messagerie, je rappelle"
    )
    press(page, "#note-form button")
    expect(page.locator("#actions")).to_contain_text("je rappelle")


def test_the_token_is_renewed_quietly_and_shared_by_a_second_tab(page: Page, site: Site) -> None:
    # An operator who holds nothing: his logout below asks no question (`holder_gone`).
    site.world.centre.headers("operator", "operator6")
    log_in(page, site, "operator6")
    # A token about to expire (20 s), as if the shift had run 8 h: the page renews it unasked
    # when a quarter of its life is left.
    with site.db.session() as session:
        user = session.scalars(select(User).where(User.username == "operator6")).one()
        short = issue_token(user, Settings().model_copy(update={"jwt_ttl_s": 20}))
    page.evaluate(f"localStorage.setItem('vigie.token', '{short}')")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-renewals", "1", timeout=25_000)
    renewed = page.evaluate("localStorage.getItem('vigie.token')")
    assert renewed != short
    page.wait_for_timeout(6000)  # past the short token's end
    alert = site.world.new_alarm(kind="alert", bar=True)
    expect_bar_alert(page, alert)
    expect(page.locator("#relogin")).to_be_hidden()
    # A second tab (Ctrl+click, a second screen) is already logged in.
    second = page.context.new_page()
    second.goto(f"{site.url}/cases")
    expect(second.locator("#who")).to_contain_text("operator6")
    expect(second.locator("#cases tbody tr")).not_to_have_count(0)
    # Logging out in one tab ends the other.
    second.click("#logout")
    logged_out(page, site)


def test_a_lost_connection_is_told_in_french_and_cleared(page: Page, site: Site) -> None:
    log_in(page, site, "operator1")
    expect(page.locator("#live")).to_have_class("live up")
    page.context.set_offline(True)
    banner = page.locator("#conn-lost")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("Connexion perdue depuis 00:")
    page.select_option("#filters select[name=kind]", "absence")  # a call, while offline
    expect(page.locator("#flash")).to_have_text("Le centre ne répond pas (connexion perdue)")
    expect(page.locator("body")).not_to_contain_text("Failed to fetch")
    page.context.set_offline(False)
    expect(banner).to_be_hidden(timeout=15_000)


def test_an_sos_is_above_a_bar_alert_with_a_sound_of_its_own(page: Page, site: Site) -> None:
    """The agreed names (SHARED-SOS.md): kind `sos`, priority 0. Made here by hand, so that the
    layer's SOS path is proved whatever the state of the SOS detection."""
    alert = site.world.new_alarm(kind="alert", bar=True)
    sos = site.world.new_alarm(kind="tamper", bar=True)
    with site.db.session() as session:
        made = session.get(Alarm, sos)
        made.kind, made.priority = "sos", 0
    log_in(page, site, "operator1")
    turn_sound_on(page)
    bar = page.locator("#alarm-bar")
    expect(bar).to_have_attribute("data-top-id", str(sos))
    expect(bar).to_have_attribute("data-top-priority", "0")
    expect(bar).to_have_attribute("data-sound", "sos")
    expect(page.locator("#bar-banner")).to_contain_text(f"SOS — personne protégée : n° {sos}")
    wait_for_count(page, "rings", 0)
    site.http.post(
        f"/api/alarms/{sos}/acknowledge", headers=site.token_headers("operator")
    ).raise_for_status()
    expect(bar).to_have_attribute("data-top-id", str(alert))  # then the BAR alert's siren
    expect(bar).to_have_attribute("data-sound", "bar")


def test_a_bar_alert_handed_to_an_operator_on_another_page_sounds_until_he_takes_it_over(
    page: Page, site: Site
) -> None:
    """Taken, an alarm sounds nowhere: handed to operator2 while he works a case's page, a BAR
    alert (hers to locate from then, his alone) must reach him there. His bar names it, sounds
    the BAR siren, and goes quiet once he says, on its page, that he takes it over."""
    site.world.centre.headers("operator", "operator2")
    alert = site.world.new_alarm(kind="alert", bar=True, state="in_progress")  # operator1's
    log_in(page, site, "operator2")
    turn_sound_on(page)
    path = f"/cases/{site.world.placement}"
    go_by_click(page, path)
    bar = page.locator("#alarm-bar")
    # Taken by operator1: nothing of it here (the site's pipeline may sound another alarm).
    expect(bar).to_have_attribute("data-handed", "0")
    expect(bar).not_to_have_attribute("data-sound", "bar")

    hand_to_operator2(site, alert, "fin de service")
    expect_bar_alert(page, alert)
    expect(bar).to_have_attribute("data-handed", "1")
    expect(page.locator("#bar-banner")).to_contain_text("confiée à vous")
    before = rings(page)
    wait_for_count(page, "rings", before)

    page.click("#bar-banner")
    page.wait_for_url(f"**/alarms/{alert}")
    expect(page.locator("#a-handed")).to_be_visible()
    expect(page.locator("#a-handed")).to_contain_text("operator1 vous a confié cette alarme")
    expect(page.locator("#a-handed")).to_contain_text("« fin de service »")
    expect(page.locator("#ack")).to_contain_text("Je prends la suite")
    page.click("#ack")
    expect(page.locator("#a-handed")).to_be_hidden()
    expect(page.locator("#ack")).to_be_hidden()
    expect(bar).to_have_attribute("data-handed", "0")
    expect(bar).not_to_have_attribute("data-top-id", str(alert))
    expect(bar).not_to_have_attribute("data-sound", "bar")
    expect(page.locator("#actions")).to_contain_text("A pris la suite de l'alarme confiée")
    # Still his to work: the close form is there, no "take" button left.
    expect(page.locator("#close-form")).to_be_visible()


def test_an_alarm_come_back_and_handed_to_him_is_taken_again_by_his_take_over(
    page: Page, site: Site
) -> None:
    """Its situation came back while operator1 held it, who hands it to operator2: it is to
    take again (every console) and handed to him (his): one alarm in his bar; his take-over is
    its take again."""
    site.world.centre.headers("operator", "operator2")
    alert = site.world.new_alarm(kind="alert", bar=True, state="in_progress")
    site.world.end_alarm(alert, "fix", distance_m=2500)
    site.world.raise_again(alert, distance_m=400)
    log_in(page, site, "operator2")
    bar = page.locator("#alarm-bar")
    expect(bar).to_have_attribute("data-back", "1")
    hand_to_operator2(site, alert, "relève")
    expect(bar).to_have_attribute("data-handed", "1")
    expect(bar).to_have_attribute("data-back", "1")  # the same alarm, once
    expect(page.locator("#bar-banner")).to_contain_text("confiée à vous")
    # Taken over from the queue's row, this time.
    row = page.locator(f"#queue tbody tr[data-id='{alert}']")
    expect(row.locator("button.ack")).to_have_text("Je prends la suite")
    row.locator("button.ack").click()
    expect(row.locator("button.ack")).to_have_count(0)
    expect(bar).to_have_attribute("data-handed", "0")
    expect(bar).to_have_attribute("data-back", "0")
    expect(bar).not_to_have_attribute("data-top-id", str(alert))
    page.goto(f"{site.url}/alarms/{alert}")
    expect(page.locator("#a-back")).to_be_hidden()
    expect(page.locator("#a-handed")).to_be_hidden()
    expect(page.locator("#close-form")).to_be_visible()
