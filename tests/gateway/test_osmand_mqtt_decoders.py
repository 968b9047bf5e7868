"""The OsmAnd and MQTT decoders: the forms Traccar Client and devices send, refusals, fuzzing."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vigie.gateway import mqtt, osmand
from vigie.gateway.readings import Rejected, check, sequence
from vigie.observation import TimeBounds

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
BOUNDS = TimeBounds(max_skew_s=300)


def test_traccar_client_query_string() -> None:
    # As Traccar Client sends it (seconds since the epoch, accuracy in metres, battery in %).
    device, readings = osmand.decode_form(
        "id=814236&timestamp=1795464000&lat=48.8566&lon=2.3522&speed=0.0&bearing=0.0"
        "&altitude=35.0&accuracy=12.0&batt=76.0"
    )
    position, battery = readings
    assert device == "814236"
    assert position["t"] == "2026-11-23T20:00:00.000Z"
    assert (position["lat"], position["lon"], position["accuracy_m"]) == (48.8566, 2.3522, 12.0)
    assert battery["level"] == 0.76
    assert position["seq"] == sequence(NOW, "position") and battery["seq"] == position["seq"] + 1


def test_query_variants_milliseconds_iso_location_hdop() -> None:
    _, (fix,) = osmand.decode_form("deviceid=P1&timestamp=1795464000000&location=48.1,2.2&hdop=2")
    assert fix["t"] == "2026-11-23T20:00:00.000Z" and fix["accuracy_m"] == 10.0
    _, (fix,) = osmand.decode_form("id=P1&timestamp=2026-11-23T21:00:00%2B01:00&lat=1&lon=2")
    assert fix["t"] == "2026-11-23T20:00:00.000Z" and fix["accuracy_m"] == osmand.NO_ACCURACY_M


def test_no_timestamp_takes_the_receipt_time_flagged() -> None:
    _, (fix, battery) = osmand.decode_form("id=P1&lat=48.1&lon=2.2&batt=50", received=NOW)
    assert fix["t"] == battery["t"] == "2026-11-23T20:00:00.000Z"
    assert fix["time_source"] == battery["time_source"] == "receipt"
    _, (timed,) = osmand.decode_form("id=P1&timestamp=1795464000&lat=1&lon=2", received=NOW)
    assert "time_source" not in timed


@pytest.mark.parametrize(
    ("zone", "stamp", "utc"),
    [
        ("Europe/Paris", "2026-11-23 21:00:00", "2026-11-23T20:00:00.000Z"),  # winter: UTC+1
        ("Europe/Paris", "2026-07-01 12:30:15", "2026-07-01T10:30:15.000Z"),  # summer: UTC+2
        ("America/Cayenne", "2026-11-23 17:00:00", "2026-11-23T20:00:00.000Z"),
    ],
)
def test_zoneless_wall_clock_time_is_read_in_the_configured_zone(
    zone: str, stamp: str, utc: str
) -> None:
    query = f"id=P1&timestamp={stamp}&lat=1&lon=2"
    _, (fix,) = osmand.decode_form(query, received=NOW, zone=ZoneInfo(zone))
    assert fix["t"] == utc and "time_source" not in fix


def test_traccar_client_json_body() -> None:
    body = {
        "device_id": "P7",
        "location": {
            "timestamp": "2026-11-23T20:00:00.000Z",
            "coords": {"latitude": 48.85, "longitude": 2.35, "accuracy": 8, "speed": 0},
            "battery": {"level": 0.42, "is_charging": False},
            "is_moving": False,
        },
    }
    device, (fix, battery) = osmand.decode_json(json.dumps(body).encode())
    assert device == "P7" and fix["accuracy_m"] == 8.0 and battery["level"] == 0.42
    body["location"]["battery"]["level"] = -1  # unknown to the phone: not a reading
    assert len(osmand.decode_json(json.dumps(body).encode())[1]) == 1


def test_traccar_client_sos_query_is_a_position_then_an_sos() -> None:
    """Traccar Client's SOS button: its usual query with `alarm=sos` (Traccar's OsmAnd decoder
    stores it as the `alarm` attribute, value "sos", i.e. Position.ALARM_SOS)."""
    _, readings = osmand.decode_form(
        "id=P1&timestamp=1795464000&lat=48.8566&lon=2.3522&accuracy=9&batt=60&alarm=sos"
    )
    assert [r["type"] for r in readings] == ["position", "battery", "sos"]
    sos = readings[2]
    assert sos["t"] == "2026-11-23T20:00:00.000Z" and sos["seq"] == sequence(NOW, "sos")
    assert set(sos) == {"kind", "device", "t", "seq", "type"}
    assert check(sos, NOW, BOUNDS) == NOW
    _, (alone,) = osmand.decode_form("id=P1&alarm=sos", received=NOW)
    assert alone["type"] == "sos" and alone["time_source"] == "receipt"
    _, other = osmand.decode_form("id=P1&timestamp=1795464000&lat=1&lon=2&alarm=lowBattery")
    assert [r["type"] for r in other] == ["position"]  # not ours to read


def test_traccar_client_sos_json() -> None:
    body = {
        "device_id": "P7",
        "location": {
            "timestamp": "2026-11-23T20:00:00.000Z",
            "coords": {"latitude": 48.85, "longitude": 2.35, "accuracy": 8},
            "alarm": "sos",
        },
    }
    _, readings = osmand.decode_json(json.dumps(body).encode())
    assert [r["type"] for r in readings] == ["position", "sos"]


def test_mqtt_sos_of_a_home_unit() -> None:
    device, (fix, sos) = mqtt.decode_message(
        "vigie/devices/H1/obs",
        b'[{"t": "2026-11-23T20:00:00Z", "type": "position", "lat": 48.1, "lon": 2.2,'
        b' "accuracy_m": 20}, {"t": "2026-11-23T20:00:00Z", "type": "sos"}]',
    )
    assert (device, sos["type"], sos["t"]) == ("H1", "sos", "2026-11-23T20:00:00.000Z")
    assert sos["seq"] == sequence(NOW, "sos") != fix["seq"]
    assert check(sos, NOW, BOUNDS) == NOW


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("lat=1&lon=2&timestamp=1", "no device id"),
        ("id=P1&lat=1&lon=2", "no 'timestamp'"),  # a pure decode, given no receipt time
        ("id=P1&timestamp=2026-13-01 10:00:00&lat=1&lon=2", "not yyyy-MM-dd HH:mm:ss"),
        ("id=P1&timestamp=1795464000", "neither"),
        ("id=P1&timestamp=1795464000&lat=north&lon=2", "lat 'north' is not a number"),
        ("id=P1&timestamp=1795464000&lat=nan&lon=2", "not finite"),
        ("id=P1&timestamp=99999999999999999999&lat=1&lon=2", "out of range"),
        ("id=P1&timestamp=yesterday&lat=1&lon=2", "not ISO-8601"),
        ("id=P1&timestamp=2026-11-23T20:00:00&lat=1&lon=2", "no time zone"),
    ],
)
def test_malformed_queries_are_refused(query: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        osmand.decode_form(query)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "not an object"),
        (b'{"location": {}}', "device_id"),
        (b'{"device_id": "P1"}', "'location'"),
        (b'{"device_id": "P1", "location": {"timestamp": 5}}', "timestamp"),
        (
            b'{"device_id": "P1", "location": {"timestamp": "2026-11-23T20:00:00Z",'
            b' "coords": {"latitude": "48", "longitude": 2}}}',
            "'lat' must be a number",
        ),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_malformed_json_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        osmand.decode_json(body)


def fix(**fields: object) -> dict[str, object]:
    record = {"kind": "obs", "device": "P1", "t": "2026-11-23T20:00:00Z", "type": "position"}
    return record | {"lat": 48.0, "lon": 2.0, "accuracy_m": 10.0} | fields


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (fix(lat=91.0), "^lat: "),
        (fix(lon=-180.5), "^lon: "),
        (fix(lat=0.0, lon=0.0), "without a fix"),
        (fix(accuracy_m=-1.0), "^accuracy_m: "),
        (fix(lat=float("inf")), "^lat: .*finite"),
        (fix(t="2026-11-23T20:10:00Z"), "^t: .*600 s ahead of its receipt"),
        (fix(t="1999-12-31T23:59:59Z"), "^t: .*days before its receipt"),
        ({**fix(), "type": "battery", "level": 1.5}, "^level: "),
        ({**fix(), "type": "power", "mains": "yes"}, "^mains: .*boolean"),
        ({**fix(), "type": "power", "mains": 1}, "^mains: .*boolean"),
        ({**fix(), "type": "tamper", "what": "opened"}, "^what: .*'strap_open'"),
        ({**fix(), "type": "weather"}, "'weather'"),
    ],
)
def test_implausible_readings_are_refused(record: dict[str, object], reason: str) -> None:
    with pytest.raises(Rejected, match=reason) as refused:
        check(record, NOW, BOUNDS)
    assert refused.value.clock == reason.startswith("^t: ")


def test_plausible_reading_passes_with_its_time() -> None:
    assert check(fix(t="2026-11-23T20:04:00Z"), NOW, BOUNDS) == datetime(
        2026, 11, 23, 20, 4, tzinfo=UTC
    )


def test_mqtt_message_one_or_many_readings() -> None:
    device, (presence,) = mqtt.decode_message(
        "vigie/devices/H1/obs",
        b'{"t": "2026-11-23T20:00:00Z", "type": "presence", "present": false}',
    )
    assert device == "H1" and presence["present"] is False and presence["device"] == "H1"
    payload = json.dumps(
        [
            {"t": "2026-11-23T20:00:00Z", "type": "power", "mains": False, "seq": 17},
            {"t": "2026-11-23T20:00:00Z", "type": "tamper", "what": "case_open"},
            {"t": "2026-11-23T20:00:00Z", "type": "tamper", "what": "strap_open"},
        ]
    ).encode()
    _, (power, case, strap) = mqtt.decode_message("vigie/devices/H1/obs", payload)
    assert power["seq"] == 17  # the device's own sequence number is kept
    assert len({case["seq"], strap["seq"]}) == 2  # one instant, two readings: both stored


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("vigie/H1/obs", b"{}", "is not vigie/devices"),
        ("vigie/devices//obs", b"{}", "is not vigie/devices"),
        ("vigie/devices/H1/obs", b"nope", "not JSON"),
        ("vigie/devices/H1/obs", b"[]", "0 readings"),
        ("vigie/devices/H1/obs", b"[1]", "JSON object"),
        ("vigie/devices/H1/obs", b'{"type": "presence", "t": "x", "present": 1}', "ISO"),
        ("vigie/devices/H1/obs", b'{"type": "presence", "t": "2026-11-23T20:00:00Z"}', "needs"),
        ("vigie/devices/H1/obs", b'{"type": "rain", "t": "2026-11-23T20:00:00Z"}', "'type'"),
        (
            "vigie/devices/H1/obs",
            b'{"device": "H2", "type": "power", "mains": true, "t": "2026-11-23T20:00:00Z"}',
            "H2",
        ),
        (
            "vigie/devices/H1/obs",
            b'{"seq": -1, "type": "power", "mains": true, "t": "2026-11-23T20:00:00Z"}',
            "'seq'",
        ),
    ],
)
def test_malformed_mqtt_messages_are_refused(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        mqtt.decode_message(topic, payload)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_osmand_forms(text: str) -> None:
    with contextlib.suppress(Rejected):
        for record in osmand.decode_form(text)[1]:
            with contextlib.suppress(Rejected):
                check(record, NOW, BOUNDS)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
keys = st.sampled_from(["device_id", "location", "timestamp", "coords", "latitude", "longitude"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, json_values) | st.binary(max_size=200))
def test_fuzz_osmand_json(value: object) -> None:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    with contextlib.suppress(Rejected):
        for record in osmand.decode_json(body)[1]:
            with contextlib.suppress(Rejected):
                check(record, NOW, BOUNDS)


mqtt_keys = st.sampled_from(["t", "type", "lat", "lon", "accuracy_m", "present", "what", "seq"])


@settings(max_examples=150, deadline=None)
@example("", [{"t": None, "type": []}])  # regression: an unhashable type crashed the decoder
@example("", [{"t": "2026-11-23T20:00:00Z", "type": "tamper", "what": []}])
@given(
    st.text(max_size=40),
    st.lists(st.dictionaries(mqtt_keys, json_values)) | st.binary(max_size=200),
)
def test_fuzz_mqtt_messages(topic: str, value: object) -> None:
    payload = value if isinstance(value, bytes) else json.dumps(value).encode()
    for t in (topic, "vigie/devices/H1/obs"):
        with contextlib.suppress(Rejected):
            for record in mqtt.decode_message(t, payload)[1]:
                with contextlib.suppress(Rejected):
                    check(record, NOW, BOUNDS)
