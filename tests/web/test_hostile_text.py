"""Stored XSS: hostile strings planted in every free-text field never run on any page.

Each string is markup that runs script if it is ever put into a page as HTML; the console must
show it as text. The Content-Security-Policy is the second wall: the test also collects its
violation reports, so a page that needed inline script (or was broken by the policy) fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cases import factories as make
from tests.web.conftest import Site, log_in
from vigie.store.models import (
    Alarm,
    Contact,
    Device,
    DeviceAssignment,
    OutboxMessage,
    Person,
    Placement,
    Report,
)

IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = '"><script>window.__xss=1</script>'
HOSTILE = (IMG, SCRIPT)

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.lineNumber}`));
"""


@pytest.fixture(scope="module")
def planted(site: Site) -> dict[str, Any]:
    """Hostile text in every free-text field a user can reach (and a few only the database
    would hold, such as a case reference or device id the API's patterns refuse)."""
    world = site.world
    supervisor, operator = site.token_headers("supervisor"), site.token_headers("operator")
    for key, label, lat in (("Zimg", IMG, 45.0), ("Zscript", SCRIPT, 45.1)):
        zone = {
            "id": key,
            "type": "exclusion",
            "label": label,
            "geometry": make.square(lat, 5.0, 0.01),
        }
        answer = site.http.put(
            f"/api/placements/{world.placement}/zones/{key}", json=zone, headers=supervisor
        )
        assert answer.status_code < 300, answer.text
    noted = world.new_alarm("acknowledged")
    answer = site.http.post(
        f"/api/alarms/{noted}/actions", json={"action": "note", "note": IMG}, headers=operator
    )
    assert answer.status_code < 300, answer.text
    closed = world.new_alarm("in_progress")
    answer = site.http.post(
        f"/api/alarms/{closed}/close",
        json={"qualification": "breach", "note": SCRIPT},
        headers=operator,
    )
    assert answer.status_code < 300, answer.text
    odd_case = world.new_alarm("open")
    with site.db.session() as session:
        person = session.get_one(Person, world.person)
        person.last_name, person.first_name, person.address, person.phone = (
            IMG,
            SCRIPT,
            IMG,
            SCRIPT,
        )
        for contact in session.query(Contact):
            contact.name, contact.service = IMG, SCRIPT
        placement = session.get_one(Placement, world.placement)
        placement.court_order_ref = SCRIPT
        session.add(Device(id=IMG, kind="home_unit"))
        session.flush()
        session.add(DeviceAssignment(device_id=IMG, placement_id=world.placement, role="home_unit"))
        session.get_one(Alarm, noted).detail = {"why": SCRIPT}
        session.get_one(Alarm, odd_case).case_ref = SCRIPT
        # A report the outbox gave up on, its last error hostile: a row of its own, which the
        # running outbox (that retries the others) never touches.
        report = session.query(Report).first()
        assert report is not None
        session.add(
            OutboxMessage(
                report_id=report.id,
                recipient="spip@justice.test",
                recipient_role="spip",
                subject="report",
                attempts=99,
                last_error=IMG,
            )
        )
    return {"noted": noted, "closed": closed, "odd_case": odd_case}


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page whose CSP violations and console errors are collected."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    context.add_init_script(WATCH)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def console(message: Any) -> None:
        # An API refusal (a judge's 404, the calculator's 422) is an answer, not a fault.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    tab.on("console", console)
    yield tab, problems
    context.close()


def _hover_every_shape(page: Page) -> list[str]:
    """Hover each interactive shape of the map; return the tooltips' texts."""
    texts = []
    shapes = page.locator("#map path.leaflet-interactive, #map .leaflet-marker-icon")
    for index in range(shapes.count()):
        try:
            shapes.nth(index).hover(force=True, timeout=2000)
        except Exception:  # a shape under another one; the others are still hovered
            continue
        tips = page.locator(".leaflet-tooltip")
        texts += tips.all_inner_texts()
    return texts


