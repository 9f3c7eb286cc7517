"""Map layers for the pages: the city's stored areas and unit grids as small GeoJSON.

Districts, streets and communities are simplified for display (a few metres at most) and cached per
geography version, so the big screen loads the whole city's outline in one small request; unit grids
are sent only for the part of the map in view, when zoomed in. Everything stored is WGS84; when the
configured tiles are GCJ-02 the layers are converted here with :mod:`civicloop.geo.crs` before sending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray

from civicloop.city.service import City
from civicloop.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from civicloop.geo.store import area_extents, map_area_rows, map_grid_rows

#: Simplification tolerance in degrees per level (≈ 30 m, 10 m, 5 m): invisible at the zooms they show.
TOLERANCE = {"district": 0.0003, "street": 0.0001, "community": 0.00005}
MAX_GRIDS = 4000


def _to_gcj(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def convert_geometry(geom: Any, crs: str) -> Any:
    if crs != "gcj02":
        return geom
    return shapely.transform(geom, _to_gcj)


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    if crs == "gcj02":
        x, y = gcj02_to_wgs84(lon, lat)
        return float(x), float(y)
    return lon, lat


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(lon, lat)
        return float(x), float(y)
    return lon, lat


def convert_points(lon: NDArray[np.float64], lat: NDArray[np.float64], crs: str) -> tuple[Any, Any]:
    if crs != "gcj02":
        return lon, lat
    return wgs84_to_gcj02(lon, lat)


def _feature(geom: Any, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": orjson.Fragment(shapely.to_geojson(geom))}


class GeoLayers:
    """Cached GeoJSON of one city's areas; grids by bounding box."""

    def __init__(self, city: City, version: Callable[[], int]) -> None:
        self.city = city
        self.version = version
        self._cache: dict[tuple[int, str, str], bytes] = {}
        self._bounds: tuple[int, list[float] | None] | None = None
        self._lock = threading.Lock()

    def areas(self, level: str, crs: str) -> bytes:
        version = self.version()
        key = (version, level, crs)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        rows = map_area_rows(self.city.engine, self.city.id, level)
        if rows:
            geoms = shapely.from_wkb(np.asarray([bytes(r.geometry) for r in rows], dtype=object))
            names = [(r.code, r.name, r.parent_code, bool(r.generated)) for r in rows]
        else:
            geoms, names = self._fallback(level)
        feats = []
        tol = TOLERANCE.get(level, 0.0001)
        for geom, (code, name, parent, generated) in zip(geoms, names, strict=True):
            g = shapely.simplify(geom, tol, preserve_topology=True)
            g = shapely.set_precision(convert_geometry(g, crs), 1e-6)
            props = {"code": code, "name": name, "parent": parent, "level": level, "generated": generated}
            feats.append(_feature(g, props))
        body = orjson.dumps({"type": "FeatureCollection", "features": feats})
        with self._lock:
            self._cache[key] = body
        return body

    def _fallback(self, level: str) -> tuple[list[Any], list[tuple[str, str, str | None, bool]]]:
        """The in-memory demo geography for the demo city (nothing stored yet)."""
        from civicloop.geo.service import geography_for

        geo = geography_for(self.city)
        if geo is None:
            return [], []
        areas = {"district": geo.districts, "street": geo.streets, "community": geo.communities}.get(
            level, []
        )
        return [a.geometry for a in areas], [(a.code, a.name, a.parent_code, a.generated) for a in areas]

    def grids(self, bbox: tuple[float, float, float, float], crs: str) -> bytes:
        rows = map_grid_rows(self.city.engine, self.city.id, bbox, MAX_GRIDS + 1)
        truncated = len(rows) > MAX_GRIDS
        rows = rows[:MAX_GRIDS]
        feats = []
        if rows:
            geoms = shapely.from_wkb(np.asarray([bytes(r.geometry) for r in rows], dtype=object))
            for geom, r in zip(geoms, rows, strict=True):
                g = shapely.set_precision(convert_geometry(geom, crs), 1e-6)
                feats.append(_feature(g, {"code": r.grid_code, "community": r.community_code}))
        return orjson.dumps({"type": "FeatureCollection", "features": feats, "truncated": truncated})

    def bounds(self) -> list[float] | None:
        """[west, south, east, north] of the stored districts (WGS84), or None."""
        version = self.version()
        if self._bounds is not None and self._bounds[0] == version:
            return self._bounds[1]
        rows = area_extents(self.city.engine, self.city.id, "district")
        box: list[float] | None = None
        if rows:
            box = [
                min(r.min_lon for r in rows),
                min(r.min_lat for r in rows),
                max(r.max_lon for r in rows),
                max(r.max_lat for r in rows),
            ]
        else:
            geoms, _ = self._fallback("district")
            if geoms:
                b = shapely.total_bounds(np.asarray(geoms, dtype=object))
                box = [float(v) for v in b]
        self._bounds = (version, box)
        return box

    def urban_bounds(self) -> list[float] | None:
        """The extent of the streets (the gridded urban core), where the cases are: the initial view."""
        rows = area_extents(self.city.engine, self.city.id, "street")
        if not rows:
            return self.bounds()
        return [
            min(r.min_lon for r in rows),
            min(r.min_lat for r in rows),
            max(r.max_lon for r in rows),
            max(r.max_lat for r in rows),
        ]
