"""Coordinate systems used by Chinese maps: WGS84, GCJ-02 and BD-09.

Rule of the project: **store WGS84, convert at the edges**. Every coordinate that enters (a report from
an AMap/Gaode or Tencent map in GCJ-02, a Baidu map in BD-09) is converted to WGS84 once, on the way
in, and every polygon test runs in WGS84. Never compare a GCJ-02 point with a WGS84 polygon: the offset
is several hundred metres in Taiyuan, i.e. a few unit grids.

The algorithms are the well-known public ones (the same constants as every open implementation,
e.g. ``eviltransform`` / ``coordtransform``): the GCJ-02 obfuscation is a closed-form forward
function of WGS84 with no published inverse, so ``gcj02_to_wgs84`` inverts it by fixed-point iteration
(it converges because the offset varies slowly: each step divides the error by ~1e4); BD-09 is a
closed-form transform on top of GCJ-02 whose usual published inverse is approximate, so it is refined
the same way. Points outside China are left untouched by the GCJ-02 step (as the real services do).

All functions accept Python floats (and return floats) or numpy arrays (and return float64 arrays).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import overload

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "Crs",
    "FloatArray",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# Inversions stop when the forward transform of the estimate is within this of the target (degrees).
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30


class Crs(StrEnum):
    """A coordinate reference system as spoken by Chinese map clients.

    CGCS2000 (China Geodetic Coordinate System 2000, EPSG:4490: the national datum, Tianditu and the
    GB/T standards data) is treated as WGS84: both are ITRF-aligned geocentric datums whose ellipsoids
    differ only in the flattening's 11th significant digit, and the realisations differ by a few
    centimetres to about a metre at most, far below the size of a unit grid (~100 m) and the accuracy
    of a phone GPS fix. So there is no separate member: ``Crs.parse("cgcs2000")`` returns ``WGS84``.
    """

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, value: str) -> Crs:
        """Parse a user-supplied name: wgs84, gcj02, bd09, plus common aliases (EPSG:4326, CGCS2000…)."""
        key = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        aliases = {
            "wgs84": cls.WGS84,
            "epsg4326": cls.WGS84,
            "epsg:4326": cls.WGS84,
            "4326": cls.WGS84,
            "crs84": cls.WGS84,
            "gps": cls.WGS84,
            "cgcs2000": cls.WGS84,
            "epsg4490": cls.WGS84,
            "epsg:4490": cls.WGS84,
            "4490": cls.WGS84,
            "gcj02": cls.GCJ02,
            "gcj": cls.GCJ02,
            "amap": cls.GCJ02,
            "gaode": cls.GCJ02,
            "tencent": cls.GCJ02,
            "mars": cls.GCJ02,
            "bd09": cls.BD09,
            "bd09ll": cls.BD09,
            "baidu": cls.BD09,
        }
        try:
            return aliases[key]
        except KeyError:
            raise ValueError(
                f"unknown coordinate system {value!r}; expected one of wgs84, gcj02, bd09 "
                "(cgcs2000 is accepted as wgs84)"
            ) from None


def _as_arrays(lon: float | FloatArray, lat: float | FloatArray) -> tuple[FloatArray, FloatArray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    return x, y, bool(scalar)


def _out_of_china(x: FloatArray, y: FloatArray) -> NDArray[np.bool_]:
    # The rectangle every public implementation uses; NaN compares False and so counts as outside.
    inside = (x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271)
    return ~inside


def _transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret = ret + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret = ret + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret = ret + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret = ret + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret = ret + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret = ret + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(dlon, dlat) in degrees such that gcj = wgs + offset (for points inside China)."""
    dlat = _transform_lat(x - 105.0, y - 35.0)
    dlon = _transform_lon(x - 105.0, y - 35.0)
    radlat = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(x, y)
    outside = _out_of_china(x, y)
    return np.where(outside, x, x + dlon), np.where(outside, y, y + dlat)


