"""Geography services: the city's stored areas and unit grids, point location, the demo load, placing
simulated reports, and the nearby search on open cases.

The pure algorithms live in :mod:`civicloop.geo`; this module stores their results and serves them. The
tables and every query on them (bulk insert, the version counter, area and grid rows, the prebuilt
nearby query) are in :mod:`civicloop.geo.store`; here are the use cases and the per-process cache:

* :func:`geography_for` — the city's :class:`Geography` (areas, grids and a :class:`GridLocator`), built
  once per process from the database and cached; a per-city version counter, bumped by every geography
  write, makes other processes rebuild after an import. Without stored geography it falls back to the
  in-memory demo, for the demo city only.
* :func:`locate_report_fields` — intake: lon/lat (WGS84, GCJ-02 or BD-09) → grid, community, street,
  district codes and a near-boundary flag; a point outside the city is refused naming ``lon``.
* :func:`load_demo_geography` — the demo city's districts, streets, communities, grids, components and
  duty grids into the database.
* :func:`import_boundaries`, :func:`generate_city_grids` — what ``civicloop geo import`` and
  ``civicloop grid generate`` do.
* :func:`placer_for` — where the simulator's reports happen: inside the stored grids, denser in the
  urban core, with the area codes (and, for component categories, a real component).
* :func:`nearby_open_cases` — open cases of a category within a radius and a time window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection

from civicloop.city.service import City
from civicloop.geo import store
from civicloop.geo.boundaries import Area, AreaLevel, BoundaryImportError, import_areas
from civicloop.geo.crs import Crs, to_wgs84
from civicloop.geo.grids import (
    Grid,
    GridCoverage,
    GridStats,
    generate_grids,
    grid_coverage,
    grid_stats,
    import_grids,
)
from civicloop.geo.locator import GridLocator, Location
from civicloop.geo.projection import area_m2, bbox_for_radius, haversine_m
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.i18n import Msg
from civicloop.profile.models import CityProfile

__all__ = [
    "BoundaryImportReport",
    "Geography",
    "GridGenerationReport",
    "generate_city_grids",
    "geography_for",
    "geography_version",
    "import_boundaries",
    "invalidate_geography",
    "nearby_open_cases",
    "parse_crs_field",
    "store_areas",
    "store_grids",
    "stored_areas",
    "stored_grids",
]

log = logging.getLogger("civicloop.geography")

#: The bundled demo geography is Taiyuan's (division 140100): it may stand in for that city only.
DEMO_DIVISION_PREFIX = "1401"


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the geography object


@dataclass(eq=False)
class Geography:
    """A city's areas and unit grids with a point locator, built once. ``source``: database or demo."""

    districts: list[Area]
    streets: list[Area]
    communities: list[Area]
    grids: list[Grid]
    locator: GridLocator
    source: str
    version: int = 0
    _areas: dict[str, Area] = field(default_factory=dict, repr=False)
    _grids: dict[str, int] = field(default_factory=dict, repr=False)
    _tree: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._areas = {a.code: a for a in (*self.districts, *self.streets, *self.communities)}
        self._grids = {g.code: i for i, g in enumerate(self.grids)}

    @property
    def areas(self) -> list[Area]:
        return [*self.districts, *self.streets, *self.communities]

    def area(self, code: str) -> Area | None:
        return self._areas.get(code)

    def grid(self, code: str) -> Grid | None:
        i = self._grids.get(code)
        return None if i is None else self.grids[i]

    def grid_index(self, code: str) -> int | None:
        return self._grids.get(code)

    def locate(self, lon: float, lat: float, crs: Crs = Crs.WGS84) -> Location:
        """Point → grid, community, street, district (raises OutsideCityError outside every district)."""
        return self.locator.locate(lon, lat, crs)

    def grid_tree(self) -> Any:
        """An STRtree over the grid polygons (index = position in ``grids``), built on first use."""
        if self._tree is None:
            self._tree = shapely.STRtree(np.asarray([g.geometry for g in self.grids], dtype=object))
        return self._tree


