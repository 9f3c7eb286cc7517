"""The component registry (部件): import, look-up, nearest component, state changes with history.

A component (GB/T 47678.5 表2) has a 17-digit id (GLBJBSM = 6-digit division + 2-digit major + 3-digit
minor + 6-digit serial), a type that is a **component** code of the national directory, a name, its
主管 (competent) / 权属 (owner) / 养护 (maintainer) units, a state (完好 intact, 破损 damaged, 丢失
missing, 废弃 abandoned, 移除 removed), a grid and a WGS84 point. Every state change is appended to
``component_states`` (the database refuses edits there) with what caused it: an import, a case, a patrol.

Imports (CSV or GeoJSON) are all-or-nothing: every bad row is reported with its line number (CSV; the
header is line 1) or feature number (GeoJSON) and the reason, and nothing is written.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection

from civicloop.assets import store
from civicloop.assets.core import Component, ComponentState, RoadClass
from civicloop.city.service import City
from civicloop.geo.boundaries import BoundaryImportError, read_features
from civicloop.geo.crs import Crs, to_wgs84
from civicloop.geo.locator import OutsideCityError
from civicloop.geo.projection import bbox_for_radius, haversine_m
from civicloop.kernel import i18n
from civicloop.kernel.i18n import both
from civicloop.profile.categories import national_directory
from civicloop.profile.models import CityProfile

__all__ = [
    "COMPONENT_ID_RE",
    "ComponentImportError",
    "ComponentImportResult",
    "NearestComponent",
    "RegisteredComponent",
    "RowProblem",
    "component_history",
    "demo_component_records",
    "get_component",
    "import_components",
    "nearest_component",
    "parse_component_state",
    "set_component_state",
    "store_components",
]

COMPONENT_ID_RE = re.compile(r"^\d{17}$")

# The Chinese words an import recognises for a state and a road class (the catalogue's).
_STATE_ZH = {i18n.t(f"assets.state.{s.value}", "zh-CN"): s.value for s in ComponentState}
_ROAD_ZH = {
    i18n.t(f"assets.{table}.{value}", "zh-CN"): value
    for table, values in (
        ("road_class", ("main", "secondary", "branch")),
        ("road_class_alias", ("main", "secondary")),
    )
    for value in values
}


@dataclass(frozen=True, slots=True)
class RegisteredComponent:
    """A component as stored in the registry."""

    component_id: str
    type_code: str
    name: str
    district_code: str
    lon: float  # WGS84
    lat: float
    state: ComponentState = ComponentState.INTACT
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    competent: str | None = None  # 主管部门
    owner: str | None = None  # 权属单位
    maintainer: str | None = None  # 养护单位
    road_name: str | None = None
    road_class: RoadClass | None = None
    start_date: date | None = None
    changed_date: date | None = None
    generated: bool = False
    source: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out


def _row(city_id: str, c: RegisteredComponent, now: datetime) -> dict[str, Any]:
    return {
        "city_id": city_id, "component_id": c.component_id, "type_code": c.type_code, "name": c.name,
        "competent_department_id": c.competent, "owner_department_id": c.owner,
        "maintainer_department_id": c.maintainer, "state": c.state.value, "grid_code": c.grid_code,
        "community_code": c.community_code, "street_code": c.street_code, "district_code": c.district_code,
        "lon": c.lon, "lat": c.lat, "road_name": c.road_name,
        "road_class": c.road_class.value if c.road_class else None, "start_date": c.start_date,
        "changed_date": c.changed_date, "generated": c.generated, "source": c.source, "note": c.note,
        "updated_at": now,
    }  # fmt: skip


def _from_row(r: Any) -> RegisteredComponent:
    return RegisteredComponent(
        component_id=r.component_id, type_code=r.type_code, name=r.name, district_code=r.district_code,
        lon=float(r.lon), lat=float(r.lat), state=ComponentState(r.state), grid_code=r.grid_code,
        community_code=r.community_code, street_code=r.street_code, competent=r.competent_department_id,
        owner=r.owner_department_id, maintainer=r.maintainer_department_id, road_name=r.road_name,
        road_class=RoadClass(r.road_class) if r.road_class else None, start_date=r.start_date,
        changed_date=r.changed_date, generated=bool(r.generated), source=r.source, note=r.note,
    )  # fmt: skip


def store_components(
    city: City, records: Sequence[RegisteredComponent], *, conn: Connection | None = None
) -> int:
    """Insert components (the caller has checked that their ids are new). Returns the count."""
    if conn is None:
        with city.store.write() as c:
            return store_components(city, records, conn=c)
    now = datetime.now(UTC)
    return store.insert_components(conn, [_row(city.id, r, now) for r in records])


def get_component(
    city: City, component_id: str, *, conn: Connection | None = None
) -> RegisteredComponent | None:
    """The registered component with that id, or None."""
    if conn is None:
        with city.engine.connect() as c:
            return get_component(city, component_id, conn=c)
    r = store.component_row(conn, city.id, component_id)
    return None if r is None else _from_row(r)


def components_by_id(
    city: City, ids: Sequence[str], *, conn: Connection | None = None
) -> dict[str, RegisteredComponent]:
    """Registered components among ``ids``."""
    if conn is None:
        with city.engine.connect() as c:
            return components_by_id(city, ids, conn=c)
    return {r.component_id: _from_row(r) for r in store.component_rows(conn, city.id, ids)}


def component_type_for(profile: CityProfile, code: str) -> str:
    """The component type of a category code: the profile category's ``component_code`` when it has
    one (matter 01037 路灯异常 → component 01037 路灯), else the code itself."""
    try:
        comp = profile.category(code).component_code
    except KeyError:
        comp = None
    return comp or code


@dataclass(frozen=True, slots=True)
class NearestComponent:
    component: RegisteredComponent
    distance_m: float


def nearest_component(
    city: City,
    category_code: str,
    lon: float,
    lat: float,
    radius_m: float,
    *,
    crs: Crs = Crs.WGS84,
    include_removed: bool = False,
) -> NearestComponent | None:
    """The nearest component of the category's component type within ``radius_m`` of the point (a
    report's "which light is it?"), or None. Removed components are skipped unless asked for."""
    type_code = component_type_for(city.profile, category_code)
    wlon, wlat = to_wgs84(float(lon), float(lat), Crs(crs))
    w, s, e, n = bbox_for_radius(wlon, wlat, radius_m)
    with city.engine.connect() as conn:
        rows = store.component_rows_in_box(
            conn, city.id, type_code, (w, s, e, n), include_removed=include_removed
        )
    if not rows:
        return None
    d = haversine_m(wlon, wlat, np.asarray([r.lon for r in rows]), np.asarray([r.lat for r in rows]))
    best = min(range(len(rows)), key=lambda i: (float(d[i]), rows[i].component_id))
    if float(d[best]) > radius_m:
        return None
    return NearestComponent(_from_row(rows[best]), float(d[best]))


