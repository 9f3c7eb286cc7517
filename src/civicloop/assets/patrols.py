"""Patrols (巡查): inspectors' duty grids (责任网格), patrol records with GPS tracks and checks, the night
lighting patrol that turns unlit street lights into cases, and patrol coverage per grid and period.

* A patrol stores its track (WGS84 JSON), its checks (a component or a grid, a result: lit / unlit /
  ok / problem) and the grids its track passed through (``patrol_grids``), computed once when it is
  recorded: a grid counts as passed when the track runs through its interior (or a fix lies in it).
* A night lighting patrol (夜间亮灯巡查) checks street lights (component type 01037). Every unlit light
  becomes one case of the profile's street-light category (01037 路灯异常), channel ``patrol``, with
  ``component_id`` set — all in one ``CaseService.execute`` batch — unless an open case about that
  light already exists (then the check points to it and no case is opened).
* Coverage (巡查覆盖率): for a period, the share of each inspector's duty grids that their own
  tracks passed through, and of all duty grids passed by anyone.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import shapely
from sqlalchemy import Connection

from civicloop.assets import store
from civicloop.assets.core import ComponentState, RoadClass, demo_text
from civicloop.assets.service import RegisteredComponent, components_by_id
from civicloop.cases.core import Actor, Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.geo.crs import Crs, to_wgs84
from civicloop.geo.grids import Grid
from civicloop.geo.projection import bbox_for_radius, haversine_m
from civicloop.geo.service import Geography, geography_for
from civicloop.kernel.i18n import both
from civicloop.kernel.vocabulary import Action, Channel, Role
from civicloop.profile.models import CityProfile

__all__ = [
    "CHECK_RESULTS",
    "CoverageReport",
    "InspectorCoverage",
    "LightCheck",
    "LightingPatrolResult",
    "PatrolCheck",
    "PatrolRecord",
    "assign_duty_grids",
    "demo_duty_assignment",
    "duty_grids_of",
    "grids_on_track",
    "patrol_coverage",
    "record_lighting_patrol",
    "record_patrol",
    "simulate_lighting_patrol",
    "store_duty_grids",
]

CHECK_RESULTS = ("lit", "unlit", "ok", "problem")
STREET_LIGHT = "01037"  # component 路灯 / matter 路灯异常 (GB/T 47678.5)

TrackInput = Sequence[tuple[float, float] | tuple[float, float, datetime | None]]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a time-zone-aware time")
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------- duty grids


def store_duty_grids(
    city: City,
    assignment: Mapping[str, Iterable[str]],
    *,
    replace: bool = True,
    conn: Connection | None = None,
) -> int:
    """Give each inspector these duty grids (责任网格); ``replace`` drops their previous ones."""
    if conn is None:
        with city.store.write() as c:
            return store_duty_grids(city, assignment, replace=replace, conn=c)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for inspector, grid_codes in assignment.items():
        codes = sorted(set(grid_codes))
        if replace:
            store.delete_duty_grids(conn, city.id, inspector)
        else:
            have = store.duty_grid_codes(conn, city.id, inspector)
            codes = [c for c in codes if c not in have]
        rows += [
            {"city_id": city.id, "inspector_id": inspector, "grid_code": g, "assigned_at": now} for g in codes
        ]
    return store.insert_duty_grids(conn, rows)


def assign_duty_grids(
    city: City, inspector_id: str, grid_codes: Iterable[str], *, replace: bool = True
) -> int:
    """Assign duty grids to one inspector; every code must be a stored grid (ValueError otherwise)."""
    codes = sorted(set(grid_codes))
    geo = geography_for(city, demo_fallback=False)
    unknown = [c for c in codes if geo is None or geo.grid(c) is None]
    if unknown:
        raise ValueError(f"unknown grid code(s): {', '.join(unknown[:10])}")
    return store_duty_grids(city, {inspector_id: codes}, replace=replace)


def duty_grids_of(city: City, inspector_id: str | None = None) -> dict[str, list[str]]:
    """Inspector → duty grid codes (one inspector, or all)."""
    out: dict[str, list[str]] = defaultdict(list)
    with city.engine.connect() as conn:
        for ins, g in store.duty_grid_pairs(conn, city.id, inspector_id=inspector_id):
            out[ins].append(g)
    return dict(out)


def demo_duty_assignment(profile: CityProfile, grids: Sequence[Grid]) -> dict[str, list[str]]:
    """The simulated inspectors' duty grids: each simulated district's grids, in code order (so
    roughly by community), cut into ``inspectors_per_district`` contiguous shares; ids match the
    simulator's (``ins-140105-01`` …)."""
    per = profile.simulation.inspectors_per_district
    districts = profile.simulation.districts or tuple(d.code for d in profile.districts if d.urban)
    by_district: dict[str, list[str]] = defaultdict(list)
    for g in grids:
        by_district[g.district_code].append(g.code)
    out: dict[str, list[str]] = {}
    for d in districts:
        codes = sorted(by_district.get(d, []))
        if not codes:
            continue
        for i, chunk in enumerate(np.array_split(np.asarray(codes, dtype=object), per)):
            if len(chunk):
                out[f"ins-{d}-{i + 1:02d}"] = [str(c) for c in chunk]
    return out


