"""Coordinate systems and distance helpers (civicloop.geo.crs, civicloop.geo.projection)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from civicloop.geo.crs import (
    Crs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from civicloop.geo.projection import LocalProjection, area_m2, bbox_for_radius, haversine_m


def test_reference_vectors_of_the_public_algorithm() -> None:
    # The test vector published with the widely used coordtransform library (Tiananmen).
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)
    # Its closed-form BD-09 inverse is good to ~1e-6°; ours is refined to be exact.
    assert bd09_to_gcj02(116.404, 39.915) == pytest.approx((116.39762729119315, 39.90865673957631), abs=1e-6)


def test_gcj02_offset_in_taiyuan_is_hundreds_of_metres() -> None:
    lon, lat = 112.55, 37.87
    glon, glat = wgs84_to_gcj02(lon, lat)
    d = haversine_m(lon, lat, glon, glat)
    assert 300 < d < 800


def test_gcj02_inverse_is_below_1e7_degrees_vectorised() -> None:
    rng = np.random.default_rng(3)
    lon = rng.uniform(73.0, 135.0, 5000)
    lat = rng.uniform(18.0, 53.0, 5000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert isinstance(back_lon, np.ndarray) and back_lon.shape == lon.shape
    assert np.abs(back_lon - lon).max() < 1e-7
    assert np.abs(back_lat - lat).max() < 1e-7
    # the forward transform of the inverse reproduces the input
    f_lon, f_lat = wgs84_to_gcj02(back_lon, back_lat)
    assert np.abs(f_lon - glon).max() < 1e-9 and np.abs(f_lat - glat).max() < 1e-9


def test_scalars_in_floats_out() -> None:
    out = gcj02_to_wgs84(112.5, 37.8)
    assert isinstance(out[0], float) and isinstance(out[1], float)


def test_bd09_round_trip() -> None:
    rng = np.random.default_rng(4)
    lon = rng.uniform(111.5, 113.2, 2000)
    lat = rng.uniform(37.4, 38.5, 2000)
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert np.abs(wlon - lon).max() < 1e-7 and np.abs(wlat - lat).max() < 1e-7
    glon, glat = wgs84_to_gcj02(lon, lat)
    b2lon, b2lat = gcj02_to_bd09(glon, glat)
    g2lon, g2lat = bd09_to_gcj02(b2lon, b2lat)
    assert np.abs(g2lon - glon).max() < 1e-9 and np.abs(g2lat - glat).max() < 1e-9
    # scalar path and convert() agree with the dedicated functions
    assert convert(112.55, 37.87, Crs.WGS84, Crs.BD09) == pytest.approx(
        wgs84_to_bd09(112.55, 37.87), abs=1e-12
    )
    assert to_wgs84(*wgs84_to_bd09(112.55, 37.87), Crs.BD09) == pytest.approx((112.55, 37.87), abs=1e-7)


def test_out_of_china_points_are_untouched_by_gcj() -> None:
    assert out_of_china(2.35, 48.85)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    lon = np.array([2.35, 112.55])
    lat = np.array([48.85, 37.87])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon[0] == 2.35 and glat[0] == 48.85
    assert glon[1] != 112.55


def test_nan_is_propagated_not_fatal() -> None:
    glon, _ = gcj02_to_wgs84(np.array([np.nan, 112.5]), np.array([37.8, 37.8]))
    assert np.isnan(glon[0]) and np.isfinite(glon[1])


def test_crs_parse_aliases() -> None:
    assert Crs.parse("WGS84") is Crs.WGS84
    assert Crs.parse("cgcs2000") is Crs.WGS84  # treated as WGS84 on purpose
    assert Crs.parse("EPSG:4490") is Crs.WGS84
    assert Crs.parse("GCJ-02") is Crs.GCJ02
    assert Crs.parse("bd09ll") is Crs.BD09
    with pytest.raises(ValueError, match="unknown coordinate system"):
        Crs.parse("beijing54")


def test_haversine_vectorised_and_known_values() -> None:
    assert haversine_m(112.0, 37.0, 112.0, 38.0) == pytest.approx(111_195, rel=1e-4)
    d = haversine_m(np.array([112.0, 112.0]), np.array([37.0, 37.0]), 112.0, np.array([37.0, 38.0]))
    assert isinstance(d, np.ndarray) and d[0] == 0.0 and d[1] == pytest.approx(111_195, rel=1e-4)


def test_bbox_for_radius_contains_the_circle() -> None:
    lon0, lat0, r = 112.55, 37.87, 1500.0
    minx, miny, maxx, maxy = bbox_for_radius(lon0, lat0, r)
    # points on the circle (by bearing, great-circle destination formula) are inside the box
    br = np.linspace(0, 2 * math.pi, 721)
    ang = r / 6_371_008.8
    p1 = math.radians(lat0)
    p2 = np.arcsin(math.sin(p1) * math.cos(ang) + math.cos(p1) * math.sin(ang) * np.cos(br))
    l2 = math.radians(lon0) + np.arctan2(
        np.sin(br) * math.sin(ang) * math.cos(p1), math.cos(ang) - math.sin(p1) * np.sin(p2)
    )
    lons, lats = np.degrees(l2), np.degrees(p2)
    assert (lons >= minx - 1e-12).all() and (lons <= maxx + 1e-12).all()
    assert (lats >= miny - 1e-12).all() and (lats <= maxy + 1e-12).all()
    # and the box is tight (touches the circle)
    assert lons.max() == pytest.approx(maxx, abs=1e-6) and lats.max() == pytest.approx(maxy, abs=1e-9)
    assert bbox_for_radius(0.0, 89.99, 5000.0)[0] == -180.0
    with pytest.raises(ValueError):
        bbox_for_radius(0.0, 0.0, -1.0)


def test_local_projection_round_trip_and_area() -> None:
    import shapely

    proj = LocalProjection(112.55, 37.83)
    x, y = proj.forward(np.array([112.56]), np.array([37.84]))
    lon, lat = proj.inverse(x, y)
    assert lon[0] == pytest.approx(112.56, abs=1e-12) and lat[0] == pytest.approx(37.84, abs=1e-12)
    # a 0.01° x 0.01° cell at 37.83°N: 1111.95 m x 878.9 m
    cell = shapely.box(112.55, 37.83, 112.56, 37.84)
    assert float(area_m2(cell)) == pytest.approx(1111.95 * 1111.95 * math.cos(math.radians(37.835)), rel=2e-3)
