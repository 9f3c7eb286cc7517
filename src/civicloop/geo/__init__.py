"""The pure geography layer: coordinate systems, administrative areas, unit grids, point location.

No database here: persistence is layered on top of these in-memory structures. See docs/geography.md.
"""

from civicloop.geo.boundaries import (
    Area,
    AreaLevel,
    BoundaryImportError,
    FeatureProblem,
    ImportResult,
    areas_to_geojson,
    import_areas,
)
from civicloop.geo.crs import (
    Crs,
    bd09_to_wgs84,
    convert,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from civicloop.geo.demo import DemoGeography, build_demo_geography, load_taiyuan_districts
from civicloop.geo.grids import Grid, GridStats, generate_grids, grid_stats, grids_to_geojson, import_grids
from civicloop.geo.locator import GridLocator, Location, OutsideCityError
from civicloop.geo.projection import LocalProjection, area_m2, bbox_for_radius, haversine_m
from civicloop.geo.subdivisions import DEMO_EXTENT, generate_demo_subdivisions

__all__ = [
    "DEMO_EXTENT",
    "Area",
    "AreaLevel",
    "BoundaryImportError",
    "Crs",
    "DemoGeography",
    "FeatureProblem",
    "Grid",
    "GridLocator",
    "GridStats",
    "ImportResult",
    "LocalProjection",
    "Location",
    "OutsideCityError",
    "area_m2",
    "areas_to_geojson",
    "bbox_for_radius",
    "bd09_to_wgs84",
    "build_demo_geography",
    "convert",
    "gcj02_to_wgs84",
    "generate_demo_subdivisions",
    "generate_grids",
    "grid_stats",
    "grids_to_geojson",
    "haversine_m",
    "import_areas",
    "import_grids",
    "load_taiyuan_districts",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