# --------------------------------------------------------------------------- patrols


@dataclass(frozen=True, slots=True)
class PatrolCheck:
    """One thing checked on a patrol: a component or a grid, with its result and time."""

    result: str  # lit | unlit | ok | problem
    at: datetime
    component_id: str | None = None
    grid_code: str | None = None
    note: str | None = None
    case_id: str | None = None


@dataclass(frozen=True, slots=True)
class PatrolRecord:
    patrol_id: str
    inspector_id: str
    kind: str
    started_at: datetime
    ended_at: datetime
    distance_m: float
    grids: tuple[str, ...]
    checks: int


def _normalise_track(track: TrackInput, crs: Crs) -> list[tuple[float, float, datetime | None]]:
    pts: list[tuple[float, float, datetime | None]] = []
    for p in track:
        lon, lat = float(p[0]), float(p[1])
        at = p[2] if len(p) > 2 else None
        pts.append((lon, lat, _utc(at) if isinstance(at, datetime) else None))
    if crs != Crs.WGS84 and pts:
        xs, ys = to_wgs84(np.asarray([p[0] for p in pts]), np.asarray([p[1] for p in pts]), crs)
        pts = [(float(x), float(y), p[2]) for x, y, p in zip(xs, ys, pts, strict=True)]
    return [(round(x, 7), round(y, 7), t) for x, y, t in pts]


def track_length_m(points: Sequence[tuple[float, float, Any]]) -> float:
    if len(points) < 2:
        return 0.0
    lon = np.asarray([p[0] for p in points])
    lat = np.asarray([p[1] for p in points])
    return float(np.sum(haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])))


def grids_on_track(geo: Geography, points: Sequence[tuple[float, float, Any]]) -> list[str]:
    """Codes of the grids a WGS84 track passes through: the line runs through the grid's interior, or
    one of its fixes lies in the grid (a track along a shared edge passes neither side)."""
    if not points or not geo.grids:
        return []
    lon = np.asarray([p[0] for p in points], dtype=np.float64)
    lat = np.asarray([p[1] for p in points], dtype=np.float64)
    tree = geo.grid_tree()
    # Fixes strictly inside a grid (one on a shared edge belongs to neither side).
    _, within = tree.query(shapely.points(lon, lat), predicate="within")
    hit: set[int] = {int(i) for i in within}
    xy = np.column_stack((lon, lat))
    keep = np.concatenate(([True], np.any(np.diff(xy, axis=0) != 0, axis=1)))
    xy = xy[keep]
    if len(xy) >= 2:
        line = shapely.linestrings(xy)
        cand = tree.query(line, predicate="intersects")
        if cand.size:
            geoms = np.asarray([geo.grids[int(i)].geometry for i in cand], dtype=object)
            inside = shapely.relate_pattern(line, geoms, "T********")
            hit.update(int(i) for i, ok in zip(cand, inside, strict=True) if ok)
    return sorted(geo.grids[i].code for i in hit)


