"""Metric helpers: a local projection for building metric lattices, areas in m², distances.

The city is small (Taiyuan's urban core spans ~0.3° of latitude), so a local equirectangular projection
around the city centre is used to lay out lattices in metres: x = R·cos(φ0)·(λ-λ0), y = R·(φ-φ0). Its
lattice lines are meridians and parallels, so the unit grids it makes are axis-aligned in WGS84 too.
Its scale error in x is tan(φ0)·Δφ ≈ 0.17 % at 0.12° from φ0 in Taiyuan — harmless for laying out cells.

Areas are measured with the sinusoidal projection on the authalic sphere, which is equal-area, so
``area_m2`` is exact up to the ellipsoid-vs-sphere difference (well under 0.5 % at this latitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from civicloop.geo.crs import FloatArray

__all__ = ["EARTH_RADIUS_M", "LocalProjection", "area_m2", "bbox_for_radius", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius, used for distances
_AUTHALIC_RADIUS_M = 6_371_007.2  # radius of the sphere with the WGS84 ellipsoid's surface area
_DEG = math.pi / 180.0


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection centred on (lon0, lat0), in metres."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        """Metres per degree of longitude at lat0."""
        return EARTH_RADIUS_M * _DEG * math.cos(self.lat0 * _DEG)

    @property
    def ky(self) -> float:
        """Metres per degree of latitude."""
        return EARTH_RADIUS_M * _DEG

    def forward(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def inverse(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / self.ky + self.lat0

    def to_metric(self, geometry: Any) -> Any:
        """Project shapely geometries (scalar or array) from WGS84 degrees to local metres."""
        kx, ky, lon0, lat0 = self.kx, self.ky, self.lon0, self.lat0
        return shapely.transform(
            geometry, lambda c: np.column_stack(((c[:, 0] - lon0) * kx, (c[:, 1] - lat0) * ky))
        )

    def to_wgs84(self, geometry: Any) -> Any:
        """Inverse of :meth:`to_metric`."""
        kx, ky, lon0, lat0 = self.kx, self.ky, self.lon0, self.lat0
        return shapely.transform(
            geometry, lambda c: np.column_stack((c[:, 0] / kx + lon0, c[:, 1] / ky + lat0))
        )


def _sinusoidal(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    lat = coords[:, 1] * _DEG
    x = _AUTHALIC_RADIUS_M * coords[:, 0] * _DEG * np.cos(lat)
    y = _AUTHALIC_RADIUS_M * lat
    return np.column_stack((x, y))


def area_m2(geometry: Any) -> Any:
    """Area in m² of WGS84 geometries (a shapely geometry → float, an array → float64 array)."""
    return shapely.area(shapely.transform(geometry, _sinusoidal))


def haversine_m(
    lon1: float | FloatArray, lat1: float | FloatArray, lon2: float | FloatArray, lat2: float | FloatArray
) -> Any:
    """Great-circle distance in metres (vectorised; broadcasts like numpy; floats in → float out)."""
    p1 = np.asarray(lat1, dtype=np.float64) * _DEG
    p2 = np.asarray(lat2, dtype=np.float64) * _DEG
    dp = p2 - p1
    dl = (np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64)) * _DEG
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    d = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    if np.ndim(d) == 0:
        return float(d)
    return d


def bbox_for_radius(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of a box that contains every point within radius_m.

    Meant as an index-friendly SQL prefilter (``lon BETWEEN … AND lat BETWEEN …``) before the exact
    ``haversine_m`` test. The longitude span is the exact half-width of a spherical cap (its tangent
    meridians), so the box never cuts the circle; near a pole (or for huge radii) it spans all longitudes.
    """
    if radius_m < 0:
        raise ValueError("radius_m must be >= 0")
    ang = radius_m / EARTH_RADIUS_M  # angular radius
    dlat = ang / _DEG
    min_lat = lat - dlat
    max_lat = lat + dlat
    if min_lat <= -90.0 or max_lat >= 90.0:
        return -180.0, max(min_lat, -90.0), 180.0, min(max_lat, 90.0)
    # The meridians tangent to the circle are at Δλ = asin(sin a / cos φ) (exact on the sphere).
    s = math.sin(ang) / math.cos(lat * _DEG)
    if s >= 1.0:
        return -180.0, min_lat, 180.0, max_lat
    dlon = math.asin(s) / _DEG
    return lon - dlon, min_lat, lon + dlon, max_lat
