"""The console's own endpoints and pages, through the app in-process, on both databases."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest
from sqlalchemy import select

from tests.api.world import build, equip
from tests.cases import factories as make
from tests.conftest import Centre
from tests.documents import floats
from vigie import clock
from vigie.store.models import AuditEntry, Zone
from vigie.web import live
from vigie.web.config import console_settings
from vigie.web.i18n import LANGUAGES, MissingTranslation, catalogue, translator
from vigie.web.supervision import heard_through_home_unit, hourly_counts, percentiles

WEB = files("vigie.web")


def test_supervision_figures_are_for_the_centre_only(centre: Centre) -> None:
    world = build(centre)
    world.new_alarm("acknowledged")  # acknowledged 5 s after opening, held by operator1
    world.new_alarm("in_progress")
    world.new_alarm("open")
    battery = {"device": "B1", "t": clock.now().isoformat(), "type": "battery", "level": 0.1}
    posted = centre.client.post(
        "/api/observations", json={"observations": [battery]}, headers=centre.headers("integration")
    )
    assert posted.status_code == 200
    for role in ("judge", "spip", "prosecutor", "admin"):
        refused = centre.client.get("/api/console/supervision", headers=centre.headers(role))
        assert refused.status_code == 403
    figures = centre.client.get(
        "/api/console/supervision", headers=centre.headers("supervisor")
    ).json()
    assert figures["time_to_acknowledge_s"] == {"p50": 5.0, "p95": 5.0, "n": 2}
    assert figures["open_per_operator"] == [
        {"operator": "operator1", "count": 2},
        {"operator": None, "count": 1},
    ]
    devices = {d["id"]: d for d in figures["devices"]}
    assert devices["B1"]["low_battery"] and not devices["B1"]["silent"]
    assert devices["H1"]["silent"] and devices["H1"]["silent_s"] is None  # never heard from
    assert len(figures["alarms_per_hour"]) == 24


def test_a_home_detention_bracelet_heard_through_its_home_unit_is_not_silent(
    centre: Centre,
) -> None:
    """B1 (DDSE) never speaks itself: H1 reports for it. Only a home unit that is silent too
    leaves the bracelet silent."""
    build(centre)
    presence = {"device": "H1", "t": clock.now().isoformat(), "type": "presence", "present": True}
    posted = centre.client.post(
        "/api/observations",
        json={"observations": [presence]},
        headers=centre.headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    figures = centre.client.get(
        "/api/console/supervision", headers=centre.headers("operator")
    ).json()
    assert {d["id"] for d in figures["devices"] if d["silent"]} == set()


def test_a_bracelet_is_credited_with_its_own_home_unit_only() -> None:
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    assigned = [("B1", "wearer", "C1"), ("H1", "home_unit", "C1"), ("B2", "wearer", "C2")]
    assigned += [("B3", "wearer", "C3"), ("H3", "home_unit", "C3")]
    heard = heard_through_home_unit(
        assigned, {"H1": now, "B1": now - timedelta(hours=3), "H2": now}
    )
    assert heard["B1"] == now  # its home unit spoke for it
    assert "B2" not in heard  # no home unit: its own silence counts
    assert "B3" not in heard  # its home unit is silent too


def test_hourly_counts_fill_empty_hours_and_drop_older_ones() -> None:
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    raised = [now - timedelta(minutes=m) for m in (0, 10, 45, 200, 5000)]
    counts = hourly_counts(raised, now, 4)
    assert [c["hour"].hour for c in counts] == [7, 8, 9, 10]
    assert [c["count"] for c in counts] == [1, 0, 1, 2]


def test_percentiles_of_nothing_are_none() -> None:
    assert percentiles([]) == {"p50": None, "p95": None, "n": 0}
    assert percentiles([1.0, 2.0, 3.0, 4.0, 100.0])["p50"] == 3.0


def test_activity_tracks_the_wearer_never_the_protected_device(centre: Centre) -> None:
    world = equip(centre, "B2", "P2")
    now = clock.now()
    fixes = [
        {"device": d, "t": (now - timedelta(minutes=i)).isoformat(), "type": "position"}
        | {"lat": lat, "lon": 2.3, "accuracy_m": 5}
        for d, lat in (("B2", 48.8), ("P2", 48.9))
        for i in range(3)
    ]
    fixes += [
        {"device": d, "t": (now + timedelta(seconds=1)).isoformat(), "type": "battery"}
        | {"level": level}
        for d, level in (("B2", 0.5), ("P2", 0.25))
    ]
    centre.client.post(
        "/api/observations", json={"observations": fixes}, headers=centre.headers("integration")
    ).raise_for_status()
    judge = centre.headers("judge")
    activity = centre.client.get(
        f"/api/console/placements/{world.bar_placement}/activity", headers=judge
    ).json()
    assert [p["lat"] for p in activity["track"]] == [48.8, 48.8, 48.8]
    assert [d["id"] for d in activity["devices"]] == ["B2"]
    assert activity["devices"][0]["battery"] == 0.5
    assert [(o["device"], o["type"], o["value"]) for o in activity["observations"]] == [
        ("B2", "battery", 0.5)
    ]
    assert not {48.9, 0.25} & set(floats(activity)) and "P2" not in json.dumps(activity)
    stranger = centre.headers("judge", "judge9")
    hidden = centre.client.get(
        f"/api/console/placements/{world.bar_placement}/activity", headers=stranger
    )
    assert hidden.status_code == 404
    with centre.db.session() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "read_activity")
        ).all()
    assert actors == ["judge1"]


def test_alarm_context_names_the_obligation_and_never_the_protected_position(
    centre: Centre,
) -> None:
    world = build(centre)
    zone_alarm = world.new_alarm(kind="zone_entry")
    bar_alarm = world.new_alarm("acknowledged", kind="alert", bar=True)
    operator = centre.headers("operator")
    context = centre.client.get(
        f"/api/console/alarms/{zone_alarm}/context", headers=operator
    ).json()
    assert context["obligation"] == "ne pas paraître dans la zone d'exclusion fixée par le juge"
    assert context["article"] == "CP 131-4-1 / CPP 723-7"
    assert context["placement"]["case_ref"] == "C1" and not context["bar"]
    bar = centre.client.get(f"/api/console/alarms/{bar_alarm}/context", headers=operator).json()
    assert bar["bar"] and (bar["alert_m"], bar["pre_alert_m"]) == (2000, 4000)
    assert "protected" not in json.dumps(bar).replace('"bar"', "")
    other = centre.headers("judge", "judge9")
    assert (
        centre.client.get(f"/api/console/alarms/{zone_alarm}/context", headers=other).status_code
        == 404
    )


def test_zone_check_refuses_the_home_and_saves_nothing(centre: Centre) -> None:
    world = build(centre)
    lat, lon = make.HOME
    around_home = {"id": "Zh", "type": "exclusion", "geometry": make.square(lat, lon, 0.01)}
    url = f"/api/console/placements/{world.placement}/zones/check"
    refused = centre.client.post(url, json=around_home, headers=centre.headers("supervisor"))
    assert refused.status_code == 422
    assert refused.json()["field"] == "zones[Zh]"
    assert "home is inside" in refused.json()["message"]
    circle = {"type": "circle", "lat": lat + 0.1, "lon": lon, "radius_m": 500}
    elsewhere = {"id": "Zc", "type": "exclusion", "geometry": circle}
    accepted = centre.client.post(url, json=elsewhere, headers=centre.headers("supervisor"))
    assert accepted.json() == {"ok": True, "zone": "Zc"}
    assert (
        centre.client.post(url, json=elsewhere, headers=centre.headers("operator")).status_code
        == 403
    )
    with centre.db.session() as session:
        assert session.scalars(select(Zone).where(Zone.key.in_(("Zh", "Zc")))).all() == []


def test_the_stream_needs_a_token(centre: Centre) -> None:
    assert centre.client.get("/api/console/stream").status_code == 401
    assert (
        centre.client.get("/api/console/stream", headers=centre.headers("admin")).status_code == 403
    )


@pytest.mark.timeout(60)
def test_the_stream_ends_once_its_token_is_revoked(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "RECHECK_S", 0.2)
    headers = centre.headers("operator")
    with centre.client.stream("GET", "/api/console/stream", headers=headers) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: changed"
        assert centre.client.post("/api/auth/logout", headers=headers).status_code == 204
        rest = list(lines)  # ends: a revoked token no longer hears of changes
    assert "event: changed" not in rest


def test_law_fragment_answers_through_the_api_with_its_checks(centre: Centre) -> None:
    body = {
        "measure": "arse",
        "case": json.dumps(json.loads((WEB / "law_examples.json").read_text())["arse"]),
    }
    assert centre.client.post("/console/law/result", data=body).status_code == 401
    assert (
        centre.client.post(
            "/console/law/result", data=body, headers=centre.headers("admin")
        ).status_code
        == 403
    )
    answer = centre.client.post("/console/law/result", data=body, headers=centre.headers("judge"))
    assert answer.status_code == 200
    assert 'data-date="term_end" data-value="2026-09-10">10/09/2026<' in answer.text
    assert ">Éligible<" in answer.text  # the outcome in the page's language, not `eligible`
    broken = centre.client.post(
        "/console/law/result",
        data={"measure": "arse", "case": "{"},
        headers=centre.headers("judge"),
    )
    assert broken.status_code == 422 and "JSON" in broken.text
    deep = centre.client.post(
        "/console/law/result",
        data={"measure": "arse", "case": "[" * 100_000 + "]" * 100_000},
        headers=centre.headers("judge"),
    )
    assert deep.status_code == 422 and "nested too deeply" in deep.text  # a 500 before
    bar = json.loads((WEB / "law_examples.json").read_text())["bar"]
    bar["facts"]["alert_distance_km"] = 12
    refused = centre.client.post(
        "/console/law/result",
        data={"measure": "bar", "case": json.dumps(bar)},
        headers=centre.headers("judge"),
    )
    # The form marks the field the engine names.
    assert refused.status_code == 422 and 'data-field="facts.alert_distance_km"' in refused.text
    with centre.db.session() as session:
        assessed = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "law_assess")
        ).all()
    assert assessed == ["judge1"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/alarms/1",
        "/cases",
        "/cases/1",
        "/cases/1/zones",
        "/law",
        "/supervision",
        "/docs",
    ],
)
def test_pages_load_nothing_from_outside(centre: Centre, path: str) -> None:
    page = centre.client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)""", page.text):
        assert centre.client.get(asset).status_code == 200, asset


