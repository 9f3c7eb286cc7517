"""Patrols: the night lighting patrol opens one case per unlit light (no duplicates); coverage."""

from __future__ import annotations

from datetime import date, datetime

import shapely
from sqlalchemy import Engine, and_, select

from civicloop.assets.patrols import (
    PatrolCheck,
    patrol_coverage,
    record_patrol,
    simulate_lighting_patrol,
    store_duty_grids,
)
from civicloop.assets.service import get_component
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.geo.boundaries import Area, AreaLevel
from civicloop.geo.grids import Grid
from civicloop.geo.projection import area_m2
from civicloop.geo.service import store_areas, store_grids
from civicloop.geo.store import patrol_checks
from civicloop.kernel.vocabulary import Action, Channel, Stage
from tests.support.domain import as_role, at

NIGHT = at("2026-06-01 20:30")


def test_a_night_lighting_patrol_opens_a_case_per_unlit_light(city: City) -> None:
    res = simulate_lighting_patrol(
        city, district_code="140106", unlit_rate=0.05, seed=1, at=NIGHT, max_lights=400
    )
    assert res.checked == 400 and res.lit + res.unlit == 400
    assert 5 <= res.unlit <= 40 and len(res.cases) == res.unlit and not res.duplicates and not res.refused
    assert res.patrol.inspector_id == "ins-140106-01" and res.patrol.grids
    light_id, case_id = res.cases[0]
    case = city.cases.get(case_id)
    assert case.channel is Channel.PATROL and case.category_code == "01037"
    assert case.component_id == light_id and case.grid_code and case.district_code == "140106"
    assert case.stage is Stage.REPORTED and not case.needs_verification
    assert case.created_at >= NIGHT
    with city.engine.connect() as conn:
        rows = conn.execute(
            select(patrol_checks.c.component_id, patrol_checks.c.result, patrol_checks.c.case_id).where(
                and_(patrol_checks.c.city_id == city.id, patrol_checks.c.patrol_id == res.patrol.patrol_id)
            )
        ).all()
    assert len(rows) == 400
    assert {(r.component_id, r.case_id) for r in rows if r.result == "unlit"} == set(res.cases)
    assert res.as_dict()["light_on_rate"] == round(res.lit / 400, 4)


def test_lights_already_reported_get_no_second_case(city: City) -> None:
    first = simulate_lighting_patrol(
        city, district_code="140106", unlit_rate=0.05, seed=1, at=NIGHT, max_lights=300
    )
    # One of them is closed in the meantime (rejected): an unlit light with only a closed case gets a new one.
    closed_light, closed_case = first.cases[0]
    city.cases.act(
        closed_case, Action.REJECT, as_role("operator"), {"reason": "invalid"}, at=at("2026-06-02 09:00")
    )
    # The next night the same lights are out (same seed, same route).
    second = simulate_lighting_patrol(
        city, district_code="140106", unlit_rate=0.05, seed=1, at=at("2026-06-02 20:30"), max_lights=300
    )
    assert second.unlit == first.unlit
    assert [c for c, _ in second.cases] == [closed_light]
    assert dict(second.duplicates) == dict(first.cases[1:])  # each pointing at last night's case


def test_a_citizens_open_report_about_the_light_is_reused(city: City) -> None:
    # A first pass with every light lit tells which three lights the route starts with.
    probe = simulate_lighting_patrol(
        city, district_code="140106", unlit_rate=0.0, seed=3, at=NIGHT, max_lights=3
    )
    assert probe.unlit == 0 and not probe.cases
    with city.engine.connect() as conn:
        route = list(
            conn.execute(
                select(patrol_checks.c.component_id)
                .where(
                    and_(
                        patrol_checks.c.city_id == city.id,
                        patrol_checks.c.patrol_id == probe.patrol.patrol_id,
                    )
                )
                .order_by(patrol_checks.c.seq)
            ).scalars()
        )
    light = get_component(city, route[1])
    assert light is not None
    citizen = city.cases.report(
        as_role("citizen", "c-1"),
        {
            "channel": "citizen",
            "category_code": "01037",
            "component_id": light.component_id,
            "lon": light.lon,
            "lat": light.lat,
            "description": "路灯不亮",
        },
        at=at("2026-06-01 21:00"),
    )
    res = simulate_lighting_patrol(
        city, district_code="140106", unlit_rate=1.0, seed=3, at=at("2026-06-01 22:00"), max_lights=3
    )
    assert res.unlit == 3
    assert res.duplicates == [(light.component_id, citizen.case_id)]
    assert sorted(c for c, _ in res.cases) == sorted([route[0], route[2]])


