"""Address search through the centre: a geocoder on this machine (a small HTTP server that
answers as Nominatim or as addok do) stands for the production one of VIGIE_GEOCODER_URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import Centre
from tests.web.conftest import Site, log_in
from vigie.store.models import AuditEntry
from vigie.web.config import console_settings
from vigie.web.geocode import places

NOMINATIM = [{"display_name": "10 Rue de Rivoli, 75004 Paris", "lat": "48.8556", "lon": "2.3590"}]
ADDOK = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.359, 48.8556]},
            "properties": {"label": "10 Rue de Rivoli 75004 Paris"},
        }
    ],
}


class Geocoder(BaseHTTPRequestHandler):
    asked: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        Geocoder.asked.append(parse_qs(url.query))
        body: Any = {"/nominatim/search": NOMINATIM, "/addok/search/": ADDOK}.get(url.path)
        self.send_response(200 if body is not None else 500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def geocoder(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Geocoder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        # The test's VIGIE_GEOCODER_URL undone first, then forgotten: cleared before the undo,
        # the settings would be read again with this dead server's URL by the next test.
        monkeypatch.undo()
        console_settings.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("VIGIE_GEOCODER_URL", url)
    console_settings.cache_clear()


@pytest.mark.parametrize("path", ["/nominatim/search", "/addok/search/"])
def test_an_address_is_found_through_the_centre(
    centre: Centre, geocoder: str, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    _use(monkeypatch, geocoder + path)
    answer = centre.client.get(
        "/api/console/geocode", params={"q": "10 rue de Rivoli"}, headers=centre.headers("operator")
    )
    assert answer.status_code == 200, answer.text
    (place,) = answer.json()
    assert place["lat"] == pytest.approx(48.8556) and place["lon"] == pytest.approx(2.359)
    assert "Rivoli" in place["label"]
    assert Geocoder.asked[-1]["q"] == ["10 rue de Rivoli"]
    with centre.db.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "geocode")).first()
    # The page tells its maps that a search box is to be shown.
    assert '"geocoder": true' in centre.client.get("/").text


def test_without_a_geocoder_the_search_says_so(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIGIE_GEOCODER_URL", raising=False)
    console_settings.cache_clear()
    answer = centre.client.get(
        "/api/console/geocode", params={"q": "rue de Rivoli"}, headers=centre.headers("operator")
    )
    assert answer.status_code == 503 and "VIGIE_GEOCODER_URL" in answer.json()["message"]
    assert '"geocoder": false' in centre.client.get("/").text


def test_a_failing_geocoder_and_bad_queries_are_named(
    centre: Centre, geocoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, geocoder + "/broken")
    operator = centre.headers("operator")
    failed = centre.client.get("/api/console/geocode", params={"q": "rue"}, headers=operator)
    assert failed.status_code == 502 and failed.json()["error"] == "geocoder_failed"
    short = centre.client.get("/api/console/geocode", params={"q": "ru"}, headers=operator)
    assert short.status_code == 422 and "q" in short.text
    admin = centre.client.get(
        "/api/console/geocode", params={"q": "rue"}, headers=centre.headers("admin")
    )
    assert admin.status_code == 403


def test_anything_else_is_not_read_as_places() -> None:
    with pytest.raises(ValueError):
        places({"results": []})


def test_the_map_searches_an_address_and_shows_it(
    page: Page, site: Site, geocoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, geocoder + "/addok/search/")
    log_in(page, site, "operator1")
    page.goto(f"{site.url}/cases/{site.world.placement}")
    search = page.locator("#map form.geo-search")
    search.locator("input[name=address]").fill("10 rue de Rivoli")
    # Enter, not a click on "Chercher": the page is still laying out as it finishes loading (the
    # case tools' panels appear), and a click aimed at the button can land beside it (seen: no
    # search asked at all, the address still typed).
    search.locator("input[name=address]").press("Enter")
    found = search.locator(".geo-results button")
    # The centre asks the geocoder (its own timeout: 5 s) while the suite loads the host: wait
    # for the answer beyond expect's default 5 s, as an operator would.
    expect(found).to_have_text("10 Rue de Rivoli 75004 Paris", timeout=15_000)
    found.click()
    expect(
        page.locator("#map .leaflet-marker-icon[title='10 Rue de Rivoli 75004 Paris']")
    ).to_be_visible()
