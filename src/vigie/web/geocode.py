"""Address search for the console's maps, asked by the centre of the configured geocoder
(`VIGIE_GEOCODER_URL`): the browser talks to the centre alone, so the console's policy keeps
`connect-src 'self'` and every search is audited. Two answers are read: Nominatim's JSON list
and the GeoJSON of addok (the engine of the French national address base) or Photon."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query

from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store.bounds import Line
from vigie.store.models import User
from vigie.web.config import console_settings

router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
Reader = Annotated[User, Depends(allow(*CASE_READERS))]
TIMEOUT_S = 5.0


def places(answer: Any) -> list[dict[str, Any]]:
    """Label, lat, lon of each place, whichever of the two shapes the geocoder answered."""
    if isinstance(answer, dict) and isinstance(answer.get("features"), list):
        found = []
        for feature in answer["features"]:
            lon, lat = feature["geometry"]["coordinates"][:2]
            props = feature.get("properties", {})
            label = props.get("label") or props.get("name") or ""
            found.append({"label": str(label), "lat": float(lat), "lon": float(lon)})
        return found
    if isinstance(answer, list):
        return [
            {
                "label": str(p.get("display_name", "")),
                "lat": float(p["lat"]),
                "lon": float(p["lon"]),
            }
            for p in answer
        ]
    raise ValueError("neither a Nominatim list nor a GeoJSON FeatureCollection")


@router.get("/geocode")
def geocode(
    db: DatabaseDep,
    user: Reader,
    q: Annotated[Line, Query(min_length=3, max_length=200, description="an address")],
    limit: Annotated[int, Query(ge=1, le=10)] = 5,
) -> list[dict[str, Any]]:
    url = console_settings().geocoder_url
    if not url:
        raise ApiError(503, "no_geocoder", "no address search: VIGIE_GEOCODER_URL is not set")
    params = {"q": q, "limit": str(limit), "format": "jsonv2"}
    try:
        response = httpx.get(url, params=params, timeout=TIMEOUT_S)
        response.raise_for_status()
        found = places(response.json())[:limit]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ApiError(502, "geocoder_failed", f"the address search did not answer: {exc}") from exc
    with db.session() as session:
        audit.record(session, user.username, "geocode", "address", {"results": len(found)})
    return found