def _patrol_id(inspector_id: str, kind: str, started_at: datetime) -> str:
    digest = hashlib.sha1(f"{inspector_id}|{kind}|{started_at.isoformat()}".encode()).hexdigest()[:10]
    return f"PT-{started_at:%Y%m%dT%H%M%S}-{digest}"


def record_patrol(
    city: City,
    *,
    inspector_id: str,
    kind: str,
    track: TrackInput,
    checks: Sequence[PatrolCheck] = (),
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    patrol_id: str | None = None,
    district_code: str | None = None,
    note: str | None = None,
    crs: Crs = Crs.WGS84,
    conn: Connection | None = None,
) -> PatrolRecord:
    """Store a patrol: its WGS84 track, its checks and the grids the track passed through.

    ``track`` is a sequence of (lon, lat) or (lon, lat, time) fixes in ``crs``; the start and end times
    default to the first and last timed fix (or check).
    """
    for c in checks:
        if c.result not in CHECK_RESULTS:
            raise ValueError(f"check result {c.result!r} must be one of {', '.join(CHECK_RESULTS)}")
        if c.component_id is None and c.grid_code is None:
            raise ValueError("a check names a component_id or a grid_code")
    pts = _normalise_track(track, Crs(crs))
    times = [t for *_, t in pts if t is not None] + [_utc(c.at) for c in checks]
    start = _utc(started_at) if started_at else (min(times) if times else None)
    end = _utc(ended_at) if ended_at else (max(times) if times else None)
    if start is None or end is None:
        raise ValueError("a patrol needs started_at/ended_at or timed fixes or checks")
    if end < start:
        raise ValueError(f"the patrol ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    pid = patrol_id or _patrol_id(inspector_id, kind, start)
    geo = geography_for(city, demo_fallback=False)
    passed = grids_on_track(geo, pts) if geo is not None else []
    distance = track_length_m(pts)
    track_json = orjson.dumps([[x, y, t.isoformat() if t else None] for x, y, t in pts]).decode()
    if conn is None:
        with city.store.write() as wconn:
            return _write_patrol(city, wconn, pid, inspector_id, kind, start, end, track_json, distance,
                                 district_code, note, checks, passed)  # fmt: skip
    return _write_patrol(city, conn, pid, inspector_id, kind, start, end, track_json, distance, district_code,
                         note, checks, passed)  # fmt: skip


def _write_patrol(
    city: City, conn: Connection, pid: str, inspector_id: str, kind: str, start: datetime, end: datetime,
    track_json: str, distance: float, district_code: str | None, note: str | None,
    checks: Sequence[PatrolCheck], passed: Sequence[str],
) -> PatrolRecord:  # fmt: skip
    patrol = {
        "city_id": city.id, "patrol_id": pid, "inspector_id": inspector_id, "kind": kind,
        "started_at": start, "ended_at": end, "track": track_json, "distance_m": round(distance, 1),
        "district_code": district_code, "note": note,
    }  # fmt: skip
    rows = [
        {"city_id": city.id, "patrol_id": pid, "seq": i, "component_id": c.component_id,
         "grid_code": c.grid_code, "result": c.result, "at": _utc(c.at), "case_id": c.case_id, "note": c.note}
        for i, c in enumerate(checks, start=1)
    ]  # fmt: skip
    store.insert_patrol(
        conn, patrol, rows, [{"city_id": city.id, "patrol_id": pid, "grid_code": g} for g in passed]
    )
    return PatrolRecord(pid, inspector_id, kind, start, end, round(distance, 1), tuple(passed), len(rows))


# --------------------------------------------------------------------------- night lighting patrol


@dataclass(frozen=True, slots=True)
class LightCheck:
    """One street light seen on a night patrol."""

    component_id: str
    lit: bool
    at: datetime


@dataclass(slots=True)
class LightingPatrolResult:
    patrol: PatrolRecord
    checked: int = 0
    lit: int = 0
    unlit: int = 0
    cases: list[tuple[str, str]] = field(default_factory=list)  # (light id, new case id)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (light id, open case it matched)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (light id, why the case was refused)
    by_road_class: dict[str, dict[str, int]] = field(default_factory=dict)  # class → lit/checked

    @property
    def light_on_rate(self) -> float | None:
        """亮灯率 (着灯率) of this patrol: lit / checked."""
        return round(self.lit / self.checked, 4) if self.checked else None

    def as_dict(self) -> dict[str, Any]:
        rates = {
            k: {**v, "rate": round(v["lit"] / v["checked"], 4) if v["checked"] else None}
            for k, v in sorted(self.by_road_class.items())
        }
        return {
            "patrol_id": self.patrol.patrol_id,
            "inspector_id": self.patrol.inspector_id,
            "started_at": self.patrol.started_at.isoformat(),
            "ended_at": self.patrol.ended_at.isoformat(),
            "distance_km": round(self.patrol.distance_m / 1000, 2),
            "grids_passed": len(self.patrol.grids),
            "checked": self.checked,
            "lit": self.lit,
            "unlit": self.unlit,
            "light_on_rate": self.light_on_rate,
            "by_road_class": rates,
            "cases_created": len(self.cases),
            "already_open": len(self.duplicates),
            "refused": [{"component_id": c, "reason": r} for c, r in self.refused],
            "cases": [{"component_id": c, "case_id": k} for c, k in self.cases],
            "duplicates": [{"component_id": c, "case_id": k} for c, k in self.duplicates],
        }


def light_category(profile: CityProfile, component_type: str = STREET_LIGHT) -> str:
    """The profile's case category for faults of a component type (01037 路灯异常 for street lights)."""
    matches = [c.code for c in profile.categories if c.component_code == component_type]
    if not matches:
        raise ValueError(both("assets.no_light_category", component_type=component_type))
    return component_type if component_type in matches else matches[0]


def open_cases_for_components(
    city: City, comps: Sequence[RegisteredComponent], category_code: str, *, conn: Connection | None = None
) -> dict[str, str]:
    """Component id → an open case of ``category_code`` about it (the oldest), for deduplication.

    Open cases of the category in the components' bounding box come from the nearby index; their
    projection names the component.
    """
    if not comps:
        return {}
    if conn is None:
        with city.engine.connect() as c:
            return open_cases_for_components(city, comps, category_code, conn=c)
    w = min(c.lon for c in comps)
    e = max(c.lon for c in comps)
    s = min(c.lat for c in comps)
    n = max(c.lat for c in comps)
    w, s, _, _ = bbox_for_radius(w, s, 1.0)
    _, _, e, n = bbox_for_radius(e, n, 1.0)
    wanted = {c.component_id for c in comps}
    rows = store.open_case_rows_in_box(conn, city.id, category_code, (w, s, e, n))
    out: dict[str, tuple[datetime, str]] = {}
    for r in rows:
        comp_id = orjson.loads(r.doc).get("component_id")
        if comp_id in wanted and (comp_id not in out or (r.created_at, r.case_id) < out[comp_id]):
            out[comp_id] = (r.created_at, r.case_id)
    return {k: v[1] for k, v in out.items()}


def record_lighting_patrol(
    city: City,
    *,
    inspector_id: str,
    checks: Sequence[LightCheck],
    track: TrackInput | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    patrol_id: str | None = None,
    district_code: str | None = None,
    crs: Crs = Crs.WGS84,
) -> LightingPatrolResult:
    """Record a night lighting patrol and open one case per unlit light (see the module doc).

    ``checks`` name registered street lights; a light checked twice counts once (its last check).
    Without a ``track`` the lights' positions in check order are the track.
    """
    latest: dict[str, LightCheck] = {}
    for c in checks:
        latest[c.component_id] = c
    lights = components_by_id(city, list(latest))
    unknown = sorted(set(latest) - set(lights))
    if unknown:
        raise ValueError(f"unknown component(s): {', '.join(unknown[:10])}")
    not_lights = sorted(k for k, v in lights.items() if v.type_code != STREET_LIGHT)
    if not_lights:
        raise ValueError(f"not street lights ({STREET_LIGHT}): {', '.join(not_lights[:10])}")
    category = light_category(city.profile)
    if track is None:
        track = [(lights[c.component_id].lon, lights[c.component_id].lat, c.at) for c in checks]
        crs = Crs.WGS84
    ordered = sorted(latest.values(), key=lambda c: (_utc(c.at), c.component_id))
    unlit = [c for c in ordered if not c.lit]
    already = open_cases_for_components(city, [lights[c.component_id] for c in unlit], category)
    actor = Actor(inspector_id, Role.INSPECTOR)
    items: list[BatchItem] = []
    item_lights: list[str] = []
    for c in unlit:
        if c.component_id in already:
            continue
        light = lights[c.component_id]
        where = f"{light.road_name} " if light.road_name else ""
        fields: dict[str, Any] = {
            "channel": Channel.PATROL.value,
            "category_code": category,
            "component_id": light.component_id,
            "lon": light.lon,
            "lat": light.lat,
            "address": demo_text("light_address", where=where, component_id=light.component_id),
            "description": demo_text("light_description", where=where, component_id=light.component_id),
            "grid_code": light.grid_code,
            "community_code": light.community_code,
            "street_code": light.street_code,
            "district_code": light.district_code,
        }
        items.append(BatchItem(Command(Action.REPORT, "", fields), actor, _utc(c.at)))
        item_lights.append(c.component_id)
    batch = city.cases.execute(items) if items else None
    created: dict[str, str] = {}
    refused: list[tuple[str, str]] = []
    if batch is not None:
        failed = dict(batch.errors)
        for i, light_id in enumerate(item_lights):
            if i in failed:
                refused.append((light_id, str(failed[i])))
            else:
                case_id = batch.case_ids[i]
                assert case_id is not None
                created[light_id] = case_id
    patrol_checks_: list[PatrolCheck] = []
    for c in ordered:
        light = lights[c.component_id]
        patrol_checks_.append(
            PatrolCheck(
                "lit" if c.lit else "unlit", c.at, c.component_id, light.grid_code,
                case_id=None if c.lit else created.get(c.component_id) or already.get(c.component_id),
            )
        )  # fmt: skip
    record = record_patrol(
        city, inspector_id=inspector_id, kind="lighting", track=track, checks=patrol_checks_,
        started_at=started_at, ended_at=ended_at, patrol_id=patrol_id, district_code=district_code, crs=crs,
    )  # fmt: skip
    result = LightingPatrolResult(
        record, checked=len(ordered), lit=len(ordered) - len(unlit), unlit=len(unlit)
    )
    result.cases = sorted(created.items())
    result.duplicates = sorted((k, v) for k, v in already.items())
    result.refused = refused
    classes: dict[str, Counter[str]] = defaultdict(Counter)
    for c in ordered:
        rc = lights[c.component_id].road_class
        key = rc.value if rc else "unknown"
        classes[key]["checked"] += 1
        classes[key]["lit"] += int(c.lit)
    result.by_road_class = {k: {"checked": v["checked"], "lit": v["lit"]} for k, v in classes.items()}
    return result


def _serpentine(lights: list[RegisteredComponent]) -> list[RegisteredComponent]:
    """A drivable-looking order: road by road (by name), along each road's long axis, alternating
    direction so the next road starts near where the last one ended."""
    by_road: dict[str, list[RegisteredComponent]] = defaultdict(list)
    for c in lights:
        by_road[c.road_name or ""].append(c)
    out: list[RegisteredComponent] = []
    for k, name in enumerate(sorted(by_road)):
        group = by_road[name]
        lons = [c.lon for c in group]
        lats = [c.lat for c in group]
        along_lon = (max(lons) - min(lons)) * 0.79 >= (max(lats) - min(lats))  # cos(37.8°) ≈ 0.79
        group.sort(key=lambda c: ((c.lon if along_lon else c.lat), c.component_id), reverse=bool(k % 2))
        out += group
    return out


def lighting_route(city: City, district_code: str) -> list[RegisteredComponent]:
    """The intact or damaged street lights of a district in a drivable order (road by road)."""
    with city.engine.connect() as conn:
        ids = store.component_ids_in_district(
            conn,
            city.id,
            district_code,
            [ComponentState.INTACT.value, ComponentState.DAMAGED.value],
            type_code=STREET_LIGHT,
        )
    if not ids:
        raise ValueError(
            f"no street lights registered in district {district_code} (run civicloop geo load-demo)"
        )
    lights = components_by_id(city, ids)
    return _serpentine([lights[i] for i in ids])


def simulate_lighting_patrol(
    city: City,
    *,
    district_code: str,
    unlit_rate: float = 0.03,
    seed: int = 1,
    at: datetime | None = None,
    inspector_id: str | None = None,
    max_lights: int | None = None,
    speed_kmh: float = 25.0,
    start_index: int = 0,
    route_lights: Sequence[RegisteredComponent] | None = None,
) -> LightingPatrolResult:
    """A simulated night lighting patrol of a district's street lights (for the demo).

    Every intact or damaged light of the district is visited road by road at ``speed_kmh`` from ``at``
    (default: now), each unlit with probability ``unlit_rate`` (seeded). The inspector defaults to the
    district's first duty inspector (``ins-<district>-01``). With ``max_lights`` the patrol covers that
    many lights of the route from ``start_index`` on (wrapping round), so nightly patrols can take turns;
    ``route_lights`` is the district's :func:`lighting_route` when the caller already has it.
    """
    if not 0.0 <= unlit_rate <= 1.0:
        raise ValueError("unlit_rate must be between 0 and 1")
    route = list(route_lights) if route_lights is not None else lighting_route(city, district_code)
    if max_lights is not None and max_lights < len(route):
        first = start_index % len(route)
        route = (route[first:] + route[:first])[:max_lights]
    rng = random.Random(seed)
    start = _utc(at) if at is not None else datetime.now(UTC).replace(microsecond=0)
    speed = speed_kmh / 3.6
    moment = start
    checks: list[LightCheck] = []
    track: list[tuple[float, float, datetime | None]] = []
    prev: RegisteredComponent | None = None
    for light in route:
        if prev is not None:
            moment += timedelta(seconds=float(haversine_m(prev.lon, prev.lat, light.lon, light.lat)) / speed)
        moment = moment.replace(microsecond=0)
        checks.append(LightCheck(light.component_id, rng.random() >= unlit_rate, moment))
        track.append((light.lon, light.lat, moment))
        prev = light
    if inspector_id is None:
        duty = duty_grids_of(city, f"ins-{district_code}-01")
        inspector_id = f"ins-{district_code}-01" if duty else f"patrol-{district_code}"
    return record_lighting_patrol(
        city, inspector_id=inspector_id, checks=checks, track=track, started_at=start,
        ended_at=moment, district_code=district_code,
    )  # fmt: skip


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True, slots=True)
class InspectorCoverage:
    inspector_id: str
    duty_grids: int
    covered: int
    patrols: int

    @property
    def share(self) -> float | None:
        return round(self.covered / self.duty_grids, 4) if self.duty_grids else None


