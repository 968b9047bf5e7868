"""Ground truth agrees with the true trajectories and states it was computed from."""

import json

import numpy as np
import pytest
import shapely
import shapely.geometry

from tests.sim.factories import context
from vigie.sim import bar, ddse, psem
from vigie.sim.case import TZ
from vigie.sim.geography import distance_m, lonlat
from vigie.sim.gps import silence_truth
from vigie.sim.intervals import covered
from vigie.sim.records import parse_iso
from vigie.sim.schedule import window_intervals
from vigie.sim.track import follow_plan

# The generators keep their true tracks private; tests rebuild them by spying on follow_plan.


@pytest.fixture
def tracks(monkeypatch: pytest.MonkeyPatch) -> list:
    made: list = []

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        track = follow_plan(*args, **kwargs)
        made.append(track)
        return track

    monkeypatch.setattr(bar, "follow_plan", spy)
    monkeypatch.setattr(psem, "follow_plan", spy)
    return made


def _cases_with(generate, kind: str, tracks: list, limit: int = 40):  # type: ignore[no-untyped-def]
    for i in range(limit):
        tracks.clear()
        out = generate(context(i))
        if any(e.kind == kind for e in out.truth):
            return out, list(tracks)
    raise AssertionError(f"no {kind} episode in {limit} cases")


def test_alert_truth_is_within_the_alert_distance(tracks: list) -> None:
    out, (p_track, w_track) = _cases_with(bar.generate, "alert", tracks)
    alert = out.placement["alert_distance_km"] * 1_000
    places = out.placement["protected_places"]
    p_lon = np.array([p["lon"] for p in places])
    p_lat = np.array([p["lat"] for p in places])
    for e in (e for e in out.truth if e.kind in ("alert", "pre_alert")):
        limit = alert if e.kind == "alert" else 2 * alert
        inside = np.arange(e.start, e.end, 7)
        before = np.array([e.start - 10])
        nearest_in = bar._nearest_m(w_track, p_track, p_lon, p_lat, inside)
        nearest_before = bar._nearest_m(w_track, p_track, p_lon, p_lat, before)
        assert nearest_in.max() <= limit
        assert nearest_before[0] > limit


def test_zone_truth_is_inside_the_zone_while_it_applies(tracks: list) -> None:
    out, (track,) = _cases_with(psem.generate, "zone_entry", tracks)
    zones = {z["id"]: z for z in out.placement["zones"]}
    for e in (e for e in out.truth if e.kind == "zone_entry"):
        zone = zones[e.detail["zone"]]
        t = np.arange(e.start, e.end, 7)
        windows = window_intervals(zone["schedule"], TZ, e.start - 1, e.end + 1)
        assert covered(windows, t).all()
        lon, lat = lonlat(*track.position(t))
        if zone["geometry"]["type"] == "circle":
            g = zone["geometry"]
            assert (distance_m(lon, lat, g["lon"], g["lat"]) <= g["radius_m"]).all()
        else:
            polygon = shapely.geometry.shape(zone["geometry"])
            assert shapely.contains_xy(polygon, lon, lat).all()


def test_absence_truth_lies_in_the_hours_at_home_and_the_home_unit_notices() -> None:
    for i in range(40):
        out = ddse.generate(context(i))
        absences = [e for e in out.truth if e.kind == "absence"]
        if absences:
            break
    else:
        raise AssertionError("no absence in 40 cases")
    ctx = context(i)
    windows = window_intervals(out.placement["schedule"], TZ, ctx.start_s, ctx.end_s)
    reports = sorted(
        (json.loads(line) for line in out.outbox.lines if '"presence"' in line),
        key=lambda r: r["t"],
    )
    for e in absences:
        assert covered(windows, np.arange(e.start, e.end, 30)).all()
        # the home unit says "absent" within two minutes of the true start (or of the departure)
        said = [r for r in reports if e.start - 7_200 <= parse_iso(r["t"]) <= e.start + 120]
        assert said and said[-1]["present"] is False


def test_signal_lost_truth_matches_silence_in_arrivals() -> None:
    for i in range(40):
        out = psem.generate(context(i))
        lost = [e for e in out.truth if e.kind == "signal_lost"]
        if lost:
            break
    else:
        raise AssertionError("no loss of signal in 40 cases")
    arrivals, events = out.outbox.heard(out.placement["wearer"])
    for e in lost:
        # nothing arrives during the episode, and the device was last heard (a line's
        # arrival, or its t when ahead of it) exactly the timeout before its start
        assert not ((arrivals > e.start) & (arrivals < e.end)).any()
        before = arrivals <= e.start
        last = max(arrivals[before].max(initial=0), events[before].max(initial=0))
        assert max(last, context(i).start_s) == e.start - 600
        assert (arrivals == e.end).any() or e.end == context(i).end_s


def test_silence_counts_from_the_latest_line_heard_stale_ones_included() -> None:
    # a fix at 100 (arrives 103), nothing until a burst at 705 holding t=650 then t=400
    heard = (np.array([103, 705, 705]), np.array([100, 650, 400]))
    assert silence_truth(heard, 0, 2_000, 600) == [(703, 705), (1_305, 2_000)]
    assert silence_truth((np.array([103]), np.array([100])), 0, 650, 600) == []
    # a stale line ends the silence too: the device is uploading, so the centre reaches it
    stale = (np.array([103, 800, 900]), np.array([100, 90, 880]))
    assert silence_truth(stale, 0, 1_000, 600) == [(703, 800)]
    # a device clock ahead of arrival moves the count to its t
    ahead = (np.array([100, 800]), np.array([130, 790]))
    assert silence_truth(ahead, 0, 800, 600) == [(730, 800)]
