"""Named places and roads (地名): the records a city imports, and the demo city's generated set.

A :class:`PlaceRecord` is one row of ``geo_places``: a name, a kind (road, compound, school, market,
hospital, park, landmark, place), aliases, a WGS84 point or line, and for a road the highest house
number along it (for interpolation). :func:`read_places` reads a city's own file — GeoJSON (Point /
LineString features with ``name``, ``kind``, ``aliases``, ``numbers`` properties) or CSV (``name``,
``kind``, ``aliases`` separated by ``|``, and ``lon``/``lat`` or a ``wkt`` column) — and refuses a bad
row naming it. :func:`demo_places` builds the demo city's roads and places from
``geo/data/demo_places.toml`` (names are data, not code), deterministically for a seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import shapely

from civicloop.geo.boundaries import Area, AreaLevel

__all__ = ["PLACE_KINDS", "PlaceRecord", "PlacesFileError", "demo_places", "read_places"]

PLACE_KINDS = ("road", "compound", "school", "market", "hospital", "park", "landmark", "place")


class PlacesFileError(ValueError):
    """A places file that cannot be imported; ``problems``: (row or feature number, reason)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"#{n}: {why}" for n, why in problems[:10])
        more = f" (+{len(problems) - 10})" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} bad place(s): {shown}{more}")


@dataclass(frozen=True, slots=True, eq=False)
class PlaceRecord:
    place_id: str
    name: str
    kind: str
    geometry: Any  # shapely Point or LineString, WGS84
    aliases: tuple[str, ...] = ()
    numbers: int = 0
    source: str = ""

    @property
    def point(self) -> tuple[float, float]:
        """A representative point: the place itself, or the middle of a road."""
        g = self.geometry
        if g.geom_type == "Point":
            return float(g.x), float(g.y)
        p = shapely.line_interpolate_point(g, 0.5, normalized=True)
        return float(p.x), float(p.y)


def _record(n: int, props: dict[str, Any], geom: Any, source: str) -> PlaceRecord:
    name = str(props.get("name") or "").strip()
    if not name:
        raise ValueError("name is empty")
    kind = str(props.get("kind") or "place").strip().lower()
    if kind not in PLACE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(PLACE_KINDS)}")
    if geom is None or geom.is_empty or geom.geom_type not in ("Point", "LineString", "MultiLineString"):
        raise ValueError("geometry must be a Point or a LineString")
    if geom.geom_type == "MultiLineString":
        geom = shapely.line_merge(geom)
        if geom.geom_type != "LineString":
            geom = max(shapely.get_parts(geom), key=lambda g: g.length)
    x0, y0, x1, y1 = shapely.bounds(geom)
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError("coordinates must be WGS84 lon/lat")
    if kind == "road" and geom.geom_type != "LineString":
        raise ValueError("a road must be a LineString")
    raw = props.get("aliases") or ()
    aliases = tuple(a.strip() for a in (raw.split("|") if isinstance(raw, str) else raw) if str(a).strip())
    try:
        numbers = int(props.get("numbers") or 0)
    except (TypeError, ValueError):
        raise ValueError("numbers must be a whole number") from None
    if numbers < 0:
        raise ValueError("numbers must be >= 0")
    pid = str(props.get("id") or props.get("place_id") or f"{kind}-{n:05d}")[:64]
    return PlaceRecord(pid, name[:128], kind, geom, aliases, numbers, source)