@dataclass(slots=True)
class CoverageReport:
    """Patrol coverage (巡查覆盖率) over [start, end)."""

    start: datetime
    end: datetime
    inspectors: list[InspectorCoverage] = field(default_factory=list)
    duty_grids: int = 0  # duty grids in scope (a grid shared by two inspectors counts once)
    covered_by_own: int = 0  # duty grids passed by one of their own inspectors' tracks
    covered_by_any: int = 0  # duty grids passed by any patrol
    passes: dict[str, int] = field(default_factory=dict)  # grid → patrols that passed it (in scope)

    @property
    def share(self) -> float | None:
        return round(self.covered_by_own / self.duty_grids, 4) if self.duty_grids else None

    @property
    def share_any(self) -> float | None:
        return round(self.covered_by_any / self.duty_grids, 4) if self.duty_grids else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "duty_grids": self.duty_grids,
            "covered_by_own_inspector": self.covered_by_own,
            "coverage": self.share,
            "covered_by_any_patrol": self.covered_by_any,
            "coverage_any": self.share_any,
            "inspectors": [
                {"inspector_id": i.inspector_id, "duty_grids": i.duty_grids, "covered": i.covered,
                 "coverage": i.share, "patrols": i.patrols}
                for i in self.inspectors
            ],
            "grid_passes": dict(sorted(self.passes.items())),
        }  # fmt: skip


