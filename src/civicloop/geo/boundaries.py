"""Administrative areas (区 / 街道 / 社区) and the import of boundary files.

Formats: GeoJSON (RFC 7946, plus the legacy ``crs`` member), ESRI Shapefile (``.shp`` or a ``.zip``,
through GDAL/pyogrio; its ``.prj`` declares the system) and GeoPackage (read with the standard
library's sqlite3; the GeoPackage geometry blob header is parsed here and its WKB body handed to
``shapely.from_wkb``). Everything is brought into WGS84 on the way in (the project's storage system,
see :mod:`civicloop.geo.crs`):

* GeoJSON without ``crs`` → WGS84 (as RFC 7946 says); ``crs`` naming EPSG:4326, CRS84 or EPSG:4490
  (CGCS2000) → taken as is; GeoPackage ``srs_id`` → its EPSG code via ``gpkg_spatial_ref_sys``;
* EPSG:4490 (CGCS2000) is treated as WGS84 (identity; see :class:`civicloop.geo.crs.Crs`);
* projected systems on the WGS84 or CGCS2000 datum (EPSG:3857 web Mercator, UTM 326xx/327xx, the
  CGCS2000 Gauss–Krüger zones 4491–4554…) are unprojected with pyproj when it is installed, and refused
  with a clear message when it is not; other datums (Beijing 1954, Xi'an 1980) are refused: they need
  local 7-parameter transforms that are not public;
* a caller may say the file is in GCJ-02 or BD-09 (``crs="gcj02"``, e.g. a DataV/AMap export, which
  never declares it) and the vertices are converted with :mod:`civicloop.geo.crs`.

Validation: a feature whose geometry is missing, not polygonal, non-finite or outside lon/lat range is
refused; an invalid geometry (self-intersection, bow-tie…) is repaired with ``shapely.make_valid``
(``repair=True``, the default, reported as a warning) or refused (``repair=False``) — always naming the
feature's index (0-based position in the file) and code, and GEOS's reason.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from civicloop.geo.crs import Crs, to_wgs84

__all__ = [
    "Area",
    "AreaLevel",
    "BoundaryImportError",
    "FeatureProblem",
    "ImportResult",
    "SourceCrs",
    "SourceFeature",
    "areas_to_geojson",
    "import_areas",
    "parse_gpkg_geometry",
    "read_features",
    "validate_polygonal",
]


class AreaLevel(StrEnum):
    DISTRICT = "district"  # 区/县 (GB/T 2260 division, 6 digits)
    STREET = "street"  # 街道/乡镇 (9 digits)
    COMMUNITY = "community"  # 社区/村 (12 digits)


CODE_LENGTH: Mapping[AreaLevel, int] = {AreaLevel.DISTRICT: 6, AreaLevel.STREET: 9, AreaLevel.COMMUNITY: 12}
PARENT_LEVEL: Mapping[AreaLevel, AreaLevel | None] = {
    AreaLevel.DISTRICT: None,
    AreaLevel.STREET: AreaLevel.DISTRICT,
    AreaLevel.COMMUNITY: AreaLevel.STREET,
}


@dataclass(frozen=True, slots=True, eq=False)
class Area:
    """An administrative area. ``geometry`` is a shapely Polygon or MultiPolygon in WGS84.

    ``generated`` marks demo areas made up by :mod:`civicloop.geo.subdivisions` (Taiyuan publishes no
    street or community polygons); ``note`` says what is real and what is not.
    """

    code: str
    name: str
    level: AreaLevel
    parent_code: str | None
    geometry: Any
    generated: bool = False
    note: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class FeatureProblem:
    """One problem with one input feature: its 0-based index, its code if readable, and why."""

    index: int
    code: str | None
    reason: str

    def __str__(self) -> str:
        who = f"feature #{self.index}" + (f" (code {self.code})" if self.code else "")
        return f"{who}: {self.reason}"


class BoundaryImportError(ValueError):
    """The input was refused; ``problems`` lists every bad feature (or one file-level problem)."""

    def __init__(self, problems: Sequence[FeatureProblem] | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            self.problems: list[FeatureProblem] = []
            message = problems
        else:
            self.problems = list(problems)
            shown = "; ".join(str(p) for p in self.problems[:20])
            more = f"; … and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
            message = f"{len(self.problems)} invalid feature(s): {shown}{more}"
        if source:
            message = f"{source}: {message}"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SourceCrs:
    """The coordinate system a file declares (or that the caller asserts)."""

    label: str
    epsg: int | None = None  # an EPSG code, when the system is one
    chinese: Crs | None = None  # WGS84 / GCJ-02 / BD-09 lon/lat (no EPSG code for the latter two)

    @classmethod
    def parse(cls, value: str | int | Crs | SourceCrs) -> SourceCrs:
        if isinstance(value, SourceCrs):
            return value
        if isinstance(value, Crs):
            return cls(label=value.value, chinese=value)
        if isinstance(value, int):
            return cls.from_epsg(value)
        text = value.strip()
        low = text.lower()
        if "crs84" in low:
            return cls(label="OGC:CRS84", chinese=Crs.WGS84)
        # EPSG:4326, urn:ogc:def:crs:EPSG::4326, urn:ogc:def:crs:EPSG:6.6:4326, …/def/crs/EPSG/0/4326
        m = re.search(r"epsg[:/]*(?:[\d.]*[:/])?(\d+)$", low.replace("::", ":"))
        if m:
            return cls.from_epsg(int(m.group(1)))
        if low.isdigit():
            return cls.from_epsg(int(low))
        try:
            crs = Crs.parse(text)
        except ValueError:
            raise BoundaryImportError(
                f"unknown coordinate system {text!r} "
                "(expected EPSG:xxxx, CRS84, wgs84, cgcs2000, gcj02 or bd09)"
            ) from None
        return cls(label=crs.value, chinese=crs)

    @classmethod
    def from_epsg(cls, code: int) -> SourceCrs:
        if code in (4326, 4490):
            return cls(label=f"EPSG:{code}", epsg=code, chinese=Crs.WGS84)
        return cls(label=f"EPSG:{code}", epsg=code)

    @property
    def is_wgs84(self) -> bool:
        return self.chinese == Crs.WGS84


WGS84_SOURCE = SourceCrs(label="EPSG:4326 (assumed)", epsg=4326, chinese=Crs.WGS84)


@dataclass(slots=True)
class SourceFeature:
    """A feature as read from a file, geometry already in WGS84 (None if unreadable)."""

    index: int
    properties: dict[str, Any]
    geometry: Any
    problem: str | None = None


@dataclass(slots=True)
class ImportResult:
    areas: list[Area]
    crs: SourceCrs
    warnings: list[FeatureProblem] = field(default_factory=list)


# --------------------------------------------------------------------------- reprojection


def _pyproj_transformer(src: SourceCrs) -> Any:
    import pyproj  # loaded only for projected files (PROJ's database is large)

    if src.epsg is None:
        raise BoundaryImportError(f"unknown coordinate system {src.label}: no EPSG code")
    try:
        crs = pyproj.CRS.from_epsg(src.epsg)
    except Exception as exc:
        raise BoundaryImportError(f"unknown coordinate system {src.label}: {exc}") from None
    geodetic = crs.geodetic_crs
    datum = (geodetic.datum.name if geodetic is not None and geodetic.datum is not None else "").lower()
    if not any(k in datum for k in ("wgs 84", "wgs84", "world geodetic system 1984", "china 2000")):
        raise BoundaryImportError(
            f"{src.label} ({crs.name}) is on the datum {datum or 'unknown'!r}; only WGS84 and CGCS2000 based "
            "systems can be converted without local transformation parameters — reproject the file to "
            "EPSG:4490 or EPSG:4326 first"
        )
    # Unproject onto the system's own geodetic CRS (no datum shift): CGCS2000 lon/lat is used as WGS84.
    return pyproj.Transformer.from_crs(crs, geodetic, always_xy=True)


def _reprojector(src: SourceCrs) -> Any:
    """A function coords(n,2) → coords(n,2) in WGS84, or None for the identity."""
    if src.is_wgs84:
        return None
    if src.chinese in (Crs.GCJ02, Crs.BD09):
        chinese = src.chinese

        def convert(c: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = to_wgs84(np.ascontiguousarray(c[:, 0]), np.ascontiguousarray(c[:, 1]), chinese)
            return np.column_stack((x, y))

        return convert
    transformer = _pyproj_transformer(src)

    def project(c: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = transformer.transform(c[:, 0], c[:, 1])
        return np.column_stack((np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))

    return project


# --------------------------------------------------------------------------- readers


def _geojson_crs(doc: Mapping[str, Any]) -> SourceCrs:
    crs = doc.get("crs")
    if not crs:
        return WGS84_SOURCE
    props = crs.get("properties", {}) if isinstance(crs, Mapping) else {}
    if isinstance(crs, Mapping) and crs.get("type") == "name" and "name" in props:
        return SourceCrs.parse(str(props["name"]))
    if isinstance(crs, Mapping) and str(crs.get("type", "")).upper() == "EPSG" and "code" in props:
        return SourceCrs.from_epsg(int(props["code"]))
    raise BoundaryImportError(f"unsupported GeoJSON crs member: {json.dumps(crs, ensure_ascii=False)}")


def _read_geojson(doc: Mapping[str, Any]) -> tuple[list[SourceFeature], SourceCrs]:
    kind = doc.get("type")
    if kind == "FeatureCollection":
        raw = doc.get("features")
        if not isinstance(raw, list):
            raise BoundaryImportError("FeatureCollection without a 'features' list")
    elif kind == "Feature":
        raw = [doc]
    else:
        raise BoundaryImportError(f"expected a GeoJSON FeatureCollection or Feature, got type {kind!r}")
    crs = _geojson_crs(doc)
    out: list[SourceFeature] = []
    for i, feat in enumerate(raw):
        if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
            out.append(SourceFeature(i, {}, None, "not a GeoJSON Feature object"))
            continue
        props = dict(feat.get("properties") or {})
        geom_doc = feat.get("geometry")
        if geom_doc is None:
            out.append(SourceFeature(i, props, None, "no geometry"))
            continue
        try:
            geom = shape(geom_doc)
        except Exception as exc:  # malformed coordinates, unknown type…
            out.append(SourceFeature(i, props, None, f"unreadable geometry: {exc}"))
            continue
        out.append(SourceFeature(i, props, geom))
    return out, crs


# GeoPackage geometry blob: 'GP', version, flags, int32 srs_id, optional envelope, then (ISO) WKB.
_GPKG_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def parse_gpkg_geometry(blob: bytes | bytearray | memoryview) -> tuple[int, Any]:
    """Parse a GeoPackage geometry blob → (srs_id, shapely geometry). Empty geometries → empty shapely.

    Header (GeoPackage 1.x §2.1.3): magic ``GP``, a version byte, a flags byte (bit 0 byte order of the
    header numbers, 1 = little-endian; bits 1–3 envelope kind 0–4 → 0/32/48/48/64 bytes; bit 4 empty
    geometry; bit 5 extended (non-standard) geometry type), int32 srs_id, the envelope, then standard
    WKB (which carries its own byte order).
    """
    data = bytes(blob)
    if len(data) < 8 or data[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (missing 'GP' magic)")
    flags = data[3]
    if flags & 0b0010_0000:
        raise ValueError("extended GeoPackage geometry types are not supported")
    envelope_kind = (flags >> 1) & 0b111
    if envelope_kind not in _GPKG_ENVELOPE_BYTES:
        raise ValueError(f"invalid GeoPackage envelope indicator {envelope_kind}")
    order = "<" if flags & 1 else ">"
    (srs_id,) = struct.unpack_from(order + "i", data, 4)
    start = 8 + _GPKG_ENVELOPE_BYTES[envelope_kind]
    if len(data) < start:
        raise ValueError("truncated GeoPackage geometry blob")
    if flags & 0b0001_0000 or len(data) == start:
        return srs_id, shapely.from_wkt("POLYGON EMPTY")
    return srs_id, shapely.from_wkb(data[start:])


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_gpkg(path: Path, layer: str | None) -> tuple[list[SourceFeature], SourceCrs]:
    if not path.exists():
        raise BoundaryImportError(f"no such file: {path}")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BoundaryImportError(f"cannot open GeoPackage {path}: {exc}") from None
    try:
        try:
            layers = con.execute(
                "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
                "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
                "WHERE c.data_type = 'features' ORDER BY c.table_name"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise BoundaryImportError(f"{path} is not a GeoPackage: {exc}") from None
        if not layers:
            raise BoundaryImportError(f"{path} has no feature layer")
        if layer is None:
            if len(layers) > 1:
                names = ", ".join(r[0] for r in layers)
                raise BoundaryImportError(
                    f"{path} has several feature layers ({names}); choose one with layer="
                )
            table, geom_col, srs_id = layers[0]
        else:
            match = [r for r in layers if r[0] == layer]
            if not match:
                raise BoundaryImportError(f"{path} has no feature layer {layer!r}")
            table, geom_col, srs_id = match[0]
        row = con.execute(
            "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
            (srs_id,),
        ).fetchone()
        if srs_id == 0:
            crs = WGS84_SOURCE  # 0 = "undefined geographic": taken as WGS84
        elif srs_id == -1:
            raise BoundaryImportError(
                f"{path}: layer {table!r} has an undefined Cartesian coordinate system (srs_id -1); "
                "say which one it is with crs="
            )
        elif row is None:
            raise BoundaryImportError(f"{path}: srs_id {srs_id} is not in gpkg_spatial_ref_sys")
        elif str(row[0]).upper() == "EPSG":
            crs = SourceCrs.from_epsg(int(row[1]))
        else:
            raise BoundaryImportError(f"{path}: srs_id {srs_id} is {row[0]}:{row[1]}, not an EPSG code")
        cur = con.execute(f"SELECT * FROM {_quote_ident(table)}")
        cols = [d[0] for d in cur.description]
        gi = cols.index(geom_col)
        out: list[SourceFeature] = []
        for i, rec in enumerate(cur):
            props = {c: v for j, (c, v) in enumerate(zip(cols, rec, strict=True)) if j != gi}
            blob = rec[gi]
            if blob is None:
                out.append(SourceFeature(i, props, None, "no geometry"))
                continue
            try:
                _, geom = parse_gpkg_geometry(blob)
            except Exception as exc:
                out.append(SourceFeature(i, props, None, f"unreadable geometry: {exc}"))
                continue
            out.append(SourceFeature(i, props, geom))
        return out, crs
    finally:
        con.close()


def _read_ogr(path: Path, layer: str | None) -> tuple[list[SourceFeature], SourceCrs | None]:
    """An ESRI Shapefile (``.shp`` with its ``.dbf``/``.prj``, or a ``.zip`` of them) through GDAL (pyogrio).

    The declared system comes from the ``.prj``; None when there is none (the caller must then say it).
    """
    import pyogrio.raw  # GDAL: loaded only for the formats that need it

    if not path.exists():
        raise BoundaryImportError(f"no such file: {path}")
    try:
        meta, _fids, geoms, values = pyogrio.raw.read(path, layer=layer)
    except Exception as exc:  # GDAL's own reason: missing .dbf/.shx, unreadable file, unknown layer
        raise BoundaryImportError(f"{path}: not a readable Shapefile: {exc}") from None
    names = [str(n) for n in meta["fields"]]
    out: list[SourceFeature] = []
    for i, blob in enumerate(geoms):
        row = (column[i] for column in values)
        props = {n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, row, strict=True)}
        try:
            geom = shapely.from_wkb(blob) if blob is not None else None
            out.append(SourceFeature(i, props, geom, None if geom is not None else "no geometry"))
        except Exception as exc:
            out.append(SourceFeature(i, props, None, f"unreadable geometry: {exc}"))
    declared = meta.get("crs")
    if not declared:
        return out, None
    import pyproj

    try:
        epsg = pyproj.CRS.from_user_input(declared).to_epsg(min_confidence=70)
    except Exception as exc:
        raise BoundaryImportError(f"{path}: unreadable .prj coordinate system: {exc}") from None
    if epsg is None:
        raise BoundaryImportError(
            f"{path}: the .prj names a coordinate system without an EPSG code; pass --crs EPSG:xxxx"
        )
    return out, SourceCrs.parse(f"EPSG:{epsg}")


#: Formats read through GDAL (pyogrio); GeoJSON and GeoPackage are read without it.
OGR_SUFFIXES = (".shp", ".zip")


_ASK_FOR_CRS = (
    "say which system it is with --crs (e.g. EPSG:4547 for CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
)


def require_lonlat(
    feats: Sequence[SourceFeature], src: SourceCrs, path: str | Path, *, hint: str = _ASK_FOR_CRS
) -> None:
    """Refuse, as one file-level error, a file that declares no coordinate system but whose coordinates
    are not plainly WGS84 longitude/latitude (a projected export without its ``crs`` member): every
    feature would otherwise be misread, or fail with the same reason."""
    if src is not WGS84_SOURCE:
        return
    for f in feats:
        if f.geometry is None or f.geometry.is_empty:
            continue
        coords = shapely.get_coordinates(f.geometry)
        if coords.size and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
            x, y = (float(v) for v in coords[0])
            raise BoundaryImportError(
                f"{path}: feature #{f.index}: the file declares no coordinate system (no 'crs' member) and "
                f"its coordinates (first point {x:.6g}, {y:.6g}) are not WGS84 longitude/latitude; {hint}"
            )


def read_features(
    source: str | Path | Mapping[str, Any],
    *,
    crs: str | int | Crs | SourceCrs | None = None,
    layer: str | None = None,
    crs_hint: str = _ASK_FOR_CRS,
) -> tuple[list[SourceFeature], SourceCrs]:
    """Read features from a GeoJSON/GeoPackage path or a GeoJSON dict; geometries come back in WGS84.

    ``crs`` overrides what the file declares (needed for GCJ-02/BD-09 exports, which never declare it);
    ``crs_hint`` tells how to fix a file that declares none but is not lon/lat.
    """
    if isinstance(source, Mapping):
        feats, declared = _read_geojson(source)
    else:
        path = Path(source)
        if path.suffix.lower() == ".gpkg":
            feats, declared = _read_gpkg(path, layer)
        elif path.suffix.lower() in OGR_SUFFIXES:
            feats, found = _read_ogr(path, layer)
            if found is None and crs is None:
                raise BoundaryImportError(
                    f"{path}: the Shapefile declares no coordinate system (no .prj file); say which one "
                    "it is with --crs (EPSG:xxxx, wgs84, gcj02, bd09)"
                )
            declared = found or WGS84_SOURCE
        else:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise BoundaryImportError(f"no such file: {path}") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BoundaryImportError(f"{path} is not valid GeoJSON: {exc}") from None
            except RecursionError:  # arrays nested thousands deep: no geometry is like that
                raise BoundaryImportError(f"{path} is not valid GeoJSON: nested too deeply") from None
            if not isinstance(doc, Mapping):
                raise BoundaryImportError(f"{path} is not a GeoJSON object")
            feats, declared = _read_geojson(doc)
    src = SourceCrs.parse(crs) if crs is not None else declared
    require_lonlat(feats, src, "GeoJSON" if isinstance(source, Mapping) else str(source), hint=crs_hint)
    fn = _reprojector(src)
    if fn is not None:
        for f in feats:
            if f.geometry is not None and not f.geometry.is_empty:
                try:
                    f.geometry = shapely.transform(f.geometry, fn)
                except Exception as exc:
                    f.problem = f"cannot reproject from {src.label}: {exc}"
                    f.geometry = None
    return feats, src


# --------------------------------------------------------------------------- validation


def _polygonal_part(geom: Any) -> Any:
    """The polygonal content of a geometry (drops points/lines a repair may leave), or an empty one."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    polys += [q for p in parts if p.geom_type == "MultiPolygon" for q in p.geoms]
    if not polys:
        return shapely.from_wkt("POLYGON EMPTY")
    if len(polys) == 1:
        return polys[0]
    return shapely.multipolygons(polys)