def _build(
    areas: Sequence[Area], grids: Sequence[Grid], source: str, version: int, near_boundary_m: float = 30.0
) -> Geography:
    ordered = sorted(grids, key=lambda g: g.code)  # the locator's tie-break: lowest code wins
    by_level: dict[AreaLevel, list[Area]] = {lvl: [] for lvl in AreaLevel}
    for a in sorted(areas, key=lambda a: a.code):
        by_level[a.level].append(a)
    locator = GridLocator(ordered, [*areas], near_boundary_m=near_boundary_m)
    return Geography(
        by_level[AreaLevel.DISTRICT],
        by_level[AreaLevel.STREET],
        by_level[AreaLevel.COMMUNITY],
        ordered,
        locator,
        source,
        version,
    )


# --------------------------------------------------------------------------- storage


def _bounds(geoms: Sequence[Any]) -> Any:
    return shapely.bounds(np.asarray(geoms, dtype=object))


def _wkb(geoms: Sequence[Any]) -> list[bytes]:
    return [bytes(b) for b in shapely.to_wkb(np.asarray(geoms, dtype=object))]


def bump_geography_version(conn: Connection, city_id: str) -> int:
    """Count one more geography change for the city (inside the writing transaction)."""
    for key in [k for k in _VERSION_SEEN if city_id in (k if isinstance(k, tuple) else (k,))]:
        _VERSION_SEEN.pop(key, None)  # this process sees its own change at once
    return store.bump_version(conn, city_id, _now())


def geography_version(city: City, *, max_age_s: float = 0.0) -> int:
    """The city's geography version (0: nothing stored yet).

    ``max_age_s`` accepts an answer read that many seconds ago by this process: locating every report
    of a bulk import need not ask the database whether the boundaries changed a moment ago.
    """
    key = _cache_key(city)
    now = time.monotonic()
    seen = _VERSION_SEEN.get(key)
    if seen is not None and now - seen[1] <= max_age_s:
        return seen[0]
    with city.engine.connect() as conn:
        v = store.stored_version(conn, city.id)
    _VERSION_SEEN[key] = (v, now)
    return v


_VERSION_SEEN: dict[Any, tuple[int, float]] = {}


def store_areas(city: City, areas: Sequence[Area], *, conn: Connection | None = None) -> int:
    """Insert or replace areas (by code) in WGS84; returns how many were written."""
    if not areas:
        return 0
    if conn is None:
        with city.store.write() as c:
            return store_areas(city, areas, conn=c)
    geoms = [a.geometry for a in areas]
    b = _bounds(geoms)
    sizes = area_m2(np.asarray(geoms, dtype=object))
    blobs = _wkb(geoms)
    now = _now()
    rows = [
        {
            "city_id": city.id, "code": a.code, "level": a.level.value, "parent_code": a.parent_code,
            "name": a.name, "geometry": blobs[i], "area_m2": float(sizes[i]),
            "min_lon": float(b[i, 0]), "min_lat": float(b[i, 1]),
            "max_lon": float(b[i, 2]), "max_lat": float(b[i, 3]),
            "generated": a.generated, "note": a.note or None, "source": a.source or None,
            "updated_at": now,
        }
        for i, a in enumerate(areas)
    ]  # fmt: skip
    store.replace_areas(conn, city.id, rows)
    bump_geography_version(conn, city.id)
    return len(rows)


def store_grids(
    city: City,
    grids: Sequence[Grid],
    *,
    source: str = "",
    note: str = "",
    replace_communities: Iterable[str] = (),
    conn: Connection | None = None,
) -> int:
    """Insert or replace grids (by code); first delete every grid of ``replace_communities``."""
    if conn is None:
        with city.store.write() as c:
            return store_grids(
                city, grids, source=source, note=note, replace_communities=replace_communities, conn=c
            )
    store.delete_grids(
        conn, city.id, communities=sorted(set(replace_communities)), codes=[g.code for g in grids]
    )
    if grids:
        geoms = [g.geometry for g in grids]
        b = _bounds(geoms)
        blobs = _wkb(geoms)
        now = _now()
        rows = [
            {
                "city_id": city.id, "grid_code": g.code, "community_code": g.community_code,
                "street_code": g.street_code, "district_code": g.district_code, "geometry": blobs[i],
                "area_m2": float(g.area_m2), "grid_row": g.row, "grid_col": g.col,
                "min_lon": float(b[i, 0]), "min_lat": float(b[i, 1]),
                "max_lon": float(b[i, 2]), "max_lat": float(b[i, 3]),
                "generated": g.generated, "note": note or None, "source": source or None,
                "updated_at": now,
            }
            for i, g in enumerate(grids)
        ]  # fmt: skip
        store.insert_grids(conn, rows)
    bump_geography_version(conn, city.id)
    return len(grids)