# --------------------------------------------------------------------------- state changes


def set_component_state(
    city: City,
    component_id: str,
    state: ComponentState | str,
    *,
    at: datetime,
    source: str = "registry",
    case_id: str | None = None,
    patrol_id: str | None = None,
    actor_id: str | None = None,
    note: str | None = None,
    conn: Connection | None = None,
) -> bool:
    """Change a component's state and append the change to its history; False if unchanged.

    ``source`` says what caused it (registry, import, case, patrol) and ``case_id``/``patrol_id``
    which one. Raises KeyError for an unknown component.
    """
    new = parse_component_state(state)
    if conn is None:
        with city.store.write() as c:
            return set_component_state(
                city, component_id, new, at=at, source=source, case_id=case_id, patrol_id=patrol_id,
                actor_id=actor_id, note=note, conn=c,
            )  # fmt: skip
    current = store.component_state(conn, city.id, component_id)
    if current is None:
        raise KeyError(f"component {component_id} is not registered")
    if current == new.value:
        return False
    _append_history(
        conn, city.id, component_id, current, new.value, at, source, case_id, patrol_id, actor_id, note
    )
    store.update_component_state(conn, city.id, component_id, new.value, at.date(), datetime.now(UTC))
    return True


def _append_history(
    conn: Connection, city_id: str, component_id: str, from_state: str | None, to_state: str, at: datetime,
    source: str, case_id: str | None, patrol_id: str | None, actor_id: str | None, note: str | None,
) -> None:  # fmt: skip
    store.append_state_history(
        conn, city_id, component_id, at=at, from_state=from_state, to_state=to_state, source=source,
        case_id=case_id, patrol_id=patrol_id, actor_id=actor_id, note=note,
    )  # fmt: skip