def _period(city: City, start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """Local dates are inclusive days ([start 00:00, end+1 00:00) in the city's zone); datetimes are a
    half-open interval."""
    tz = ZoneInfo(city.profile.timezone)
    a = _utc(start) if isinstance(start, datetime) else datetime.combine(start, time(0), tz).astimezone(UTC)
    if isinstance(end, datetime):
        b = _utc(end)
    else:
        b = datetime.combine(end + timedelta(days=1), time(0), tz).astimezone(UTC)
    if b <= a:
        raise ValueError("the period ends before it starts")
    return a, b


def patrol_coverage(
    city: City,
    start: date | datetime,
    end: date | datetime,
    *,
    inspector_id: str | None = None,
    district_code: str | None = None,
) -> CoverageReport:
    """Share of duty grids the patrol tracks passed through, per inspector and overall, for patrols
    that started in the period (local dates inclusive, or a [start, end) pair of datetimes)."""
    a, b = _period(city, start, end)
    report = CoverageReport(a, b)
    with city.engine.connect() as conn:
        duty = store.duty_grid_pairs(conn, city.id, inspector_id=inspector_id, grid_prefix=district_code)
        passed, counts = store.patrol_coverage_rows(conn, city.id, a, b, grid_prefix=district_code)
    own: dict[str, set[str]] = defaultdict(set)
    anyone: set[str] = set()
    passes: Counter[str] = Counter()
    for ins, grid, _pid in passed:
        own[ins].add(grid)
        anyone.add(grid)
        passes[grid] += 1
    per: dict[str, set[str]] = defaultdict(set)
    for ins, grid in duty:
        per[ins].add(grid)
    all_duty: set[str] = set()
    covered_own: set[str] = set()
    for ins in sorted(per):
        grids = per[ins]
        covered = grids & own.get(ins, set())
        all_duty |= grids
        covered_own |= covered
        report.inspectors.append(InspectorCoverage(ins, len(grids), len(covered), counts.get(ins, 0)))
    report.duty_grids = len(all_duty)
    report.covered_by_own = len(covered_own)
    report.covered_by_any = len(all_duty & anyone)
    report.passes = {g: n for g, n in passes.items() if g in all_duty or inspector_id is None}
    return report


def road_class_targets(profile: CityProfile) -> dict[str, float]:
    """着灯率 targets by road class from the profile's KPI targets."""
    t = profile.kpi.targets
    return {RoadClass.MAIN.value: t.light_on_rate_main, RoadClass.SECONDARY.value: t.light_on_rate_secondary}