def stored_areas(city: City, level: AreaLevel | None = None, *, conn: Connection | None = None) -> list[Area]:
    """The city's stored areas (of one level), ordered by code."""
    if conn is None:
        with city.engine.connect() as c:
            return stored_areas(city, level, conn=c)
    rows = store.area_rows(conn, city.id, None if level is None else AreaLevel(level).value)
    if not rows:
        return []
    geoms = shapely.from_wkb(np.asarray([bytes(r.geometry) for r in rows], dtype=object))
    return [
        Area(r.code, r.name, AreaLevel(r.level), r.parent_code, geoms[i], bool(r.generated), r.note or "",
             r.source or "")
        for i, r in enumerate(rows)
    ]  # fmt: skip


def stored_grids(
    city: City, *, community_prefix: str | None = None, conn: Connection | None = None
) -> list[Grid]:
    """The city's stored grids (optionally those whose community code starts with a prefix), by code."""
    if conn is None:
        with city.engine.connect() as c:
            return stored_grids(city, community_prefix=community_prefix, conn=c)
    rows = store.grid_rows(conn, city.id, community_prefix)
    if not rows:
        return []
    geoms = shapely.from_wkb(np.asarray([bytes(r.geometry) for r in rows], dtype=object))
    return [
        Grid(r.grid_code, geoms[i], r.community_code, float(r.area_m2), r.grid_row, r.grid_col,
             bool(r.generated))
        for i, r in enumerate(rows)
    ]  # fmt: skip


# --------------------------------------------------------------------------- the provider (cached)

_CACHE: dict[tuple[str, str], Geography] = {}
_LOCK = threading.Lock()


def _cache_key(city: City) -> tuple[str, str]:
    return (city.engine.url.render_as_string(hide_password=True), city.id)


def invalidate_geography(city: City | None = None) -> None:
    """Forget cached geographies (of one city, or all)."""
    with _LOCK:
        if city is None:
            _CACHE.clear()
            _VERSION_SEEN.clear()
        else:
            _CACHE.pop(_cache_key(city), None)
            _VERSION_SEEN.pop(_cache_key(city), None)


def _load_stored(city: City, version: int) -> Geography | None:
    with city.engine.connect() as conn:
        areas = stored_areas(city, conn=conn)
        grids = stored_grids(city, conn=conn)
    if not any(a.level is AreaLevel.DISTRICT for a in areas):
        return None
    started = _now()
    geo = _build(areas, grids, "database", version)
    log.info(
        "geography of %s v%d: %d areas, %d grids, built in %.2f s",
        city.id, version, len(areas), len(grids), (_now() - started).total_seconds(),
    )  # fmt: skip
    return geo


@lru_cache(maxsize=1)
def _demo_geography(boundaries: str | None = None, locale: str = "zh-CN") -> Geography:
    from civicloop.geo.demo import build_demo_geography

    demo = build_demo_geography(boundaries=boundaries, locale=locale)
    return Geography(demo.districts, demo.streets, demo.communities, demo.grids, demo.locator, "demo", 0)


def is_demo_city(profile: CityProfile) -> bool:
    """Demo geography can be generated for this city: it has its own boundary file (``boundaries``), or
    it is the demo city whose real districts are bundled (Taiyuan, division 1401xx)."""
    if profile.boundaries is not None:
        return True
    return (profile.division_code or "").startswith(DEMO_DIVISION_PREFIX)


