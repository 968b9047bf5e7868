"""OsmAnd / Traccar Client HTTP: what the protected person's phone app sends. Pure.

Two forms, as Traccar's OsmAnd decoder reads them:
- query parameters or a urlencoded form: ``id`` (or ``deviceid``), ``lat``/``lon`` (or
  ``location=lat,lon``), ``timestamp`` (Unix seconds, milliseconds or ISO-8601), ``accuracy``
  (metres) or ``hdop``, ``batt`` (percent), plus speed, bearing, altitude we keep in the payload;
- the JSON body of recent Traccar Client versions: ``{"device_id", "location": {"timestamp",
  "coords": {"latitude", "longitude", "accuracy", ...}, "battery": {"level": 0..1}}}``.
Either way the device's secret comes as the ``key`` query parameter (see `key_of`); it is
never part of a reading. Traccar Client's SOS button sends ``alarm=sos`` (a query parameter, or
``location.alarm`` in JSON; Traccar reads both as its ``alarm`` attribute, ``sos``): it is an
``sos`` reading, after the position of the same request so that detection reads her fix first.
Other alarm values are not ours to interpret and are ignored.

Times: a request without ``timestamp`` takes the time it was received, and its readings say so
(``"time_source": "receipt"``) so that detection and reports can tell a fix time from an
arrival time. A zone-less ``yyyy-MM-dd HH:mm:ss`` (some app versions send wall-clock time) is
read in the gateway's configured zone (`Limits.local_zone`, by default Europe/Paris).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from vigie.gateway.readings import Rejected, parse_time, reading

KEY = "key"  # the device's secret, in the query string (or form) of every request
SOS = "sos"  # the value of Traccar's `alarm` attribute for a call for help
UERE_M = 5.0  # accuracy from HDOP, as for trackers
NO_ACCURACY_M = 50.0  # a fix without accuracy is taken as poor, never as precise
PARIS = ZoneInfo("Europe/Paris")
RECEIPT = {"time_source": "receipt"}  # marks a reading timed by its arrival, not by the device


def decode_form(
    text: str, received: datetime | None = None, zone: ZoneInfo = PARIS
) -> tuple[str, list[dict[str, Any]]]:
    """Device id and readings of a query string or urlencoded form.

    `received` is the time the request arrived, used when it has no timestamp (without it such a
    request is refused); `zone` is that of zone-less wall-clock times.
    """
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=64)
    except ValueError as exc:
        raise Rejected(f"query is malformed: {exc}") from exc
    return decode_params(dict(pairs), received, zone)


def key_of(text: str) -> str | None:
    """The device's secret (parameter `key`) in a query string or urlencoded form, if any.

    Traccar Client sends whatever query its server URL holds, so a phone is configured with
    ``http://gateway:5055/?key=<its secret>`` and every report carries the key.
    """
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        return None
    return next((value for name, value in pairs if name == KEY), None)


def decode_params(
    params: Mapping[str, str], received: datetime | None = None, zone: ZoneInfo = PARIS
) -> tuple[str, list[dict[str, Any]]]:
    device = params.get("id") or params.get("deviceid")
    if not device:
        raise Rejected("no device id (parameter 'id' or 'deviceid')")
    stamp = params.get("timestamp")
    extra: dict[str, str] = {}
    if stamp:
        t = _time(stamp, zone)
    elif received is not None:
        t, extra = received, RECEIPT
    else:
        raise Rejected("no 'timestamp'")
    if "location" in params:
        lat_text, _, lon_text = params["location"].partition(",")
    else:
        lat_text, lon_text = params.get("lat", ""), params.get("lon", "")
    out: list[dict[str, Any]] = []
    if lat_text or lon_text:
        accuracy = _number(params, "accuracy")
        if accuracy is None:
            hdop = _number(params, "hdop")
            accuracy = NO_ACCURACY_M if hdop is None else max(UERE_M, hdop * UERE_M)
        out.append(
            reading(
                device,
                t,
                "position",
                "position",
                lat=_float(lat_text, "lat"),
                lon=_float(lon_text, "lon"),
                accuracy_m=accuracy,
                **extra,
            )
        )
    battery = _number(params, "batt")
    if battery is not None:
        out.append(reading(device, t, "battery", "battery", level=battery / 100, **extra))
    if params.get("alarm") == SOS:
        out.append(reading(device, t, "sos", "sos", **extra))
    if not out:
        raise Rejected("neither a position, a battery level nor an SOS")
    return device, out


def decode_json(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """Device id and readings of a Traccar Client JSON body."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Rejected("JSON body is not an object")
    device = data.get("device_id")
    location = data.get("location")
    if not isinstance(device, str) or not device:
        raise Rejected("no device id ('device_id')")
    if not isinstance(location, dict):
        raise Rejected("no 'location' object")
    stamp = location.get("timestamp")
    if not isinstance(stamp, str):
        raise Rejected("'location.timestamp' must be an ISO-8601 string")
    t = parse_time(stamp)
    coords = location.get("coords")
    out: list[dict[str, Any]] = []
    if isinstance(coords, dict):
        accuracy = coords.get("accuracy", NO_ACCURACY_M)
        fields = {"lat": coords.get("latitude"), "lon": coords.get("longitude")}
        for name, value in (*fields.items(), ("accuracy", accuracy)):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise Rejected(f"'{name}' must be a number")
        out.append(reading(device, t, "position", "position", **fields, accuracy_m=float(accuracy)))
    battery = location.get("battery")
    level = battery.get("level") if isinstance(battery, dict) else None
    # The app reports -1 when the phone does not say.
    if isinstance(level, int | float) and not isinstance(level, bool) and level >= 0:
        out.append(reading(device, t, "battery", "battery", level=float(level)))
    if location.get("alarm") == SOS:
        out.append(reading(device, t, "sos", "sos"))
    if not out:
        raise Rejected("neither coordinates, a battery level nor an SOS")
    return device, out


def _time(value: str, zone: ZoneInfo) -> datetime:
    if value.isdigit():
        number = int(value)
        # Traccar's rule: small numbers are seconds, large ones milliseconds.
        seconds = number if number < 2**31 else number / 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise Rejected(f"timestamp {value[:20]} is out of range") from exc
    if len(value) == 19 and value[10] == " ":
        # "yyyy-MM-dd HH:mm:ss" without a zone: wall-clock time where the devices are.
        try:
            naive = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError as exc:
            raise Rejected(f"timestamp {value!r} is not yyyy-MM-dd HH:mm:ss") from exc
        return naive.replace(tzinfo=zone).astimezone(UTC)
    return parse_time(value)


def _float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise Rejected(f"{name} {text[:20]!r} is not a number") from exc
    if not math.isfinite(value):
        raise Rejected(f"{name} {text[:20]!r} is not finite")
    return value


def _number(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name)
    return None if text in (None, "") else _float(text, name)
