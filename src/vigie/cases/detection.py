"""A placement's obligations as the detection engine's `placement` record (see spec/replay.md)."""

from __future__ import annotations

from typing import Any

from vigie.cases.errors import CaseRefused
from vigie.detect import ScenarioError
from vigie.detect.engine.placements import compile_placement
from vigie.observation import iso_ms
from vigie.settings import Settings
from vigie.settings import settings as current_settings
from vigie.store.models import Placement


def confirm_bounds(measure: str, config: Settings) -> dict[str, float]:
    """The confirmation bounds of a measure's breaches (``detect.persistence``), if set."""
    bounds = {}
    if measure in config.breach_confirm_s:
        bounds["confirm_s"] = config.breach_confirm_s[measure]
    if measure == "bar":
        bounds["alert_confirm_s"] = config.alert_confirm_s
    return bounds


def placement_record(placement: Placement, config: Settings | None = None) -> dict[str, Any] | None:
    """The replay-format record, or None while no bracelet is assigned (nothing to watch yet).

    The confirmation bounds of breaches come from ``config`` (the centre's settings).
    """
    current = [a for a in placement.assignments if a.until is None]
    devices = {a.role: a.device_id for a in current}
    if "wearer" not in devices:
        return None
    zones = [zone_record(z.key, z.type, z.geometry, z.schedule) for z in placement.zones]
    record = _record(placement, devices, zones, config or current_settings())
    # A device's silence counts for this case from its fitting (`fitted`, spec/replay.md's
    # placement as the engine reads it): one from the shelf raises no loss at once.
    record["fitted"] = {a.device_id: iso_ms(a.since) for a in current}
    return record


def zone_record(key: str, kind: str, geometry: Any, schedule: Any) -> dict[str, Any]:
    """A zone as the placement record holds it."""
    return {"id": key, "type": kind, "geometry": geometry, "schedule": schedule}


def check_watchable(placement: Placement, zones: list[dict[str, Any]]) -> None:
    """Refuse (CaseRefused, naming the field) a placement detection would refuse whatever
    devices it is given: a home detention with no hours, a zone or a window the engine cannot
    compile. The engine's own checks (`compile_placement`) are asked, so the two cannot drift;
    the devices the case lacks yet are stood in for, since they come one call at a time (a case
    left incomplete is the `unmonitored` alarm's). `zones` are the case's, as saved with it."""
    devices = _STAND_IN | {a.role: a.device_id for a in placement.assignments if a.until is None}
    try:
        compile_placement(_record(placement, devices, zones, current_settings()))
    except ScenarioError as exc:
        field = _api_field(exc.field, zones)
        said = (  # never her places' values, even back to who typed them
            "each protected place needs its own id"
            if field.startswith("protected_places")
            else exc.reason
        )
        raise CaseRefused(f"detection could not watch this placement: {said}", field) from exc


# The devices a case lacks yet, in `check_watchable`, every role (the record carries her device
# for a BAR only, and a home unit breaks no measure): no device id has these forms.
_STAND_IN = {"wearer": "(bracelet)", "home_unit": "(home unit)", "protected": "(her device)"}


def _api_field(field: str | None, zones: list[dict[str, Any]]) -> str:
    """The API's name of a field of the record: `zones.2.schedule` is `zones[Z3].schedule`."""
    if not field:
        return "placement"
    head, _, rest = field.partition(".")
    if head == "zones" and rest:
        index, _, tail = rest.partition(".")
        if index.isdigit() and int(index) < len(zones):
            return f"zones[{zones[int(index)]['id']}]" + (f".{tail}" if tail else "")
    return field


def _record(
    placement: Placement,
    devices: dict[str, str],
    zones: list[dict[str, Any]],
    config: Settings,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": "placement",
        "case": placement.case_ref,
        "measure": placement.measure,
        "wearer": devices["wearer"],
        "tz": "Europe/Paris",
        "grace_s": placement.grace_s,
        "signal_timeout_s": placement.signal_timeout_s,
        **confirm_bounds(placement.measure, config),
    }
    if "home_unit" in devices:
        record["home_unit"] = devices["home_unit"]
    if placement.schedule:
        record["schedule"] = placement.schedule
    if zones:
        record["zones"] = zones
    if placement.measure == "bar":
        if "protected" in devices:
            record["protected"] = devices["protected"]
        record["alert_distance_km"] = placement.alert_distance_km
        record["protected_places"] = [
            {"id": p["id"], "lat": p["lat"], "lon": p["lon"]} for p in placement.protected_places
        ]
    return record