def geography_for(city: City, *, demo_fallback: bool = True) -> Geography | None:
    """The city's geography: from the database (built once per process and version), else the in-memory
    demo for the demo city (``demo_fallback``), else None. A change of the stored geography is seen
    within a few seconds in every process."""
    version = geography_version(city, max_age_s=5.0)
    key = _cache_key(city)
    if version > 0:
        with _LOCK:
            cached = _CACHE.get(key)
            if cached is not None and cached.version == version:
                return cached
            geo = _load_stored(city, version)
            if geo is not None:
                _CACHE[key] = geo
                return geo
    if demo_fallback and is_demo_city(city.profile):
        return _demo_geography(city.profile.boundaries_path(), city.profile.default_locale)
    return None


# --------------------------------------------------------------------------- intake: locate a report


def parse_crs_field(value: Any) -> Crs:
    """The ``crs`` report field (wgs84, gcj02, bd09; cgcs2000 = wgs84) → Crs; InvalidField otherwise."""
    if value is None or value == "":
        return Crs.WGS84
    try:
        return Crs.parse(str(value))
    except ValueError:
        raise InvalidField("crs", Msg("reasons.the_coordinate_system_must_be_wgs84")) from None


# --------------------------------------------------------------------------- imports and generation


@dataclass(frozen=True, slots=True)
class BoundaryImportReport:
    level: str
    count: int
    crs: str
    total_km2: float
    warnings: tuple[str, ...] = ()
    missing_parents: tuple[str, ...] = ()
    stats: GridStats | None = None
    coverage: GridCoverage | None = None  # grids: overlaps (refused unless allowed) and gaps


def import_boundaries(
    city: City,
    source: str | Path | Mapping[str, Any],
    *,
    level: str,
    crs: str | None = None,
    layer: str | None = None,
    repair: bool = True,
    dry_run: bool = False,
    allow_overlaps: bool = False,
) -> BoundaryImportReport:
    """Validate a boundary file (any CRS it declares, stored as WGS84) and store it (unless dry_run).

    Areas replace stored areas with the same code; grids replace stored grids with the same code.
    Raises :class:`BoundaryImportError` (nothing stored) naming every bad feature. Grids that overlap
    each other are refused (naming both codes and the shared area) unless ``allow_overlaps``; the area
    of the stored communities that no grid covers is reported as the gap.
    """
    lvl = level.strip().lower()
    if lvl == "grid":
        grids = import_grids(source, crs=crs, layer=layer, repair=repair)
        st = grid_stats(grids)
        communities = {a.code: a.geometry for a in stored_areas(city, AreaLevel.COMMUNITY)}
        missing = sorted({g.community_code for g in grids} - communities.keys()) if communities else []
        covered = sorted({g.community_code for g in grids} & communities.keys())
        coverage = grid_coverage(grids, [communities[c] for c in covered])
        if coverage.overlaps and not allow_overlaps:
            raise BoundaryImportError(
                coverage.overlap_problems(), source=str(source) if not isinstance(source, Mapping) else ""
            )
        if not dry_run:
            store_grids(city, grids, source=str(source) if not isinstance(source, Mapping) else "import")
            invalidate_geography(city)
        return BoundaryImportReport("grid", len(grids), crs or "declared", st.total_km2,
                                    missing_parents=tuple(missing), stats=st, coverage=coverage)  # fmt: skip
    if lvl not in ("district", "street", "community"):
        raise BoundaryImportError("level must be district, street, community or grid")
    res = import_areas(source, level=AreaLevel(lvl), crs=crs, layer=layer, repair=repair)
    total = float(sum(float(area_m2(a.geometry)) for a in res.areas) / 1e6)
    missing = []
    if lvl != "district":
        parents = {a.code for a in stored_areas(city)}
        missing = sorted({a.parent_code for a in res.areas if a.parent_code and a.parent_code not in parents})
    if not dry_run:
        src = str(source) if not isinstance(source, Mapping) else "import"
        areas = [
            Area(a.code, a.name, a.level, a.parent_code, a.geometry, a.generated, a.note, a.source or src)
            for a in res.areas
        ]
        store_areas(city, areas)
        invalidate_geography(city)
    return BoundaryImportReport(
        lvl, len(res.areas), res.crs.label, total, tuple(str(w) for w in res.warnings), tuple(missing)
    )


@dataclass(frozen=True, slots=True)
class GridGenerationReport:
    grids: list[Grid]
    stats: GridStats
    communities: int
    replaced: int
    slivers: list[Grid]