def validate_polygonal(geom: Any, *, repair: bool) -> tuple[Any, str | None, str | None]:
    """Check one geometry. Returns (geometry, problem, warning): problem set → refuse the feature."""
    if geom is None or geom.is_empty:
        return None, "empty geometry", None
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None, f"geometry type {geom.geom_type} is not polygonal", None
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return None, "non-finite coordinates", None
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        return None, "coordinates outside lon/lat range (wrong coordinate system declared?)", None
    if shapely.is_valid(geom):
        return geom, None, None
    reason = shapely.is_valid_reason(geom)
    if not repair:
        return None, f"invalid geometry: {reason}", None
    fixed = _polygonal_part(shapely.make_valid(geom, method="structure", keep_collapsed=False))
    if fixed.is_empty or fixed.area <= 0 or not fixed.is_valid:
        return None, f"invalid geometry ({reason}) and repair left no valid polygon", None
    return fixed, None, f"repaired invalid geometry: {reason}"


# --------------------------------------------------------------------------- areas


def _pick(props: Mapping[str, Any], keys: Iterable[str | None]) -> Any:
    for k in keys:
        if k and k in props and props[k] not in (None, ""):
            return props[k]
    return None


def _normalise_code(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def import_areas(
    source: str | Path | Mapping[str, Any],
    *,
    level: AreaLevel | str,
    crs: str | int | Crs | SourceCrs | None = None,
    layer: str | None = None,
    repair: bool = True,
    code_field: str | None = None,
    name_field: str | None = None,
    parent_field: str | None = None,
) -> ImportResult:
    """Import district/street/community boundaries; raises :class:`BoundaryImportError` listing bad features.

    Codes are read from ``code_field`` or the first of ``code``, ``adcode``, ``gb`` (a leading ``156``
    country prefix is dropped); names from ``name_field`` or ``name``; the parent from ``parent_field``
    or ``parent_code``, else the code minus its last 3 digits. Codes must be 6/9/12 digits for
    district/street/community, unique, and start with the parent's code.
    """
    lvl = AreaLevel(level)
    feats, src = read_features(source, crs=crs, layer=layer)
    want = CODE_LENGTH[lvl]
    problems: list[FeatureProblem] = []
    warnings: list[FeatureProblem] = []
    areas: list[Area] = []
    seen: dict[str, int] = {}
    for f in feats:
        code = _normalise_code(_pick(f.properties, (code_field, "code", "adcode", "gb")))
        if code and len(code) == want + 3 and code.startswith("156"):
            code = code[3:]
        if f.problem:
            problems.append(FeatureProblem(f.index, code, f.problem))
            continue
        if not code:
            problems.append(FeatureProblem(f.index, None, "no code property (code/adcode/gb)"))
            continue
        if not (code.isdigit() and len(code) == want):
            problems.append(FeatureProblem(f.index, code, f"a {lvl.value} code must be {want} digits"))
            continue
        if code in seen:
            problems.append(FeatureProblem(f.index, code, f"duplicate code (also feature #{seen[code]})"))
            continue
        seen[code] = f.index
        parent = _normalise_code(_pick(f.properties, (parent_field, "parent_code")))
        if parent is None and lvl != AreaLevel.DISTRICT:
            parent = code[:-3]
        if parent is not None and lvl != AreaLevel.DISTRICT and not code.startswith(parent):
            problems.append(FeatureProblem(f.index, code, f"code does not start with its parent's {parent}"))
            continue
        geom, problem, warning = validate_polygonal(f.geometry, repair=repair)
        if problem:
            problems.append(FeatureProblem(f.index, code, problem))
            continue
        if warning:
            warnings.append(FeatureProblem(f.index, code, warning))
        name = _pick(f.properties, (name_field, "name", "NAME"))
        areas.append(
            Area(
                code=code,
                name=str(name) if name is not None else code,
                level=lvl,
                parent_code=parent,
                geometry=geom,
                generated=bool(f.properties.get("generated", False)),
                note=str(f.properties.get("note", "") or ""),
                source=str(f.properties.get("source", "") or ""),
            )
        )
    if problems:
        raise BoundaryImportError(problems, source=str(source) if not isinstance(source, Mapping) else "")
    return ImportResult(areas=areas, crs=src, warnings=warnings)


def areas_to_geojson(areas: Iterable[Area]) -> dict[str, Any]:
    """A normalised WGS84 FeatureCollection (RFC 7946: no crs member)."""
    feats = []
    for a in areas:
        props: dict[str, Any] = {
            "code": a.code,
            "name": a.name,
            "level": a.level.value,
            "parent_code": a.parent_code,
        }
        if a.generated:
            props["generated"] = True
        if a.note:
            props["note"] = a.note
        if a.source:
            props["source"] = a.source
        feats.append({"type": "Feature", "properties": props, "geometry": mapping(a.geometry)})
    return {"type": "FeatureCollection", "features": feats}


# --------------------------------------------------------------------------- a city's district file


def read_district_file(
    path: str | Path, *, number_from: int | None = None
) -> tuple[list[Area], SourceCrs, bool]:
    """A city's district boundaries (GeoJSON or GeoPackage) in WGS84, for ``city new``/``city check``.

    Each feature's 6-digit code (``code``/``adcode``/``gb``) is kept; a file without codes is numbered
    ``number_from + 1``, ``+ 2``, … in file order when ``number_from`` is given (a city outside China),
    else refused. Names from ``name``/``NAME``. Returns (areas, declared CRS, whether codes were
    numbered). Raises :class:`BoundaryImportError` naming the file.
    """
    feats, src = read_features(
        path,
        crs_hint='declare it, e.g. "crs": {"type": "name", "properties": {"name": "EPSG:32618"}}, or '
        "reproject it to EPSG:4326",
    )
    codes = [_normalise_code(_pick(f.properties, ("code", "adcode", "gb"))) for f in feats]
    numbered = number_from is not None and not all(c and c.isdigit() and len(c) == 6 for c in codes)
    if numbered and number_from is not None:
        codes = [f"{number_from + i + 1:06d}" for i in range(len(feats))]
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    for f, code in zip(feats, codes, strict=True):
        name = _pick(f.properties, ("name", "NAME", "Name"))
        props = {"code": code, "name": str(name) if name is not None else code}
        geometry = mapping(f.geometry) if f.geometry is not None else None
        doc["features"].append({"type": "Feature", "properties": props, "geometry": geometry})
    try:
        result = import_areas(doc, level=AreaLevel.DISTRICT)
    except BoundaryImportError as exc:
        raise BoundaryImportError(exc.problems or str(exc), source=str(path)) from None
    return result.areas, src, numbered