def test_the_console_files_are_checked_again_at_each_use(centre: Centre) -> None:
    """After an upgrade, no browser runs the release before's console.js under the new pages'
    scripts: each use asks again, and an unchanged file costs a 304 without its body."""
    first = centre.client.get("/static/console.js")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    again = centre.client.get(
        "/static/console.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_language_switch_is_remembered(centre: Centre) -> None:
    english = centre.client.get("/law?lang=en")
    assert '<html lang="en">' in english.text and "Legal calculator" in english.text
    assert "vigie_lang=en" in english.headers["set-cookie"]
    again = centre.client.get("/law")
    assert "Legal calculator" in again.text
    assert "Calculateur légal" in centre.client.get("/law?lang=fr").text


def test_catalogues_have_the_same_words_and_cover_every_template() -> None:
    fr, en = (set(catalogue(lang)) for lang in LANGUAGES)
    assert fr == en
    used: set[str] = set()
    for template in (WEB / "templates").iterdir():
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']\s*\)""", template.read_text()))
    assert used and used <= fr
    with pytest.raises(MissingTranslation, match="no 'en' text for 'nope'"):
        translator("en")("nope")


def test_tiles_come_from_the_configured_server_or_none(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiles = re.compile(r'<script id="vigie-tiles" type="application/json">(.*?)</script>')
    console_settings.cache_clear()
    monkeypatch.delenv("VIGIE_TILE_URL", raising=False)
    assert json.loads(tiles.search(centre.client.get("/").text)[1])["url"] == ""
    osm = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    monkeypatch.setenv("VIGIE_TILE_URL", osm)
    console_settings.cache_clear()
    try:
        assert json.loads(tiles.search(centre.client.get("/").text)[1])["url"] == osm
    finally:
        console_settings.cache_clear()
