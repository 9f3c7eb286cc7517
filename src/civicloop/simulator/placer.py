"""Where the simulator puts its reports: inside the stored unit grids, denser toward the urban core."""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from civicloop.assets.store import placeable_component_rows
from civicloop.city.service import City
from civicloop.geo.grids import Grid
from civicloop.geo.projection import LocalProjection
from civicloop.geo.service import (
    Geography,
    geography_for,
    geography_version,
)
from civicloop.profile.models import CategoryRule
from civicloop.simulator.simulate import texts


class GeographyPlacer:
    """Places simulated reports inside the stored grids, denser toward the urban core.

    Grid ``i`` is drawn with probability ∝ area·(0.2 + exp(−(d/σ)²)), d the distance of its centre from
    the area-weighted centre of the simulated districts' grids and σ 30 % of their half-diagonal; the
    point is uniform inside the grid (rejection sampling in its box). Reports of a category about a
    component type go to a real component of that type (same weighting) and carry its id. Addresses
    use the road of the grid's components ("纬5路 128号附近"), else the community ("…社区 17号院附近").
    Deterministic: only the simulator's ``rng`` is drawn from.
    """

    def __init__(
        self,
        geography: Geography,
        components_by_type: Mapping[str, tuple[list[str], Any, Any, Any]],
        roads_by_grid: Mapping[str, str],
        districts: Sequence[str] = (),
        locale: str = "zh-CN",
    ) -> None:
        self.geo = geography
        self.locale = locale
        grids = geography.grids
        if districts:
            chosen = [i for i, g in enumerate(grids) if g.district_code in set(districts)]
            self.idx = chosen or list(range(len(grids)))
        else:
            self.idx = list(range(len(grids)))
        geoms = np.asarray([grids[i].geometry for i in self.idx], dtype=object)
        shapely.prepare(geoms)
        self.geoms = geoms
        self.bounds = shapely.bounds(geoms)
        cx = (self.bounds[:, 0] + self.bounds[:, 2]) / 2
        cy = (self.bounds[:, 1] + self.bounds[:, 3]) / 2
        area = np.asarray([grids[i].area_m2 for i in self.idx], dtype=np.float64)
        proj = LocalProjection(float(np.average(cx, weights=area)), float(np.average(cy, weights=area)))
        x, y = proj.forward(cx, cy)
        half_diag = float(np.hypot(np.ptp(x), np.ptp(y))) / 2 or 1.0
        sigma = 0.3 * half_diag
        self.core = (proj.lon0, proj.lat0)
        self.grid_weight = area * (0.2 + np.exp(-((np.hypot(x, y) / sigma) ** 2)))
        self.cum = np.cumsum(self.grid_weight).tolist()
        self.weight_by_code = {
            grids[i].code: float(w) for i, w in zip(self.idx, self.grid_weight, strict=True)
        }
        self.components: dict[str, tuple[list[str], Any, Any, list[float]]] = {}
        for type_code, (ids, lons, lats, grid_codes) in components_by_type.items():
            w = np.asarray([self.weight_by_code.get(g, 0.0) for g in grid_codes], dtype=np.float64)
            if not ids or float(w.sum()) <= 0:
                continue
            self.components[type_code] = (ids, lons, lats, np.cumsum(w).tolist())
        self.component_grid = {t: dict(zip(v[0], v[3], strict=True)) for t, v in components_by_type.items()}
        self.roads = dict(roads_by_grid)

    @staticmethod
    def _draw(rng: random.Random, cum: list[float]) -> int:
        return min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)

    def _fields_for_grid(self, grid: Grid) -> dict[str, Any]:
        return {
            "grid_code": grid.code,
            "community_code": grid.community_code,
            "street_code": grid.street_code,
            "district_code": grid.district_code,
        }

    def _address(self, rng: random.Random, grid: Grid, road: str | None = None) -> str:
        road = road or self.roads.get(grid.code)
        if road:
            return str(texts(self.locale)["address"]["road"]).format(road=road, n=rng.randint(1, 300))
        comm = self.geo.area(grid.community_code)
        name = comm.name if comm else grid.community_code
        return str(texts(self.locale)["address"]["community"]).format(name=name, n=rng.randint(1, 60))

    def place(self, rng: random.Random, category: CategoryRule) -> dict[str, Any]:
        type_code = category.component_code
        comps = self.components.get(type_code) if type_code else None
        if comps is not None:
            ids, lons, lats, cum = comps
            k = self._draw(rng, cum)
            grid_code = self.component_grid[type_code or ""][ids[k]]
            grid = self.geo.grid(grid_code)
            if grid is not None:
                return {
                    "lon": float(lons[k]),
                    "lat": float(lats[k]),
                    "address": self._address(rng, grid),
                    "component_id": ids[k],
                    **self._fields_for_grid(grid),
                }
        j = self._draw(rng, self.cum)
        gi = self.idx[j]
        grid = self.geo.grids[gi]
        minx, miny, maxx, maxy = (float(v) for v in self.bounds[j])
        lon = lat = None
        for _ in range(30):
            x = minx + rng.random() * (maxx - minx)
            y = miny + rng.random() * (maxy - miny)
            if shapely.contains_xy(self.geoms[j], x, y):
                lon, lat = round(x, 6), round(y, 6)
                if shapely.contains_xy(self.geoms[j], lon, lat):
                    break
                lon = lat = None
        if lon is None or lat is None:
            p = self.geoms[j].representative_point()
            lon, lat = round(float(p.x), 7), round(float(p.y), 7)
        return {"lon": lon, "lat": lat, "address": self._address(rng, grid), **self._fields_for_grid(grid)}


def placer_for(city: City) -> GeographyPlacer | None:
    """The simulator's placer over the city's stored grids; None when no geography is stored (the
    simulator then uses its plain box)."""
    if geography_version(city) == 0:
        return None
    geo = geography_for(city, demo_fallback=False)
    if geo is None or not geo.grids:
        return None
    by_type: dict[str, tuple[list[str], Any, Any, Any]] = {}
    roads: Counter[tuple[str, str]] = Counter()
    with city.engine.connect() as conn:
        rows = placeable_component_rows(conn, city.id)
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.type_code, []).append(r)
        if r.road_name:
            roads[(r.grid_code, r.road_name)] += 1
    for type_code, rs in grouped.items():
        by_type[type_code] = (
            [r.component_id for r in rs],
            np.asarray([r.lon for r in rs]),
            np.asarray([r.lat for r in rs]),
            [r.grid_code for r in rs],
        )
    best: dict[str, tuple[int, str]] = {}
    for (grid_code, road), n in sorted(roads.items()):
        if grid_code not in best or n > best[grid_code][0]:
            best[grid_code] = (n, road)
    simulated = city.profile.simulation.districts or tuple(d.code for d in city.profile.districts if d.urban)
    road_of = {g: r for g, (_, r) in best.items()}
    return GeographyPlacer(geo, by_type, road_of, simulated, locale=city.profile.default_locale)
