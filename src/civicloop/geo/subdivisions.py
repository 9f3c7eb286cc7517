"""Demo streets (街道) and communities (社区) for a city that publishes no such polygons.

Taiyuan publishes district polygons (shipped in ``geo/data``) and the codes of some streets, but no
street or community boundaries. For the demo, the urban core is split deterministically:

1. each district is clipped to a demo extent around the urban centre (:data:`DEMO_EXTENT`);
2. the clipped district is cut into streets: ``round(area / street_km2)`` seeded random points,
   relaxed by a few Lloyd iterations (so cells are compact and of similar size), their Voronoi cells
   (computed in a local metric projection) clipped to the district;
3. each street is cut into communities the same way with ``community_km2``;
4. a piece of a cell cut off by a concave boundary is handed to the neighbour it shares most border
   with, so areas are single polygons wherever the parent is.

Codes: street = district code + 3 digits (001…), community = street code + 3 digits (001…), numbered
in reading order of the cells' representative points (north→south by bands, then west→east).
Names: the street codes 140105001 坞城街道 and 140105002 平阳路街道 are public (see docs/domain.md §9),
so those two names are real — their *shapes* are not; every other name is generated
("小店区第3街道", "坞城街道第2社区"). Every generated area has ``generated=True`` and a ``note``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import shapely

from civicloop.geo.boundaries import Area, AreaLevel
from civicloop.geo.projection import LocalProjection, area_m2

__all__ = [
    "DEMO_EXTENT",
    "REAL_STREET_NAMES",
    "URBAN_DISTRICT_CODES",
    "generate_demo_subdivisions",
    "partition_polygon",
]

# lon/lat box around Taiyuan's built-up core: the six urban districts (小店 迎泽 杏花岭 尖草坪 万柏林
# 晋源) on both banks of the Fen river, from 尖草坪's southern edge (37.91) to 小店's centre (37.75).
# About 218 km², i.e. ~21,000 unit grids of 1 ha.
DEMO_EXTENT: tuple[float, float, float, float] = (112.48, 37.75, 112.62, 37.91)
URBAN_DISTRICT_CODES = frozenset({"140105", "140106", "140107", "140108", "140109", "140110"})


@cache
def _names() -> dict[str, Any]:
    """Name patterns and the real street names (data in data/subdivision_names.toml)."""
    text = (resources.files("civicloop.geo") / "data" / "subdivision_names.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


# Public street codes (GB/T 2260 extension / statistics division codes) we are sure of.
REAL_STREET_NAMES: dict[str, str] = {str(k): str(v) for k, v in _names()["real_streets"].items()}

_LLOYD_ITERATIONS = 4


def _polygons_of(geom: Any) -> list[Any]:
    return [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]


def _random_points_in(region: Any, n: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    got: list[np.ndarray[Any, Any]] = []
    count = 0
    for _ in range(1000):
        xy = np.column_stack((rng.uniform(minx, maxx, 4 * n + 16), rng.uniform(miny, maxy, 4 * n + 16)))
        keep = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        got.append(keep)
        count += keep.shape[0]
        if count >= n:
            break
    pts = np.concatenate(got)[:n] if got else np.empty((0, 2))
    if pts.shape[0] < n:  # a sliver region: fall back to points on its surface
        extra = np.array([shapely.get_coordinates(shapely.point_on_surface(region))[0]] * (n - pts.shape[0]))
        pts = np.concatenate([pts.reshape(-1, 2), extra + rng.normal(0, 1e-3, extra.shape)])
    return pts


def _voronoi(points: np.ndarray[Any, Any], region: Any) -> list[Any]:
    """Voronoi cells of points (in input order), extended well past the region."""
    minx, miny, maxx, maxy = region.bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    coll = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=env, ordered=True)
    return list(shapely.get_parts(coll))


def _consolidate(cells: list[Any]) -> list[Any]:
    """Give every detached part of a cell to the neighbour it shares the longest border with."""
    cells = list(cells)
    for i in range(len(cells)):
        parts = _polygons_of(cells[i])
        if len(parts) <= 1:
            continue
        parts.sort(key=lambda p: -p.area)
        keep = [parts[0]]
        for part in parts[1:]:
            best, best_len = -1, 0.0
            for j, other in enumerate(cells):
                if j == i or other.is_empty or not part.intersects(other):
                    continue
                shared = part.boundary.intersection(other.boundary).length
                if shared > best_len:
                    best, best_len = j, shared
            if best >= 0:
                cells[best] = shapely.union(cells[best], part)
            else:
                keep.append(part)  # an island with no neighbour: stays a part of this cell
        cells[i] = keep[0] if len(keep) == 1 else shapely.multipolygons(keep)
    return [_clean(c) for c in cells]


def _clean(geom: Any) -> Any:
    polys = _polygons_of(geom)
    if not polys:
        return shapely.from_wkt("POLYGON EMPTY")
    out = polys[0] if len(polys) == 1 else shapely.multipolygons(polys)
    return out if out.is_valid else shapely.make_valid(out, method="structure", keep_collapsed=False)


def partition_polygon(
    region: Any, n: int, rng: np.random.Generator, projection: LocalProjection
) -> list[Any]:
    """Split a WGS84 polygon into about ``n`` compact cells (Lloyd-relaxed Voronoi, clipped)."""
    if n <= 1:
        return [region]
    region_m = projection.to_metric(region)
    pts = _random_points_in(region_m, n, rng)
    for _ in range(_LLOYD_ITERATIONS):
        clipped = shapely.intersection(np.asarray(_voronoi(pts, region_m), dtype=object), region_m)
        new = shapely.get_coordinates(shapely.centroid(clipped))
        if new.shape[0] != pts.shape[0]:
            break
        empty = shapely.is_empty(clipped)
        inside = shapely.contains_xy(region_m, new[:, 0], new[:, 1]) & ~empty
        # A concave cell's centroid may fall outside: use a point on its surface instead.
        if (~inside & ~empty).any():
            fix = ~inside & ~empty
            new[fix] = shapely.get_coordinates(shapely.point_on_surface(clipped[fix]))
        new[empty] = pts[empty]
        pts = new
    # Voronoi edges are straight in the (affine) local projection and so in lon/lat: build the cells
    # in metres, map them back, and clip with the original WGS84 region (its vertices stay exact).
    cells_deg = projection.to_wgs84(np.asarray(_voronoi(pts, region_m), dtype=object))
    clipped_deg = [_clean(c) for c in shapely.intersection(cells_deg, region)]
    return [c for c in _consolidate(clipped_deg) if not c.is_empty]


def _reading_order(geoms: Sequence[Any], band_deg: float) -> list[int]:
    rp = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    keys = [(-math.floor(y / band_deg), x) for x, y in rp]
    return sorted(range(len(geoms)), key=lambda i: keys[i])


def generate_demo_subdivisions(
    districts: Iterable[Area],
    *,
    seed: int,
    extent: tuple[float, float, float, float] = DEMO_EXTENT,
    street_km2: float = 6.0,
    community_km2: float = 0.8,
    projection: LocalProjection | None = None,
    locale: str = "zh-CN",
) -> tuple[list[Area], list[Area]]:
    """Deterministic demo streets and communities inside ``extent`` → (streets, communities).

    The same ``districts``, ``seed``, ``extent`` and sizes always give the same areas (each district
    and street draws from its own random stream keyed by its code, so adding a district elsewhere does
    not move the others). ``locale`` picks the name patterns ("en": "Harbor North Ward 3").
    """
    patterns = _names()["patterns_en" if locale.lower().startswith("en") else "patterns"]
    box = shapely.box(*extent)
    if projection is None:
        projection = LocalProjection((extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2)
    streets: list[Area] = []
    communities: list[Area] = []
    min_area_m2 = 0.02e6
    for district in sorted(districts, key=lambda a: a.code):
        if district.level != AreaLevel.DISTRICT:
            raise ValueError(f"{district.code} is a {district.level.value}, not a district")
        region = _clean(shapely.intersection(district.geometry, box))
        if region.is_empty or float(area_m2(region)) < min_area_m2:
            continue
        n_streets = max(1, round(float(area_m2(region)) / (street_km2 * 1e6)))
        rng = np.random.default_rng([seed, int(district.code)])
        cells = partition_polygon(region, n_streets, rng, projection)
        band = math.sqrt(street_km2) * 1000.0 / 111_000.0
        for k, idx in enumerate(_reading_order(cells, band), start=1):
            code = f"{district.code}{k:03d}"
            real = code in REAL_STREET_NAMES
            name = REAL_STREET_NAMES.get(code) or patterns["street"].format(district=district.name, k=k)
            note = (
                "generated demo boundary; code and name are real (public), the shape is invented"
                if real
                else "generated demo street: code, name and shape are invented"
            )
            street = Area(code, name, AreaLevel.STREET, district.code, cells[idx], True, note, "generated")
            streets.append(street)
            n_comm = max(1, round(float(area_m2(street.geometry)) / (community_km2 * 1e6)))
            srng = np.random.default_rng([seed, int(code)])
            ccells = partition_polygon(street.geometry, n_comm, srng, projection)
            cband = math.sqrt(community_km2) * 1000.0 / 111_000.0
            for j, cidx in enumerate(_reading_order(ccells, cband), start=1):
                communities.append(
                    Area(
                        f"{code}{j:03d}",
                        patterns["community"].format(street=name, j=j),
                        AreaLevel.COMMUNITY,
                        code,
                        ccells[cidx],
                        True,
                        "generated demo community: code, name and shape are invented",
                        "generated",
                    )
                )
    return streets, communities