def generate_city_grids(
    city: City,
    *,
    cell_m2: float = 10_000.0,
    sliver_fraction: float = 0.3,
    community_prefix: str | None = None,
    replace_imported: bool = False,
    dry_run: bool = False,
) -> GridGenerationReport:
    """Cut unit grids out of the stored communities (all, or those under a code prefix) and store them.

    Existing grids of those communities are replaced. Imported (not generated) grids are kept unless
    ``replace_imported``: a city's official layer must not disappear because someone ran ``generate``.
    """
    comms = stored_areas(city, AreaLevel.COMMUNITY)
    if community_prefix:
        comms = [c for c in comms if c.code.startswith(community_prefix)]
    if not comms:
        raise ValueError(
            "no communities stored" + (f" under {community_prefix}" if community_prefix else "")
            + ": import them (civicloop geo import FILE --level community) or load the demo "
            "(civicloop geo load-demo)"
        )  # fmt: skip
    codes = {c.code for c in comms}
    existing = [g for g in stored_grids(city, community_prefix=community_prefix) if g.community_code in codes]
    imported = sorted({g.community_code for g in existing if not g.generated})
    if imported and not replace_imported:
        raise ValueError(
            f"{len(imported)} of these communities have imported (official) grids, e.g. {imported[0]}; "
            "pass --replace-imported to overwrite them, or --community to choose others"
        )
    grids = generate_grids(comms, cell_m2=cell_m2, sliver_fraction=sliver_fraction)
    st = grid_stats(grids, cell_m2=cell_m2, sliver_fraction=sliver_fraction)
    slivers = sorted((g for g in grids if g.area_m2 < st.sliver_threshold_m2), key=lambda g: g.area_m2)
    if not dry_run:
        store_grids(
            city, grids, source="generated", note=f"generated, cell {cell_m2:g} m²", replace_communities=codes
        )
        invalidate_geography(city)
    return GridGenerationReport(grids, st, len(comms), len(existing), slivers)


# --------------------------------------------------------------------------- the demo


# --------------------------------------------------------------------------- the simulator's placer


# --------------------------------------------------------------------------- nearby search


def nearby_open_cases(
    city: City,
    category_code: str,
    lon: float,
    lat: float,
    radius_m: float,
    since: datetime | None = None,
    *,
    crs: Crs = Crs.WGS84,
    limit: int | None = None,
    conn: Connection | None = None,
) -> list[tuple[str, float]]:
    """Open cases of ``category_code`` within ``radius_m`` of the point, reported at or after ``since``:
    ``[(case_id, distance_m)]``, nearest first (ties by case id).

    The index ``ix_cases_open_nearby`` (open cases only: city, category, lat, lon, created_at, case_id)
    answers the box of :func:`bbox_for_radius` without touching the table; the exact great-circle
    distance then drops the box's corners.
    """
    if radius_m < 0:
        raise ValueError("radius_m must be >= 0")
    wlon, wlat = to_wgs84(float(lon), float(lat), Crs(crs))
    w, s, e, n = bbox_for_radius(wlon, wlat, radius_m)
    if conn is None:
        with city.engine.connect() as c:
            rows = store.nearby_open_rows(c, city.id, category_code, (w, s, e, n), since)
    else:
        rows = store.nearby_open_rows(conn, city.id, category_code, (w, s, e, n), since)
    if not rows:
        return []
    d = haversine_m(wlon, wlat, np.asarray([r.lon for r in rows]), np.asarray([r.lat for r in rows]))
    hits = sorted(
        ((r.case_id, float(dist)) for r, dist in zip(rows, d, strict=True) if dist <= radius_m),
        key=lambda t: (t[1], t[0]),
    )
    return hits[:limit] if limit is not None else hits


def count_stored(city: City) -> dict[str, int]:
    """Rows per geography table for the city (for the CLI and tests)."""
    with city.engine.connect() as conn:
        return store.count_rows(conn, city.id)


def today_in(city: City, moment: datetime | None = None) -> date:
    """The local date of a moment (default now) in the city's time zone."""
    from zoneinfo import ZoneInfo

    return (moment or _now()).astimezone(ZoneInfo(city.profile.timezone)).date()