def component_history(city: City, component_id: str) -> list[dict[str, Any]]:
    """The component's state changes, oldest first."""
    with city.engine.connect() as conn:
        rows = store.state_history_rows(conn, city.id, component_id)
    return [
        {"seq": r.seq, "at": r.at, "from": r.from_state, "to": r.to_state, "source": r.source,
         "case_id": r.case_id, "patrol_id": r.patrol_id, "actor_id": r.actor_id, "note": r.note}
        for r in rows
    ]  # fmt: skip


def parse_component_state(value: ComponentState | str) -> ComponentState:
    """intact/damaged/missing/abandoned/removed or 完好/破损/丢失/废弃/移除 → ComponentState."""
    if isinstance(value, ComponentState):
        return value
    text = str(value).strip()
    try:
        return ComponentState(_STATE_ZH.get(text, text.lower()))
    except ValueError:
        raise ValueError(both("assets.unknown_state", value=repr(value))) from None


# --------------------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem with one input row: ``where`` is "line 7" (CSV) or "feature #3" (GeoJSON)."""

    where: str
    component_id: str | None
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        who = self.where + (f" ({self.component_id})" if self.component_id else "")
        return f"{who}: {self.reason}"


class ComponentImportError(ValueError):
    """Refused import: ``problems`` lists every bad row; nothing was written."""

    def __init__(self, problems: Sequence[RowProblem] | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            self.problems: list[RowProblem] = []
            message = problems
        else:
            self.problems = list(problems)
            shown = "; ".join(str(p) for p in self.problems[:20])
            more = f"; … and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
            message = f"{len(self.problems)} invalid row(s), nothing imported: {shown}{more}"
        super().__init__(f"{source}: {message}" if source else message)


@dataclass(slots=True)
class ComponentImportResult:
    count: int = 0
    inserted: int = 0
    replaced: int = 0
    state_changes: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    warnings: list[RowProblem] = field(default_factory=list)


_ALIASES: dict[str, tuple[str, ...]] = {
    "component_id": ("component_id", "id", "glbjbsm", "bjbsm", "bsm"),
    "type_code": ("type_code", "category_code", "category", "bjlx", "type"),
    "name": ("name", "mc", "bjmc"),
    "lon": ("lon", "lng", "longitude", "x"),
    "lat": ("lat", "latitude", "y"),
    "state": ("state", "zt", "status"),
    "competent": ("competent_department_id", "competent", "zgbm", "zgbmdm"),
    "owner": ("owner_department_id", "owner", "qsdw"),
    "maintainer": ("maintainer_department_id", "maintainer", "yhdw"),
    "grid_code": ("grid_code", "wgbm", "dywgbm"),
    "road_name": ("road_name", "road", "dlmc"),
    "road_class": ("road_class", "road_level", "dldj"),
    "start_date": ("start_date", "csrq"),
    "changed_date": ("changed_date", "bgrq"),
    "note": ("note", "bz"),
    "source": ("source", "sjly"),
}


def _get(props: Mapping[str, Any], key: str) -> str | None:
    lowered = {str(k).strip().lower(): v for k, v in props.items()}
    for alias in _ALIASES[key]:
        value = lowered.get(alias)
        if value is not None and str(value).strip() != "":
            if isinstance(value, float) and value.is_integer() and key not in ("lon", "lat"):
                return str(int(value))
            return str(value).strip()
    return None


@dataclass(slots=True)
class _RawRow:
    where: str
    line: int | None
    props: dict[str, Any]
    lon: float | None = None  # already WGS84 (GeoJSON) when set
    lat: float | None = None
    problem: str | None = None


def _read_csv(path: Path) -> list[_RawRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ComponentImportError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise ComponentImportError(f"{path} is not UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ComponentImportError(f"{path}: empty file (expected a header line)")
    out: list[_RawRow] = []
    for rec in reader:
        line = reader.line_num
        extra = rec.get(None)
        problem = f"{len(extra)} value(s) more than the header has columns" if extra else None
        props = {k: v for k, v in rec.items() if k is not None}
        out.append(_RawRow(f"line {line}", line, props, problem=problem))
    return out


def _read_geojson(source: str | Path | Mapping[str, Any], crs: str | None) -> list[_RawRow]:
    try:
        feats, _ = read_features(source, crs=crs)
    except BoundaryImportError as exc:
        raise ComponentImportError(str(exc)) from None
    out: list[_RawRow] = []
    for f in feats:
        row = _RawRow(f"feature #{f.index}", None, dict(f.properties))
        if f.problem:
            row.problem = f.problem
        elif f.geometry is None or f.geometry.geom_type != "Point" or f.geometry.is_empty:
            kind = None if f.geometry is None else f.geometry.geom_type
            row.problem = f"geometry must be a Point (got {kind})"
        else:
            row.lon, row.lat = float(f.geometry.x), float(f.geometry.y)
        out.append(row)
    return out


def _parse_date(value: str | None) -> date:
    assert value is not None
    return date.fromisoformat(value[:10])


def parse_components(
    city: City,
    source: str | Path | Mapping[str, Any],
    *,
    crs: str | None = None,
    replace_existing: bool = False,
) -> tuple[list[RegisteredComponent], list[RowProblem]]:
    """Read and validate a component file → (components, warnings); ComponentImportError lists every
    bad row. ``crs`` says what a CSV's lon/lat are in (wgs84 default, gcj02, bd09, EPSG:xxxx) or
    overrides a GeoJSON file's declaration."""
    from civicloop.geo.boundaries import SourceCrs, _reprojector
    from civicloop.geo.service import geography_for

    is_csv = not isinstance(source, Mapping) and Path(source).suffix.lower() in (".csv", ".txt")
    raw = _read_csv(Path(source)) if is_csv else _read_geojson(source, crs)  # type: ignore[arg-type]
    convert = None
    if is_csv and crs is not None:
        try:
            convert = _reprojector(SourceCrs.parse(crs))
        except BoundaryImportError as exc:
            raise ComponentImportError(str(exc)) from None
    directory = national_directory()
    profile = city.profile
    districts = {d.code for d in profile.districts}
    departments = {d.id for d in profile.departments}
    city4 = profile.area_prefix
    geo = geography_for(city, demo_fallback=False)
    problems: list[RowProblem] = []
    warnings: list[RowProblem] = []
    seen: dict[str, str] = {}
    parsed: list[tuple[_RawRow, RegisteredComponent]] = []
    for row in raw:
        cid = _get(row.props, "component_id")

        def bad(reason: str, row: _RawRow = row, cid: str | None = cid) -> None:
            problems.append(RowProblem(row.where, cid, reason, row.line))

        if row.problem:
            bad(row.problem)
            continue
        if cid is None:
            bad("no component id (component_id / id / glbjbsm)")
            continue
        if not COMPONENT_ID_RE.fullmatch(cid):
            bad("a component id must be 17 digits: 6 division + 2 major + 3 minor + 6 serial")
            continue
        type_code = _get(row.props, "type_code") or cid[6:11]
        if not re.fullmatch(r"\d{5}", type_code):
            bad(f"type code {type_code!r} must be 5 digits (2 major + 3 minor)")
            continue
        if ("component", type_code) not in directory:
            what = (
                both("assets.type_is_a_matter", code=type_code)
                if ("matter", type_code) in directory
                else both("assets.type_not_a_component", code=type_code)
            )
            bad(what)
            continue
        if cid[6:11] != type_code:
            bad(f"id digits 7–11 ({cid[6:11]}) must be the type code {type_code}")
            continue
        district = cid[:6]
        if (districts and district not in districts) or (not districts and city4 and district[:4] != city4):
            bad(f"id starts with {district}, not a district of {profile.name} ({profile.division_code})")
            continue
        if cid[11:] == "000000":
            bad("serial number 000000 is not allowed (serials start at 000001)")
            continue
        if cid in seen:
            bad(f"duplicate id (also {seen[cid]})")
            continue
        seen[cid] = row.where
        try:
            state = parse_component_state(_get(row.props, "state") or "intact")
        except ValueError as exc:
            bad(str(exc))
            continue
        rc_text = _get(row.props, "road_class")
        road_class = None
        if rc_text is not None:
            try:
                road_class = RoadClass(_ROAD_ZH.get(rc_text, rc_text.lower()))
            except ValueError:
                bad(both("assets.bad_road_class", value=repr(rc_text)))
                continue
        try:
            start = _parse_date(_get(row.props, "start_date")) if _get(row.props, "start_date") else None
            changed = (
                _parse_date(_get(row.props, "changed_date")) if _get(row.props, "changed_date") else None
            )
        except ValueError as exc:
            bad(f"date must be YYYY-MM-DD: {exc}")
            continue
        if start and changed and changed < start:
            bad(f"changed_date {changed} is before start_date {start}")
            continue
        lon, lat = row.lon, row.lat
        if lon is None or lat is None:
            try:
                lon_text, lat_text = _get(row.props, "lon"), _get(row.props, "lat")
                if lon_text is None or lat_text is None:
                    bad("no coordinates (lon/lat columns)")
                    continue
                lon, lat = float(lon_text), float(lat_text)
            except ValueError:
                bad("lon/lat must be numbers")
                continue
            if convert is not None:
                xy = convert(np.array([[lon, lat]], dtype=np.float64))
                lon, lat = float(xy[0, 0]), float(xy[0, 1])
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            bad(f"coordinates ({lon}, {lat}) out of range (wrong coordinate system?)")
            continue
        lon, lat = round(lon, 7), round(lat, 7)
        grid = community = street = None
        located_district = None
        if geo is not None:
            try:
                loc = geo.locate(lon, lat)
            except OutsideCityError:
                bad(f"({lon:.6f}, {lat:.6f}) is outside the city (wrong coordinate system? set --crs)")
                continue
            grid = loc.grid_code
            community = loc.community.code if loc.community else None
            street = loc.street.code if loc.street else None
            located_district = loc.district.code if loc.district else None
            given_grid = _get(row.props, "grid_code")
            if given_grid and given_grid != grid:
                warnings.append(
                    RowProblem(row.where, cid, f"grid_code {given_grid} given, the point lies in {grid}; "
                               "stored the located grid", row.line)
                )  # fmt: skip
            if located_district and located_district != district:
                warnings.append(
                    RowProblem(row.where, cid,
                               f"id district {district} but the point lies in {located_district}", row.line)
                )  # fmt: skip
        else:
            grid = _get(row.props, "grid_code")
        for unit in ("competent", "owner", "maintainer"):  # the old system's units, checked by name
            value = _get(row.props, unit)
            if value and value not in departments:
                warnings.append(
                    RowProblem(row.where, cid, f"{unit} {value} is not a department of the profile: stored "
                               "as given (routing rules may still name it; add it to the profile to dispatch "
                               "to it)", row.line)
                )  # fmt: skip
        name = _get(row.props, "name") or directory.get("component", type_code).name
        src = _get(row.props, "source") or (None if isinstance(source, Mapping) else str(source))
        parsed.append(
            (
                row,
                RegisteredComponent(
                    component_id=cid, type_code=type_code, name=name, district_code=district, lon=lon,
                    lat=lat, state=state, grid_code=grid, community_code=community, street_code=street,
                    competent=_get(row.props, "competent"), owner=_get(row.props, "owner"),
                    maintainer=_get(row.props, "maintainer"), road_name=_get(row.props, "road_name"),
                    road_class=road_class, start_date=start, changed_date=changed, generated=False,
                    source=src, note=_get(row.props, "note"),
                ),
            )
        )  # fmt: skip
    if not replace_existing and parsed:
        existing = components_by_id(city, [c.component_id for _, c in parsed])
        for row, c in parsed:
            if c.component_id in existing:
                problems.append(
                    RowProblem(row.where, c.component_id, "already registered (use --replace to update it)",
                               row.line)
                )  # fmt: skip
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.where))
        raise ComponentImportError(problems, source="" if isinstance(source, Mapping) else str(source))
    return [c for _, c in parsed], warnings


def import_components(
    city: City,
    source: str | Path | Mapping[str, Any],
    *,
    crs: str | None = None,
    replace_existing: bool = False,
    at: datetime | None = None,
    dry_run: bool = False,
) -> ComponentImportResult:
    """Import components from CSV or GeoJSON, all or nothing (see :func:`parse_components`).

    With ``replace_existing`` a registered id is updated, and a changed state is appended to its
    history (source ``import``).
    """
    records, warnings = parse_components(city, source, crs=crs, replace_existing=replace_existing)
    result = ComponentImportResult(count=len(records), warnings=warnings)
    result.by_type.update(c.type_code for c in records)
    if dry_run or not records:
        return result
    when = at or datetime.now(UTC)
    with city.store.write() as conn:
        existing = components_by_id(city, [c.component_id for c in records], conn=conn)
        fresh = [c for c in records if c.component_id not in existing]
        changed = [c for c in records if c.component_id in existing]
        for c in changed:
            old = existing[c.component_id]
            if old.state != c.state:
                _append_history(conn, city.id, c.component_id, old.state.value, c.state.value, when, "import",
                                None, None, None, None)  # fmt: skip
                result.state_changes += 1
                if c.changed_date is None:
                    c = replace(c, changed_date=when.date())
            store.replace_component(conn, city.id, _row(city.id, c, datetime.now(UTC)))
        store_components(city, fresh, conn=conn)
    result.inserted = len(fresh)
    result.replaced = len(changed)
    return result


# --------------------------------------------------------------------------- the demo's components


def demo_component_records(profile: CityProfile, comps: Sequence[Component]) -> list[RegisteredComponent]:
    """The generated demo components with their units, from the profile: the component type's
    category department is 主管 and 权属; 养护 is the district unit for ``district_departments``
    categories (bins, toilets), else the same department. One in ten branch-road street lights is
    owned and maintained by the power company (代管路灯), when the profile has a power department —
    the case the ``power-owned-lights`` routing rule of the demo profile is about."""
    by_kind_district: dict[tuple[str, str], str] = {
        (d.kind, d.district_code): d.id for d in profile.departments if d.district_code
    }
    power = next(
        (d.id for d in profile.departments if d.standard == "power" and d.district_code is None), None
    )
    units: dict[str, tuple[str | None, bool, str | None]] = {}
    # The category about a component type: the national "…异常" matter of the same code, else a local
    # category naming the type as its component_code (e.g. a 311 "Streetlight out" about 01037 路灯).
    by_component = {c.component_code: c for c in reversed(profile.categories) if c.component_code}
    for code in {c.type_code for c in comps}:
        try:
            rule = profile.category(code)
        except KeyError:
            if code not in by_component:
                units[code] = (None, False, None)
                continue
            rule = by_component[code]
        dept = profile.department(rule.department)
        units[code] = (dept.id, rule.district_departments, dept.kind)
    out: list[RegisteredComponent] = []
    for c in comps:
        dept_id, district_units, kind = units[c.type_code]
        maintainer = dept_id
        if district_units and kind is not None:
            maintainer = by_kind_district.get((kind, c.district_code)) or dept_id
        owner = dept_id
        serial = int(c.id[11:])
        if c.type_code == "01037" and c.road_class == RoadClass.BRANCH and power and serial % 10 == 3:
            owner = maintainer = power
        start = date(2005 + serial % 20, 1 + serial % 12, 1 + serial % 28)
        changed = None if c.state == ComponentState.INTACT else date(2026, 1 + serial % 5, 1 + serial % 28)
        out.append(
            RegisteredComponent(
                component_id=c.id, type_code=c.type_code, name=c.name, district_code=c.district_code,
                lon=c.lon, lat=c.lat, state=c.state, grid_code=c.grid_code, community_code=c.community_code,
                street_code=c.street_code, competent=dept_id, owner=owner, maintainer=maintainer,
                road_name=c.road_name, road_class=c.road_class, start_date=start, changed_date=changed,
                generated=True, source="generated demo",
            )
        )  # fmt: skip
    return out


def component_counts(city: City) -> dict[str, dict[str, int]]:
    """Type code → state → count (完好率 inputs)."""
    with city.engine.connect() as conn:
        rows = store.count_by_type_and_state(conn, city.id)
    out: dict[str, dict[str, int]] = {}
    for t, s, n in rows:
        out.setdefault(t, {})[s] = int(n)
    return out
