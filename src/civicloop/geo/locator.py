"""Point → unit grid → community → street → district.

:class:`GridLocator` is built once from the grids and the areas (districts, streets, communities) and
answers:

* ``locate(lon, lat, crs)`` — one point, with names, a near-boundary flag and the distance to the
  nearest district/street/community line; raises :class:`OutsideCityError` outside every district;
* ``locate_many(lons, lats, crs)`` — grid indices for arrays of points (-1 outside every grid), at
  several million points per second (see :mod:`civicloop.geo.index`), identical to
  ``STRtree.query(points, predicate="intersects")`` with the lowest polygon index winning ties.

Input coordinates in GCJ-02/BD-09 are converted to WGS84 first (the storage system); all polygon tests
run in WGS84.

Tie-break on shared edges: the grid is the lowest index among the grids whose closure contains the
point (the order of the ``grids`` sequence, which for generated grids is code order). The community,
street and district are then the grid's own (so they never contradict the grid code); only where no
grid contains the point (inside the city but outside the gridded extent) are they looked up directly,
with the same lowest-index rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from civicloop.geo.boundaries import Area, AreaLevel
from civicloop.geo.crs import Crs, FloatArray, to_wgs84
from civicloop.geo.grids import Grid
from civicloop.geo.index import PolygonLattice
from civicloop.geo.projection import LocalProjection
from civicloop.kernel.i18n import both

__all__ = ["GridLocator", "Location", "OutsideCityError"]


class OutsideCityError(ValueError):
    """The point is in no district of the city."""

    def __init__(self, lon: float, lat: float, crs: Crs, lon_wgs84: float, lat_wgs84: float) -> None:
        self.lon = lon
        self.lat = lat
        self.crs = crs
        self.lon_wgs84 = lon_wgs84
        self.lat_wgs84 = lat_wgs84
        where = f"({lon:.6f}, {lat:.6f} {crs.value})"
        if crs != Crs.WGS84:
            where += f" = WGS84 ({lon_wgs84:.6f}, {lat_wgs84:.6f})"
        super().__init__(both("geo.outside_city", where=where))


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point is. ``grid``/``community``/``street`` are None outside the gridded extent."""

    grid: Grid | None
    community: Area | None
    street: Area | None
    district: Area | None
    lon_wgs84: float
    lat_wgs84: float
    near_boundary: bool
    boundary_distance_m: float | None  # to the nearest district/street/community line containing it

    @property
    def grid_code(self) -> str | None:
        return self.grid.code if self.grid else None

    def as_dict(self) -> dict[str, Any]:
        def code(a: Area | None) -> str | None:
            return a.code if a else None

        def name(a: Area | None) -> str | None:
            return a.name if a else None

        return {
            "grid": self.grid_code,
            "community": code(self.community),
            "community_name": name(self.community),
            "street": code(self.street),
            "street_name": name(self.street),
            "district": code(self.district),
            "district_name": name(self.district),
            "lon_wgs84": round(self.lon_wgs84, 7),
            "lat_wgs84": round(self.lat_wgs84, 7),
            "near_boundary": self.near_boundary,
            "boundary_distance_m": (
                None if self.boundary_distance_m is None else round(self.boundary_distance_m, 1)
            ),
            "generated": bool(
                (self.grid is not None and self.grid.generated)
                or (self.community is not None and self.community.generated)
            ),
        }


class _AreaLevelIndex:
    def __init__(self, areas: Sequence[Area]) -> None:
        self.areas = list(areas)
        geoms = np.asarray([a.geometry for a in self.areas], dtype=object)
        shapely.prepare(geoms)
        self.tree = shapely.STRtree(geoms)

    def find(self, lon: float, lat: float) -> Area | None:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        return self.areas[int(hits.min())] if hits.size else None


class GridLocator:
    """Built once from grids and areas; see the module doc."""

    def __init__(
        self,
        grids: Sequence[Grid],
        areas: Sequence[Area],
        *,
        near_boundary_m: float = 30.0,
        cells_per_polygon_side: float = 4.0,
    ) -> None:
        self.grids: list[Grid] = list(grids)
        self.near_boundary_m = near_boundary_m
        self.areas_by_code: dict[str, Area] = {a.code: a for a in areas}
        self._levels = {lvl: _AreaLevelIndex([a for a in areas if a.level == lvl]) for lvl in AreaLevel}
        self.index = PolygonLattice(
            [g.geometry for g in self.grids], cells_per_polygon_side=cells_per_polygon_side
        )
        all_geoms = [a.geometry for a in areas] + [g.geometry for g in self.grids]
        if all_geoms:
            b = shapely.total_bounds(np.asarray(all_geoms, dtype=object))
            lon0, lat0 = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        else:
            lon0 = lat0 = 0.0
        # Boundary distances are measured in a projection centred on the city: its scale error is
        # below 1 % over a city, i.e. < 0.3 m at the 30 m threshold.
        self.projection = LocalProjection(float(lon0), float(lat0))
        self._metric_boundaries: dict[str, Any] = {}

    @property
    def grid_count(self) -> int:
        return len(self.grids)

    def locate_many(
        self, lons: FloatArray | Sequence[float], lats: FloatArray | Sequence[float], crs: Crs = Crs.WGS84
    ) -> NDArray[np.int64]:
        """Grid index (into ``self.grids``) for each point; -1 where no grid contains it."""
        x = np.asarray(lons, dtype=np.float64)
        y = np.asarray(lats, dtype=np.float64)
        if crs != Crs.WGS84:
            x, y = to_wgs84(x, y, Crs(crs))
        return self.index.locate(x, y)

    def _boundary_distance(self, area: Area, x: float, y: float) -> float:
        b = self._metric_boundaries.get(area.code)
        if b is None:
            b = self.projection.to_metric(shapely.boundary(area.geometry))
            shapely.prepare(b)
            self._metric_boundaries[area.code] = b
        return float(shapely.distance(b, shapely.Point(x, y)))

    def locate(self, lon: float, lat: float, crs: Crs = Crs.WGS84) -> Location:
        crs = Crs(crs)
        wlon, wlat = to_wgs84(float(lon), float(lat), crs)
        gi = int(self.index.locate(np.array([wlon]), np.array([wlat]))[0])
        grid = self.grids[gi] if gi >= 0 else None
        community = street = district = None
        if grid is not None:
            community = self.areas_by_code.get(grid.community_code)
            street = self.areas_by_code.get(grid.street_code)
            district = self.areas_by_code.get(grid.district_code)
        if grid is None or district is None:
            district = self._levels[AreaLevel.DISTRICT].find(wlon, wlat)
            if district is None and grid is None:
                raise OutsideCityError(float(lon), float(lat), crs, wlon, wlat)
        if grid is None:
            street = self._levels[AreaLevel.STREET].find(wlon, wlat)
            community = self._levels[AreaLevel.COMMUNITY].find(wlon, wlat)
        mx, my = self.projection.forward(np.array(wlon), np.array(wlat))
        dists = [self._boundary_distance(a, float(mx), float(my)) for a in (district, street, community) if a]
        dist = min(dists) if dists else None
        near = dist is not None and dist <= self.near_boundary_m
        return Location(grid, community, street, district, wlon, wlat, near, dist)