def _clean(page: Page, problems: list[str], where: str) -> None:
    assert page.evaluate("window.__xss") is None, f"script ran on {where}"
    violations = page.evaluate("window.__csp")
    assert violations == [], f"CSP violations on {where}: {violations}"
    assert problems == [], f"errors on {where}: {problems}"


@pytest.mark.parametrize("role", ["supervisor", "operator", "judge"])
def test_hostile_text_never_runs_on_any_page(
    watched: tuple[Page, list[str]], site: Site, planted: dict[str, Any], role: str
) -> None:
    page, problems = watched
    log_in(page, site, f"{role}1")
    p = site.world.placement
    pages = [
        ("/", "#queue tbody tr"),
        ("/cases", "#cases tbody tr"),
        (f"/cases/{p}", "#c-person dd"),
        (f"/alarms/{planted['noted']}", "#actions li"),
        (f"/alarms/{planted['closed']}", "#report-card:not([hidden])"),
        # A judge is refused this one (its case is no case of theirs): the refusal is shown.
        (f"/alarms/{planted['odd_case']}", "#a-case, main p.error"),
        ("/law", "#law-form"),
        # The judge is refused the devices (the page says so); the others read the hostile id.
        ("/devices", "#devices tbody tr, #devices-error:not([hidden])"),
    ]
    if role == "supervisor":
        pages += [(f"/cases/{p}/zones", "#z-list li"), ("/supervision", "#sup-undelivered li")]
    if role == "operator":
        pages += [("/supervision", "#chart-hourly svg")]
    tooltips: list[str] = []
    for path, ready in pages:
        page.goto(f"{site.url}{path}")
        expect(page.locator(ready).first).to_be_attached()
        page.wait_for_timeout(400)  # the live stream keeps the network busy
        if page.locator("#map").count():
            tooltips += _hover_every_shape(page)
        _clean(page, problems, path)
    # The hostile strings were on screen, as text.
    assert all(any(h in text for text in tooltips) for h in HOSTILE), tooltips
    page.goto(f"{site.url}/cases/{p}")
    expect(page.locator("#c-person")).to_contain_text(IMG)
    expect(page.locator("#c-person")).to_contain_text(SCRIPT)
    expect(page.locator("#c-order")).to_contain_text(SCRIPT)
    page.wait_for_timeout(400)  # the live stream keeps the network busy
    _clean(page, problems, "the case page, read")


def test_hostile_text_in_the_legal_calculator_is_shown_as_text(
    watched: tuple[Page, list[str]], site: Site
) -> None:
    page, problems = watched
    log_in(page, site, "judge1")
    page.goto(f"{site.url}/law")
    page.click("#law-advanced summary")
    page.fill("#law-case", '{"facts": {"' + SCRIPT.replace('"', '\\"') + '": true}}')
    page.click("#law-form button[type=submit]")
    expect(page.locator("#law-result")).not_to_contain_text("Renseignez")
    page.wait_for_timeout(400)  # the live stream keeps the network busy
    _clean(page, problems, "the legal calculator")


def test_undelivered_reports_are_shown_to_supervisors_with_a_resend(
    watched: tuple[Page, list[str]], site: Site, planted: dict[str, Any]
) -> None:
    page, problems = watched
    log_in(page, site, "supervisor1")
    page.goto(f"{site.url}/supervision")
    item = page.locator("#sup-undelivered li.undelivered")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(IMG)  # its last error, as text
    page.click("#sup-undelivered button.resend")
    expect(page.locator("#flash")).to_have_text("Rapport remis en file d'envoi")
    expect(item).to_have_count(0)
    _clean(page, problems, "supervision")


def test_the_api_documentation_runs_under_the_policy(
    watched: tuple[Page, list[str]], site: Site
) -> None:
    page, problems = watched
    page.goto(f"{site.url}/docs")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    _clean(page, problems, "/docs")
