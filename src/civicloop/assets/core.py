"""Demo management components (部件) for the in-memory registry.

Everything here is **generated** (the city's real component survey is not public). A plausible road
network is assumed: straight roads along the local metric lattice every 500 m, north–south roads
named 经N路 and east–west roads 纬N路 (invented names); every 4th road is a main road (主干路), every
other remaining even one a secondary road (次干路), the rest branch roads (支路). On them:

* street lights (01037 路灯) every 35 m — both sides of main and secondary roads, one side of branches;
* manhole covers every ~50 m in the carriageway: 01001 供水, 01002 污水, 01003 雨水, 01011 燃气井盖;
* litter bins (03005 垃圾箱) every ~100 m on the pavement of main and secondary roads;
* public toilets (03001 公共厕所), about one per 0.4 km², 25 m off a road.

Identifiers follow GB/T 47678.5: 17 digits = 6-digit district code + 2-digit major + 3-digit minor
(the 5-digit type code) + 6-digit serial, the serial counting per district and type in generation
order. Each component carries its 15-character grid code (components outside every grid are not
placed) and a state, mostly intact.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from civicloop.geo.demo import DemoGeography
from civicloop.geo.projection import LocalProjection

__all__ = [
    "COMPONENT_TYPES",
    "Component",
    "ComponentState",
    "DemoRoad",
    "RoadClass",
    "demo_roads",
    "generate_demo_components",
]


@cache
def demo_data() -> dict[str, Any]:
    """The demo's data (assets/demo_data.toml): component type names, road names, simulated texts."""
    text = (resources.files("civicloop.assets") / "demo_data.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def demo_text(name: str, /, **fields: object) -> str:
    """A text template of the demo data, filled in."""
    template: str = demo_data()["texts"][name]
    return template.format(**fields) if fields else template


COMPONENT_TYPES: dict[str, str] = {str(k): str(v) for k, v in demo_data()["component_types"].items()}


class ComponentState(StrEnum):
    INTACT = "intact"  # 完好
    DAMAGED = "damaged"  # 破损
    MISSING = "missing"  # 丢失
    ABANDONED = "abandoned"  # 废弃
    REMOVED = "removed"  # 移除


_STATE_P = (0.93, 0.04, 0.01, 0.01, 0.01)
_STATES = tuple(ComponentState)


class RoadClass(StrEnum):
    MAIN = "main"  # 主干路
    SECONDARY = "secondary"  # 次干路
    BRANCH = "branch"  # 支路


@dataclass(frozen=True, slots=True)
class DemoRoad:
    name: str
    road_class: RoadClass
    north_south: bool
    x0_m: float  # segment in the local metric projection
    y0_m: float
    x1_m: float
    y1_m: float


@dataclass(frozen=True, slots=True)
class Component:
    id: str  # 17 digits
    type_code: str  # 5 digits: 2 major + 3 minor
    name: str
    district_code: str
    street_code: str
    community_code: str
    grid_code: str
    lon: float  # WGS84
    lat: float
    state: ComponentState
    road_name: str | None = None
    road_class: RoadClass | None = None
    generated: bool = True


def _road_class(i: int) -> RoadClass:
    if i % 4 == 0:
        return RoadClass.MAIN
    if i % 2 == 0:
        return RoadClass.SECONDARY
    return RoadClass.BRANCH


def demo_roads(
    extent: tuple[float, float, float, float],
    projection: LocalProjection,
    locale: str = "zh-CN",
    spacing_m: float = 500.0,
) -> list[DemoRoad]:
    suffix = "_en" if locale.lower().startswith("en") else ""
    (x0, x1), (y0, y1) = projection.forward(
        np.array([extent[0], extent[2]]), np.array([extent[1], extent[3]])
    )
    x0f, x1f, y0f, y1f = float(x0), float(x1), float(y0), float(y1)
    roads: list[DemoRoad] = []
    nx = int((x1f - x0f) // spacing_m)
    for i in range(nx):
        x = x0f + spacing_m / 2 + i * spacing_m
        roads.append(DemoRoad(demo_text(f"road_ns{suffix}", n=i + 1), _road_class(i), True, x, y0f, x, y1f))
    ny = int((y1f - y0f) // spacing_m)
    for j in range(ny):
        y = y1f - spacing_m / 2 - j * spacing_m  # numbered from the north
        roads.append(DemoRoad(demo_text(f"road_ew{suffix}", n=j + 1), _road_class(j), False, x0f, y, x1f, y))
    return roads


@dataclass(slots=True)
class _Batch:
    type_code: str
    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    road: np.ndarray[Any, Any]  # road index or -1


def _along(road: DemoRoad, step: float, offsets: tuple[float, ...], phase: float) -> tuple[Any, Any]:
    length = abs(road.y1_m - road.y0_m) if road.north_south else abs(road.x1_m - road.x0_m)
    t = np.arange(phase, length, step)
    xs: list[Any] = []
    ys: list[Any] = []
    for off in offsets:
        if road.north_south:
            xs.append(np.full(t.shape, road.x0_m + off))
            ys.append(road.y0_m + t)
        else:
            xs.append(road.x0_m + t)
            ys.append(np.full(t.shape, road.y0_m + off))
    return np.concatenate(xs), np.concatenate(ys)


def generate_demo_components(geo: DemoGeography, seed: int = 1) -> list[Component]:
    """Thousands of generated components in the demo grids (deterministic for a seed)."""
    rng = np.random.default_rng([seed, 47678])
    ext = geo.extent
    proj = LocalProjection((ext[0] + ext[2]) / 2, (ext[1] + ext[3]) / 2)
    roads = demo_roads(ext, proj, locale=geo.locale)
    batches: list[_Batch] = []
    for ri, road in enumerate(roads):
        half = {RoadClass.MAIN: 18.0, RoadClass.SECONDARY: 11.0, RoadClass.BRANCH: 6.0}[road.road_class]
        sides = (-half, half) if road.road_class != RoadClass.BRANCH else (half,)
        x, y = _along(road, 35.0, sides, 10.0)
        batches.append(_Batch("01037", x, y, np.full(x.shape, ri)))
        x, y = _along(road, 50.0, (0.0,), 20.0)
        x = x + rng.uniform(-half * 0.6, half * 0.6, x.shape) * (1 if road.north_south else 0)
        y = y + rng.uniform(-half * 0.6, half * 0.6, y.shape) * (0 if road.north_south else 1)
        kinds = rng.choice(
            np.array(["01001", "01002", "01003", "01011"]), size=x.shape, p=[0.3, 0.3, 0.3, 0.1]
        )
        for k in ("01001", "01002", "01003", "01011"):
            m = kinds == k
            batches.append(_Batch(k, x[m], y[m], np.full(int(m.sum()), ri)))
        if road.road_class != RoadClass.BRANCH:
            x, y = _along(road, 100.0, (-(half + 2.0), half + 2.0), 45.0)
            batches.append(_Batch("03005", x, y, np.full(x.shape, ri)))
    # Public toilets: about one per 0.4 km², 25 m off a randomly chosen road.
    (x0, x1), (y0, y1) = proj.forward(np.array([ext[0], ext[2]]), np.array([ext[1], ext[3]]))
    area_km2 = float((x1 - x0) * (y1 - y0)) / 1e6
    n_toilets = max(1, int(area_km2 / 0.4))
    which = rng.integers(0, len(roads), n_toilets)
    frac = rng.uniform(0.0, 1.0, n_toilets)
    side = np.where(rng.uniform(0.0, 1.0, n_toilets) < 0.5, -25.0, 25.0)
    tx = np.empty(n_toilets)
    ty = np.empty(n_toilets)
    for t_i in range(n_toilets):
        r = roads[int(which[t_i])]
        f = float(frac[t_i])
        o = float(side[t_i])
        tx[t_i] = r.x0_m + o if r.north_south else r.x0_m + f * (r.x1_m - r.x0_m)
        ty[t_i] = r.y0_m + f * (r.y1_m - r.y0_m) if r.north_south else r.y0_m + o
    batches.append(_Batch("03001", tx, ty, which.astype(np.int64)))

    out: list[Component] = []
    serial: dict[tuple[str, str], int] = {}
    grids = geo.grids
    for b in batches:
        if b.x.size == 0:
            continue
        lon, lat = proj.inverse(b.x, b.y)
        # Round first (to ~1 cm, as stored) so the grid is that of the stored coordinates.
        lon = np.round(lon, 7)
        lat = np.round(lat, 7)
        gi = geo.locator.locate_many(lon, lat)
        keep = np.flatnonzero(gi >= 0)
        states = rng.choice(len(_STATES), size=keep.size, p=_STATE_P)
        for s_i, i in enumerate(keep):
            g = grids[int(gi[i])]
            key = (g.district_code, b.type_code)
            n = serial.get(key, 0) + 1
            serial[key] = n
            on_road = roads[int(b.road[i])] if b.road[i] >= 0 else None
            out.append(
                Component(
                    id=f"{g.district_code}{b.type_code}{n:06d}",
                    type_code=b.type_code,
                    name=COMPONENT_TYPES[b.type_code],
                    district_code=g.district_code,
                    street_code=g.street_code,
                    community_code=g.community_code,
                    grid_code=g.code,
                    lon=float(lon[i]),
                    lat=float(lat[i]),
                    state=_STATES[int(states[s_i])],
                    road_name=on_road.name if on_road else None,
                    road_class=on_road.road_class if on_road and b.type_code == "01037" else None,
                )
            )
    return out