def read_places(data: str, *, fmt: str, source: str = "") -> list[PlaceRecord]:
    """Places from a GeoJSON or CSV text (``fmt``: geojson or csv). Raises :class:`PlacesFileError`
    naming every bad feature/row; nothing is returned partially."""
    records: list[PlaceRecord] = []
    problems: list[tuple[int, str]] = []
    if fmt == "geojson":
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PlacesFileError([(0, f"not JSON: {exc.msg} at line {exc.lineno}")]) from None
        feats = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(feats, list):
            raise PlacesFileError([(0, "not a GeoJSON FeatureCollection")])
        for n, f in enumerate(feats, start=1):
            try:
                geom = shapely.from_geojson(json.dumps(f.get("geometry"))) if f.get("geometry") else None
                records.append(_record(n, dict(f.get("properties") or {}), geom, source))
            except (ValueError, AttributeError, shapely.errors.GEOSException) as exc:
                problems.append((n, str(exc)))
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")))
        cols = set(reader.fieldnames or [])
        if "name" not in cols or not ({"lon", "lat"} <= cols or "wkt" in cols):
            raise PlacesFileError([(1, "columns needed: name, kind, and lon+lat or wkt")])
        for n, row in enumerate(reader, start=2):
            try:
                if row.get("wkt"):
                    geom = shapely.from_wkt(row["wkt"])
                else:
                    lon, lat = float(row["lon"]), float(row["lat"])
                    if not (math.isfinite(lon) and math.isfinite(lat)):
                        raise ValueError("lon/lat must be finite numbers")
                    geom = shapely.Point(lon, lat)
                records.append(_record(n, dict(row), geom, source))
            except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
                problems.append((n, str(exc)))
    else:
        raise PlacesFileError([(0, f"format {fmt!r}: use geojson or csv")])
    if problems:
        raise PlacesFileError(problems)
    return records


@cache
def _demo_data() -> dict[str, Any]:
    text = (resources.files("civicloop.geo") / "data" / "demo_places.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def demo_places(
    communities: Sequence[Area],
    extent: tuple[float, float, float, float],
    *,
    seed: int = 20260101,
) -> list[PlaceRecord]:
    """The demo city's roads (clipped to *extent*), landmarks and generated places (1-3 per community,
    at seeded random points inside it). Same input, same output."""
    data = _demo_data()
    box = shapely.box(*extent)
    out: list[PlaceRecord] = []
    src = "demo (generated)"
    for i, r in enumerate(data["roads"], start=1):
        at, a, b = float(r["at"]), float(r["from"]), float(r["to"])
        line = shapely.LineString([(a, at), (b, at)] if r["axis"] == "ew" else [(at, a), (at, b)])
        part = shapely.intersection(line, box)
        if part.is_empty or part.geom_type != "LineString":
            continue
        out.append(
            PlaceRecord(f"road-{i:03d}", r["name"], "road", part, tuple(r.get("aliases", ())),
                        int(r.get("numbers", 0)), src)
        )  # fmt: skip
    for i, lm in enumerate(data["landmarks"], start=1):
        p = shapely.Point(float(lm["lon"]), float(lm["lat"]))
        if shapely.contains(box, p):
            aliases = tuple(lm.get("aliases", ()))
            out.append(PlaceRecord(f"landmark-{i:03d}", lm["name"], lm["kind"], p, aliases, 0, src))
    gen = data["generate"]
    stems: list[str] = list(gen["stems"])
    kinds = gen["kinds"]
    shares = np.asarray([float(k["share"]) for k in kinds])
    shares = shares / shares.sum()
    lo, hi = (int(v) for v in gen["per_community"])
    used = {p.name for p in out} | {a for p in out for a in p.aliases}
    rng = np.random.default_rng([seed, 7])
    comms = sorted((c for c in communities if c.level is AreaLevel.COMMUNITY), key=lambda c: c.code)
    n = 0
    for c in comms:
        shapely.prepare(c.geometry)
        x0, y0, x1, y1 = shapely.bounds(c.geometry)
        for _ in range(int(rng.integers(lo, hi + 1))):
            kind = kinds[int(rng.choice(len(kinds), p=shares))]
            name = ""
            for _attempt in range(20):
                cand = str(rng.choice(stems)) + str(rng.choice(kind["words"]))
                if cand not in used:
                    name = cand
                    break
            if not name:
                continue
            for _attempt in range(50):
                x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
                if shapely.contains_xy(c.geometry, x, y):
                    break
            else:
                p = shapely.point_on_surface(c.geometry)
                x, y = float(p.x), float(p.y)
            used.add(name)
            n += 1
            out.append(PlaceRecord(f"{kind['kind']}-{n:05d}", name, kind["kind"],
                                   shapely.Point(round(x, 6), round(y, 6)), (), 0, src))  # fmt: skip
    return out
