"""Store the demo geography, its components and the inspectors' duty grids (``civicloop geo demo``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from civicloop.city.service import City
from civicloop.geo.service import (
    _now,
    geography_version,
    invalidate_geography,
    is_demo_city,
    store_areas,
    store_grids,
)
from civicloop.geo.store import clear_city
from civicloop.kernel.i18n import both


@dataclass(frozen=True, slots=True)
class DemoLoadReport:
    districts: int
    streets: int
    communities: int
    grids: int
    components: int
    duty_grids: int
    inspectors: int
    skipped: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@lru_cache(maxsize=4)
def _demo_build(
    seed: int,
    extent: tuple[float, float, float, float],
    cell_m2: float,
    boundaries: str | None = None,
    locale: str = "zh-CN",
) -> Any:
    from civicloop.assets.core import generate_demo_components
    from civicloop.geo.demo import build_demo_geography

    demo = build_demo_geography(seed, extent=extent, cell_m2=cell_m2, boundaries=boundaries, locale=locale)
    return demo, generate_demo_components(demo, seed=1)


def load_demo_geography(
    city: City,
    *,
    seed: int | None = None,
    extent: tuple[float, float, float, float] | None = None,
    cell_m2: float = 10_000.0,
    with_components: bool = True,
    with_duty_grids: bool = True,
    replace: bool = False,
) -> DemoLoadReport:
    """Store the demo geography: the city's districts (Taiyuan's 10 real ones, or those of the profile's
    ``boundaries`` file), the generated streets, communities and
    unit grids, the generated components (street lights, manhole covers, bins, toilets) with their
    主管/权属/养护 units, and duty grids (责任网格) for the simulated inspectors.

    Idempotent: a city that already has stored geography is left alone (``skipped``) unless
    ``replace``. ``extent``/``seed`` default to the demo's (tests pass a small extent).
    """
    from civicloop.assets.patrols import demo_duty_assignment
    from civicloop.assets.service import demo_component_records, store_components
    from civicloop.geo.demo import DEFAULT_SEED
    from civicloop.geo.subdivisions import DEMO_EXTENT

    started = _now()
    if not is_demo_city(city.profile):
        raise ValueError(both("city.no_demo_geography", city=city.id))
    if geography_version(city) > 0 and not replace:
        return DemoLoadReport(0, 0, 0, 0, 0, 0, 0, skipped=True)
    profile = city.profile
    demo, comps = _demo_build(
        DEFAULT_SEED if seed is None else seed, extent or DEMO_EXTENT, cell_m2,
        profile.boundaries_path(), profile.default_locale,
    )  # fmt: skip
    records = demo_component_records(city.profile, comps) if with_components else []
    assignment = demo_duty_assignment(city.profile, demo.grids) if with_duty_grids else {}
    with city.store.write() as conn:
        if replace:
            clear_city(conn, city.id)
        store_areas(city, demo.areas, conn=conn)
        store_grids(city, demo.grids, source="generated", note="generated demo grid", conn=conn)
        if records:
            store_components(city, records, conn=conn)
        if assignment:
            from civicloop.assets.patrols import store_duty_grids

            store_duty_grids(city, assignment, conn=conn)
    invalidate_geography(city)
    return DemoLoadReport(
        len(demo.districts), len(demo.streets), len(demo.communities), len(demo.grids), len(records),
        sum(len(v) for v in assignment.values()), len(assignment),
        seconds=round((_now() - started).total_seconds(), 2),
    )  # fmt: skip
