"""Geography and assets survive the database: areas, grids, components, history, duty grids, patrols."""

from __future__ import annotations

from datetime import date

import pytest
import shapely
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError

from civicloop.assets.core import ComponentState, RoadClass
from civicloop.assets.patrols import duty_grids_of
from civicloop.assets.service import component_history, get_component, set_component_state
from civicloop.city.service import City
from civicloop.demo.geography import _demo_build, load_demo_geography
from civicloop.geo.boundaries import AreaLevel
from civicloop.geo.service import geography_for, geography_version, stored_areas, stored_grids
from civicloop.geo.store import component_states, components, geo_areas
from tests.geo.conftest import SMALL_EXTENT
from tests.support.domain import at


def test_areas_and_grids_round_trip_exactly(city: City) -> None:
    demo, _ = _demo_build(20260101, SMALL_EXTENT, 10_000.0)
    areas = stored_areas(city)
    assert [a.code for a in areas] == sorted(a.code for a in demo.areas)
    by_code = {a.code: a for a in demo.areas}
    for a in areas:
        src = by_code[a.code]
        assert (a.name, a.level, a.parent_code, a.generated) == (
            src.name,
            src.level,
            src.parent_code,
            src.generated,
        )
        assert shapely.equals_exact(a.geometry, src.geometry, tolerance=0.0)
    assert {a.level for a in stored_areas(city, AreaLevel.DISTRICT)} == {AreaLevel.DISTRICT}
    assert len(stored_areas(city, AreaLevel.DISTRICT)) == 10  # the real districts, whole
    grids = stored_grids(city)
    assert [g.code for g in grids] == sorted(g.code for g in demo.grids)
    src_grids = {g.code: g for g in demo.grids}
    for g in grids[:: max(1, len(grids) // 50)]:
        s = src_grids[g.code]
        assert (g.community_code, g.row, g.col, g.generated) == (s.community_code, s.row, s.col, True)
        assert g.area_m2 == pytest.approx(s.area_m2)
        assert shapely.equals_exact(g.geometry, s.geometry, tolerance=0.0)
    first = grids[0].community_code
    assert [g.code for g in stored_grids(city, community_prefix=first)] == [
        g.code for g in grids if g.community_code == first
    ]


def test_components_round_trip_with_units_dates_and_road_class(city: City) -> None:
    _, comps = _demo_build(20260101, SMALL_EXTENT, 10_000.0)
    light = next(c for c in comps if c.type_code == "01037" and c.road_class is RoadClass.MAIN)
    stored = get_component(city, light.id)
    assert stored is not None
    assert (stored.lon, stored.lat, stored.grid_code, stored.state) == (
        light.lon,
        light.lat,
        light.grid_code,
        light.state,
    )
    assert stored.road_class is RoadClass.MAIN and stored.road_name == light.road_name
    assert stored.competent == stored.owner == stored.maintainer == "ty-lighting"
    assert isinstance(stored.start_date, date)
    bin_ = next(c for c in comps if c.type_code == "03005")
    stored_bin = get_component(city, bin_.id)
    assert stored_bin is not None
    # Bins are a district_departments category: the district's sanitation unit maintains them.
    assert stored_bin.owner == "ty-sanitation"
    district_unit = {"140105": "ty-xiaodian-sanitation", "140106": "ty-yingze-sanitation"}
    assert stored_bin.maintainer == district_unit[bin_.district_code]
    with city.engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(components).where(components.c.city_id == city.id)
        ).scalar()
    assert n == len(comps)


def test_state_changes_are_appended_and_the_history_refuses_edits(city: City) -> None:
    cid = next(
        c.id for c in _demo_build(20260101, SMALL_EXTENT, 10_000.0)[1] if c.state is ComponentState.INTACT
    )
    assert set_component_state(
        city, cid, "破损", at=at("2026-06-01 10:00"), source="patrol", patrol_id="PT-1"
    )
    assert not set_component_state(city, cid, ComponentState.DAMAGED, at=at("2026-06-01 11:00"))
    assert set_component_state(city, cid, "intact", at=at("2026-06-03 09:00"), source="case", case_id="TY-1")
    history = component_history(city, cid)
    assert [(h["from"], h["to"], h["source"]) for h in history] == [
        ("intact", "damaged", "patrol"),
        ("damaged", "intact", "case"),
    ]
    assert history[0]["patrol_id"] == "PT-1" and history[1]["case_id"] == "TY-1"
    stored = get_component(city, cid)
    assert (
        stored is not None
        and stored.state is ComponentState.INTACT
        and stored.changed_date == date(2026, 6, 3)
    )
    with pytest.raises(DBAPIError), city.engine.begin() as conn:
        conn.execute(update(component_states).where(component_states.c.city_id == city.id).values(note="x"))
    with pytest.raises(DBAPIError), city.engine.begin() as conn:
        conn.execute(text("DELETE FROM component_states WHERE city_id = :c"), {"c": city.id})


def test_duty_grids_match_the_simulated_inspectors(city: City) -> None:
    duty = duty_grids_of(city)
    per = city.profile.simulation.inspectors_per_district
    assert set(duty) == {f"ins-{d}-{i:02d}" for d in ("140105", "140106") for i in range(1, per + 1)}
    all_grids = [g for grids in duty.values() for g in grids]
    assert sorted(all_grids) == [g.code for g in stored_grids(city)]  # every grid, exactly once
    assert all(g.startswith(ins.split("-")[1]) for ins, grids in duty.items() for g in grids)


def test_loading_twice_is_a_no_op_and_the_version_counts_changes(city: City) -> None:
    v = geography_version(city)
    assert v >= 2
    assert load_demo_geography(city, extent=SMALL_EXTENT).skipped
    assert geography_version(city) == v
    geo = geography_for(city)
    assert geo is not None and geo.source == "database" and geo.version == v
    assert geography_for(city) is geo  # cached per process and version


def test_tables_are_keyed_by_city(backend: tuple[str, Engine], city: City) -> None:
    with city.engine.connect() as conn:
        other = conn.execute(
            select(func.count()).select_from(geo_areas).where(geo_areas.c.city_id == city.id + "-other")
        ).scalar()
    assert other == 0
    for table in (geo_areas, components, component_states):
        assert next(iter(table.primary_key.columns)).name == "city_id"