def _gcj_to_wgs(gx: FloatArray, gy: FloatArray) -> tuple[FloatArray, FloatArray]:
    outside = _out_of_china(gx, gy)
    wx = gx.copy()
    wy = gy.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_offset(wx, wy)
        ex = wx + dlon - gx
        ey = wy + dlat - gy
        wx = wx - ex
        wy = wy - ey
        err = np.maximum(np.abs(ex), np.abs(ey))
        err = np.where(outside | np.isnan(err), 0.0, err)
        if err.size == 0 or float(err.max()) < _INVERSE_TOL_DEG:
            break
    return np.where(outside, gx, wx), np.where(outside, gy, wy)


def _gcj_to_bd(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(bx: FloatArray, by: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The published closed form is accurate to ~1e-6°; refine it so the round trip is exact to 1e-10°.
    x = bx - 0.0065
    y = by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx = z * np.cos(theta)
    gy = z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = _gcj_to_bd(gx, gy)
        ex = fx - bx
        ey = fy - by
        gx = gx - ex
        gy = gy - ey
        err = np.maximum(np.abs(ex), np.abs(ey))
        err = np.where(np.isnan(err), 0.0, err)
        if err.size == 0 or float(err.max()) < _INVERSE_TOL_DEG:
            break
    return gx, gy


def _result(
    x: FloatArray, y: FloatArray, scalar: bool
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    if scalar:
        return float(x), float(y)
    return x, y


@overload
def out_of_china(lon: float, lat: float) -> bool: ...
@overload
def out_of_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]: ...
def out_of_china(lon: float | FloatArray, lat: float | FloatArray) -> bool | NDArray[np.bool_]:
    """True where the GCJ-02 obfuscation does not apply (outside the rough rectangle around China)."""
    x, y, scalar = _as_arrays(lon, lat)
    res = _out_of_china(x, y)
    return bool(res) if scalar else res


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_wgs_to_gcj(x, y), scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Inverse of :func:`wgs84_to_gcj02` by iteration; forward(result) is within 1e-10° of the input."""
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_to_wgs(x, y), scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_bd09(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_to_bd(x, y), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_gcj02(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_bd_to_gcj(x, y), scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_bd09(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_wgs84(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)


def _convert_arrays(x: FloatArray, y: FloatArray, src: Crs, dst: Crs) -> tuple[FloatArray, FloatArray]:
    if src == dst:
        return x.copy(), y.copy()
    # Go through WGS84 (the storage system) unless the pair is the direct GCJ-02/BD-09 step.
    if src == Crs.GCJ02 and dst == Crs.BD09:
        return _gcj_to_bd(x, y)
    if src == Crs.BD09 and dst == Crs.GCJ02:
        return _bd_to_gcj(x, y)
    if src == Crs.GCJ02:
        wx, wy = _gcj_to_wgs(x, y)
    elif src == Crs.BD09:
        wx, wy = _gcj_to_wgs(*_bd_to_gcj(x, y))
    else:
        wx, wy = x, y
    if dst == Crs.WGS84:
        return wx.copy(), wy.copy()
    gx, gy = _wgs_to_gcj(wx, wy)
    if dst == Crs.GCJ02:
        return gx, gy
    return _gcj_to_bd(gx, gy)


@overload
def convert(lon: float, lat: float, src: Crs, dst: Crs) -> tuple[float, float]: ...
@overload
def convert(lon: FloatArray, lat: FloatArray, src: Crs, dst: Crs) -> tuple[FloatArray, FloatArray]: ...
def convert(
    lon: float | FloatArray, lat: float | FloatArray, src: Crs, dst: Crs
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Convert coordinates between any two of the supported systems."""
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_convert_arrays(x, y, Crs(src), Crs(dst)), scalar)


@overload
def to_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]: ...
@overload
def to_wgs84(lon: FloatArray, lat: FloatArray, crs: Crs) -> tuple[FloatArray, FloatArray]: ...
def to_wgs84(
    lon: float | FloatArray, lat: float | FloatArray, crs: Crs
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Bring coordinates into the storage system (WGS84)."""
    x, y, scalar = _as_arrays(lon, lat)
    return _result(*_convert_arrays(x, y, Crs(crs), Crs.WGS84), scalar)
