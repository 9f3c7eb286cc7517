"""Unit grids (单元网格): generation, numbering, statistics and import.

Generation (:func:`generate_grids`): a square lattice of ``sqrt(cell_m2)``-metre cells is laid in a
local equirectangular projection around the city (so its lines are meridians and parallels) and clipped
to every community polygon; a grid therefore **never crosses a community line**, and hence never a
street or district line either (communities nest in streets, streets in districts). Pieces smaller
than ``sliver_fraction × cell_m2`` (the corners a community boundary cuts off a lattice square) are
merged into the neighbouring piece of the same community with which they share the longest border,
preferring neighbours that are not slivers themselves. A piece with no such neighbour (a community, or
a detached bit of one, smaller than the threshold) stays a grid of its own and is counted as a sliver
by :func:`grid_stats`.

Codes: 15 characters = 6-digit district + 3-digit street + 3-digit community + 3-character grid number.
Grid numbers run 001, 002, … **row-major over the lattice: rows north→south, within a row west→east**.
A grid's ``row``/``col`` are those of the lattice square it was cut from (a merged sliver does not
change them); the centroid of an unmerged grid lies in that square, so this is the same as ordering by
centroid in rows. Several pieces of one square (a community boundary meandering through it) are ordered
west→east by representative point. Beyond 999 grids in one community the number continues with a
letter: ``A00``…``A0Z``, ``A10``…``ZZZ`` (the GB/T 47678.3 rule allows 15 characters in [0-9A-Z]), up
to 999 + 26·36² = 34,695 grids; the demo's communities have about 80.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from civicloop.geo.boundaries import (
    Area,
    AreaLevel,
    BoundaryImportError,
    FeatureProblem,
    SourceCrs,
    read_features,
    validate_polygonal,
)
from civicloop.geo.crs import Crs
from civicloop.geo.projection import LocalProjection, area_m2

__all__ = [
    "GRID_CODE_RE",
    "Grid",
    "GridCoverage",
    "GridStats",
    "generate_grids",
    "grid_coverage",
    "grid_number",
    "grid_stats",
    "grids_to_geojson",
    "import_grids",
]

GRID_CODE_RE = re.compile(r"^[0-9A-Z]{15}$")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_GRIDS_PER_COMMUNITY = 999 + 26 * 36 * 36


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """A unit grid. ``geometry`` is a WGS84 Polygon (MultiPolygon only for imported layers)."""

    code: str
    geometry: Any
    community_code: str
    area_m2: float
    row: int | None = None  # lattice row (0 = northmost) for generated grids
    col: int | None = None  # lattice column (0 = westmost)
    generated: bool = False

    @property
    def street_code(self) -> str:
        return self.community_code[:9]

    @property
    def district_code(self) -> str:
        return self.community_code[:6]


def grid_number(n: int) -> str:
    """The 3-character grid number for the n-th grid (1-based) of a community."""
    if n < 1:
        raise ValueError("grid numbers start at 1")
    if n <= 999:
        return f"{n:03d}"
    k = n - 1000
    if k >= 26 * 36 * 36:
        raise ValueError(f"a community cannot hold more than {MAX_GRIDS_PER_COMMUNITY} grids")
    return _LETTERS[k // 1296] + _B36[(k // 36) % 36] + _B36[k % 36]


# --------------------------------------------------------------------------- generation


@dataclass(slots=True)
class _Piece:
    geom: Any
    row: int
    col: int
    area: float
    rep_x: float


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _merge_slivers(pieces: list[_Piece], threshold: float) -> list[list[int]]:
    """Groups of piece indices (union–find); each group becomes one grid."""
    n = len(pieces)
    parent = list(range(n))
    garea = [p.area for p in pieces]
    small = sorted((i for i in range(n) if pieces[i].area < threshold), key=lambda i: (pieces[i].area, i))
    if small:
        geoms = np.asarray([p.geom for p in pieces], dtype=object)
        tree = shapely.STRtree(geoms)
        for i in small:
            ri = _find(parent, i)
            if garea[ri] >= threshold:
                continue  # already grown by an earlier merge
            best: tuple[int, float, int] | None = None
            for j in tree.query(geoms[i], predicate="intersects"):
                j = int(j)
                rj = _find(parent, j)
                if rj == ri:
                    continue
                shared = float(shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)))
                if shared <= 0.0:
                    continue  # touching at a point only: the union would not be one polygon
                key = (1 if garea[rj] >= threshold else 0, shared, -j)
                if best is None or key > (best[0], best[1], -best[2]):
                    best = (key[0], shared, j)
            if best is None:
                continue
            rj = _find(parent, best[2])
            parent[ri] = rj
            garea[rj] += garea[ri]
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_find(parent, i), []).append(i)
    return list(groups.values())


def _union(geoms: Sequence[Any]) -> Any:
    if len(geoms) == 1:
        return geoms[0]
    merged = shapely.union_all(np.asarray(geoms, dtype=object))
    if merged.geom_type == "Polygon":
        return merged
    # Pieces cut from neighbouring squares share their lattice edges exactly; should rounding in the
    # clipped corners ever leave a hairline, keep the largest polygon if only one remains, else repair.
    polys = [p for p in shapely.get_parts(merged) if p.geom_type == "Polygon"]
    if len(polys) == 1:
        return polys[0]
    return shapely.make_valid(merged, method="structure", keep_collapsed=False)


def generate_grids(
    communities: Iterable[Area],
    *,
    cell_m2: float = 10_000.0,
    sliver_fraction: float = 0.3,
    projection: LocalProjection | None = None,
) -> list[Grid]:
    """Cut unit grids of about ``cell_m2`` square metres out of the communities (see module doc).

    Deterministic: the lattice is anchored on the projection origin (by default the centre of the
    communities' bounding box, rounded to 0.01°) offset by half a cell, and nothing is random.
    """
    comms = sorted(communities, key=lambda a: a.code)
    if cell_m2 <= 0:
        raise ValueError("cell_m2 must be positive")
    for c in comms:
        if c.level != AreaLevel.COMMUNITY or len(c.code) != 12:
            raise ValueError(f"{c.code} is not a 12-digit community")
    if not comms:
        return []
    bounds = shapely.bounds(np.asarray([c.geometry for c in comms], dtype=object))
    minx, miny = float(bounds[:, 0].min()), float(bounds[:, 1].min())
    maxx, maxy = float(bounds[:, 2].max()), float(bounds[:, 3].max())
    if projection is None:
        projection = LocalProjection(round((minx + maxx) / 2, 2), round((miny + maxy) / 2, 2))
    side = math.sqrt(cell_m2)
    step_lon = side / projection.kx
    step_lat = side / projection.ky
    # Lattice line k is at ox + k·step, half a cell off the projection origin so that round
    # coordinates (the origin is rounded to 0.01°) fall inside cells, not on their edges.
    ox = projection.lon0 + step_lon / 2
    oy = projection.lat0 + step_lat / 2
    # Rows are numbered from the north, columns from the west.
    k_min = math.floor((minx - ox) / step_lon) - 1
    j_max = math.ceil((maxy - oy) / step_lat) + 1
    threshold = sliver_fraction * cell_m2
    grids: list[Grid] = []
    for comm in comms:
        geom = comm.geometry
        shapely.prepare(geom)
        cminx, cminy, cmaxx, cmaxy = geom.bounds
        k0 = math.floor((cminx - ox) / step_lon)
        k1 = math.floor((cmaxx - ox) / step_lon)
        j0 = math.floor((cminy - oy) / step_lat)
        j1 = math.floor((cmaxy - oy) / step_lat)
        ks = np.arange(k0, k1 + 1)
        js = np.arange(j0, j1 + 1)
        kk2, jj2 = np.meshgrid(ks, js)
        kk = kk2.ravel()
        jj = jj2.ravel()
        # Lattice coordinates are computed once per line index, so neighbouring squares share them.
        x_lo = ox + kk * step_lon
        x_hi = ox + (kk + 1) * step_lon
        y_lo = oy + jj * step_lat
        y_hi = oy + (jj + 1) * step_lat
        squares = shapely.box(x_lo, y_lo, x_hi, y_hi)
        inside = shapely.contains_properly(geom, squares)
        touching = ~inside & shapely.intersects(geom, squares)
        pieces: list[_Piece] = []
        rows = (j_max - jj).astype(int)
        cols = (kk - k_min).astype(int)
        for i in np.flatnonzero(inside):
            pieces.append(_Piece(squares[i], int(rows[i]), int(cols[i]), 0.0, float(x_lo[i])))
        idx = np.flatnonzero(touching)
        if idx.size:
            clipped = shapely.intersection(squares[idx], geom)
            parts, owner = shapely.get_parts(clipped, return_index=True)
            for part, o in zip(parts, owner, strict=True):
                if part.geom_type != "Polygon" or part.is_empty or part.area <= 0:
                    continue
                i = idx[o]
                pieces.append(_Piece(part, int(rows[i]), int(cols[i]), 0.0, 0.0))
        if not pieces:
            continue
        geoms = np.asarray([p.geom for p in pieces], dtype=object)
        areas = area_m2(geoms)
        reps = shapely.get_coordinates(shapely.point_on_surface(geoms))
        for p, a, rp in zip(pieces, areas, reps, strict=True):
            p.area = float(a)
            p.rep_x = float(rp[0])
        groups = _merge_slivers(pieces, threshold)
        cells: list[tuple[tuple[int, int, float], Any, float, int, int]] = []
        for members in groups:
            anchor = max(members, key=lambda m: (pieces[m].area, -m))
            ap = pieces[anchor]
            g = _union([pieces[m].geom for m in sorted(members)])
            area = float(sum(pieces[m].area for m in members))
            cells.append(((ap.row, ap.col, ap.rep_x), g, area, ap.row, ap.col))
        cells.sort(key=lambda c: c[0])
        if len(cells) > MAX_GRIDS_PER_COMMUNITY:
            raise ValueError(f"community {comm.code} would need {len(cells)} grids; use a larger cell_m2")
        for n, (_, g, area, row, col) in enumerate(cells, start=1):
            grids.append(Grid(comm.code + grid_number(n), g, comm.code, area, row, col, True))
    return grids


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class GridStats:
    count: int
    communities: int
    max_per_community: int
    total_km2: float
    min_m2: float
    p5_m2: float
    median_m2: float
    mean_m2: float
    p95_m2: float
    max_m2: float
    sliver_threshold_m2: float
    slivers: int
    multipart: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__slots__}


def grid_stats(
    grids: Sequence[Grid], *, cell_m2: float = 10_000.0, sliver_fraction: float = 0.3
) -> GridStats:
    """Area distribution; a sliver is a grid smaller than ``sliver_fraction × cell_m2``."""
    if not grids:
        return GridStats(0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, sliver_fraction * cell_m2, 0, 0)
    a = np.asarray([g.area_m2 for g in grids], dtype=np.float64)
    per: dict[str, int] = {}
    for g in grids:
        per[g.community_code] = per.get(g.community_code, 0) + 1
    p5, med, p95 = np.percentile(a, [5, 50, 95])
    thr = sliver_fraction * cell_m2
    multipart = sum(1 for g in grids if g.geometry.geom_type != "Polygon")
    return GridStats(
        count=len(grids),
        communities=len(per),
        max_per_community=max(per.values()),
        total_km2=float(a.sum() / 1e6),
        min_m2=float(a.min()),
        p5_m2=float(p5),
        median_m2=float(med),
        mean_m2=float(a.mean()),
        p95_m2=float(p95),
        max_m2=float(a.max()),
        sliver_threshold_m2=thr,
        slivers=int((a < thr).sum()),
        multipart=multipart,
    )


# --------------------------------------------------------------------------- import / export


def import_grids(
    source: str | Path | Mapping[str, Any],
    *,
    crs: str | int | Crs | SourceCrs | None = None,
    layer: str | None = None,
    repair: bool = True,
    code_field: str | None = None,
    community_field: str | None = None,
) -> list[Grid]:
    """Import a city's existing grid layer; raises :class:`BoundaryImportError` naming every bad feature.

    Codes (``code_field`` or ``code``/``grid_code``/``wgbm``/``bm``) must be 15 characters [0-9A-Z]
    (upper case) and unique; the community is ``community_field``/``community_code`` or the code's first
    12 characters. Geometries must be (or be repairable into) valid polygons.
    """
    feats, _ = read_features(source, crs=crs, layer=layer)
    problems: list[FeatureProblem] = []
    grids: list[Grid] = []
    seen: dict[str, int] = {}
    for f in feats:
        raw = None
        for k in (code_field, "code", "grid_code", "wgbm", "WGBM", "bm"):
            if k and f.properties.get(k) not in (None, ""):
                raw = f.properties[k]
                break
        code = None if raw is None else str(int(raw) if isinstance(raw, float) else raw).strip()
        if f.problem:
            problems.append(FeatureProblem(f.index, code, f.problem))
            continue
        if not code:
            problems.append(FeatureProblem(f.index, None, "no grid code property (code/grid_code/wgbm)"))
            continue
        if not GRID_CODE_RE.match(code):
            problems.append(
                FeatureProblem(
                    f.index, code, "a grid code must be 15 characters, digits or upper-case letters"
                )
            )
            continue
        if code in seen:
            problems.append(
                FeatureProblem(f.index, code, f"duplicate grid code (also feature #{seen[code]})")
            )
            continue
        seen[code] = f.index
        geom, problem, _warning = validate_polygonal(f.geometry, repair=repair)
        if problem:
            problems.append(FeatureProblem(f.index, code, problem))
            continue
        comm = None
        for k in (community_field, "community_code"):
            if k and f.properties.get(k) not in (None, ""):
                comm = str(f.properties[k])
        community = comm or code[:12]
        if not code.startswith(community):
            problems.append(
                FeatureProblem(f.index, code, f"code does not start with its community {community}")
            )
            continue
        grids.append(Grid(code, geom, community, float(area_m2(geom)), None, None, False))
    if problems:
        raise BoundaryImportError(problems, source=str(source) if not isinstance(source, Mapping) else "")
    return grids


#: Overlaps smaller than this (m²) are digitising noise (a shared edge drawn twice), not an overlap.
OVERLAP_TOLERANCE_M2 = 1.0


@dataclass(frozen=True, slots=True)
class GridCoverage:
    """How a grid layer covers its ground: the pairs of grids that overlap (with the shared area) and
    the area inside the communities (or, without them, inside the layer's outline) that no grid covers."""

    overlaps: tuple[tuple[int, str, str, float], ...]  # (position of the 2nd grid, code, other code, m²)
    gap_m2: float
    gap_parts: int

    @property
    def overlap_m2(self) -> float:
        return sum(m2 for *_, m2 in self.overlaps)

    def overlap_problems(self) -> list[FeatureProblem]:
        """One problem a pair, on the later grid of the pair (its position = its feature's index)."""
        return [FeatureProblem(i, b, f"overlaps grid {a} by {m2:,.1f} m²") for i, b, a, m2 in self.overlaps]


def grid_coverage(grids: Sequence[Grid], communities: Sequence[Any] = ()) -> GridCoverage:
    """Overlaps between grids (above :data:`OVERLAP_TOLERANCE_M2`) and gaps: the part of *communities*
    (WGS84 polygons of the communities the grids belong to) that no grid covers, or, when none are
    given, the holes inside the union of the grids."""
    geoms = np.asarray([g.geometry for g in grids], dtype=object)
    tree = shapely.STRtree(geoms)
    # Neighbours that only share an edge "intersect" too: keep the pairs whose interiors meet (DE-9IM
    # T********), then measure those (vectorised: a real layer has ~4 neighbours a grid).
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    inner = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    left, right = left[inner], right[inner]
    shared = area_m2(shapely.intersection(geoms[left], geoms[right])) if len(left) else np.zeros(0)
    pairs = zip(left.tolist(), right.tolist(), np.atleast_1d(shared).tolist(), strict=True)
    overlaps = [(j, grids[j].code, grids[i].code, m2) for i, j, m2 in pairs if m2 > OVERLAP_TOLERANCE_M2]
    union = shapely.union_all(geoms) if len(geoms) else shapely.from_wkt("POLYGON EMPTY")
    if communities:
        gap = shapely.difference(shapely.union_all(list(communities)), union)
    else:
        holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
        gap = shapely.union_all(holes) if holes else shapely.from_wkt("POLYGON EMPTY")
    pieces = [p for p in shapely.get_parts(gap) if p.geom_type == "Polygon"]
    parts = [p for p in pieces if float(area_m2(p)) > OVERLAP_TOLERANCE_M2]
    gap_m2 = float(sum(float(area_m2(p)) for p in parts))
    return GridCoverage(tuple(overlaps), gap_m2, len(parts))


def grids_to_geojson(grids: Iterable[Grid]) -> dict[str, Any]:
    feats = []
    for g in grids:
        props: dict[str, Any] = {
            "code": g.code,
            "community_code": g.community_code,
            "street_code": g.street_code,
            "district_code": g.district_code,
            "area_m2": round(g.area_m2, 1),
        }
        if g.row is not None:
            props["row"] = g.row
            props["col"] = g.col
        if g.generated:
            props["generated"] = True
        feats.append({"type": "Feature", "properties": props, "geometry": mapping(g.geometry)})
    return {"type": "FeatureCollection", "features": feats}


def write_geojson(doc: Mapping[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