# --------------------------------------------------------------------------- coverage, by hand


def _square(x0: float, y0: float, x1: float, y1: float) -> object:
    return shapely.box(x0, y0, x1, y1)


def test_coverage_on_a_tiny_hand_made_example(backend: tuple[str, Engine], city_id: str) -> None:
    city = init_city("taiyuan", engine=backend[1], city_id=city_id)
    box = (112.50, 37.80, 112.52, 37.82)
    areas = [
        Area("140105", "小店区", AreaLevel.DISTRICT, None, _square(*box)),
        Area("140105001", "街道", AreaLevel.STREET, "140105", _square(*box)),
        Area("140105001001", "社区", AreaLevel.COMMUNITY, "140105001", _square(*box)),
    ]
    # 2 × 2 grids: 001 NW, 002 NE, 003 SW, 004 SE.
    quads = {
        "001": (112.50, 37.81, 112.51, 37.82),
        "002": (112.51, 37.81, 112.52, 37.82),
        "003": (112.50, 37.80, 112.51, 37.81),
        "004": (112.51, 37.80, 112.52, 37.81),
    }
    grids = []
    for n, q in quads.items():
        g = _square(*q)
        grids.append(Grid(f"140105001001{n}", g, "140105001001", float(area_m2(g))))
    store_areas(city, areas)
    store_grids(city, grids)
    g = {n: f"140105001001{n}" for n in quads}
    store_duty_grids(city, {"ins-a": [g["001"], g["002"]], "ins-b": [g["003"], g["004"]]})
    # ins-a drives west → east through 001, then turns south into 003.
    record_patrol(
        city,
        inspector_id="ins-a",
        kind="general",
        track=[
            (112.502, 37.815, at("2026-06-01 09:00")),
            (112.505, 37.815, None),
            (112.505, 37.805, at("2026-06-01 09:30")),
        ],
    )
    # ins-b walks exactly along the shared edge of 003 and 004 (neither is passed), then into 004.
    record_patrol(
        city,
        inspector_id="ins-b",
        kind="general",
        track=[
            (112.51, 37.801, at("2026-06-02 10:00")),
            (112.51, 37.809, None),
            (112.515, 37.805, at("2026-06-02 10:20")),
        ],
    )
    # A patrol before the period does not count.
    record_patrol(
        city,
        inspector_id="ins-a",
        kind="general",
        track=[(112.515, 37.815), (112.516, 37.816)],
        checks=[PatrolCheck("ok", at("2026-05-20 09:00"), grid_code=g["002"])],
    )
    rep = patrol_coverage(city, date(2026, 6, 1), date(2026, 6, 2))
    per = {i.inspector_id: i for i in rep.inspectors}
    assert (per["ins-a"].duty_grids, per["ins-a"].covered, per["ins-a"].share, per["ins-a"].patrols) == (
        2,
        1,
        0.5,
        1,
    )
    assert (per["ins-b"].covered, per["ins-b"].share) == (1, 0.5)
    assert (rep.duty_grids, rep.covered_by_own, rep.share) == (4, 2, 0.5)
    assert (rep.covered_by_any, rep.share_any) == (3, 0.75)  # 003 was passed, by the wrong inspector
    assert rep.passes == {g["001"]: 1, g["003"]: 1, g["004"]: 1}
    # The earlier patrol counts in a period that includes it; one day alone sees ins-a only.
    assert patrol_coverage(city, date(2026, 5, 20), date(2026, 6, 2)).covered_by_any == 4
    day1 = patrol_coverage(city, date(2026, 6, 1), date(2026, 6, 1))
    assert day1.covered_by_any == 2 and day1.as_dict()["coverage"] == 0.25
    # Local days: 2026-06-02 00:30 Beijing time is 2026-06-01 16:30 UTC and belongs to June 2.
    assert (
        patrol_coverage(
            city,
            datetime.fromisoformat("2026-06-01T01:00:00+00:00"),
            datetime.fromisoformat("2026-06-01T01:31:00+00:00"),
        ).covered_by_any
        == 2
    )
