"""着灯率 and 设施完好率 from the geography tables; "no data" (never 0) without them."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.geo.store import component_states, components, patrol_checks
from civicloop.kpi.assets import asset_summary, facility_intact_rates, light_on_rates
from civicloop.kpi.core import parse_period
from tests.kpi.history import at

NOV = parse_period("2026-11")


def _city(backend: tuple[str, Engine], city_id: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))


def _light(
    city_id: str, cid: str, district: str, road_class: str, start: date | None = None
) -> dict[str, Any]:
    return {
        "city_id": city_id, "component_id": cid, "type_code": "01037", "name": "路灯", "state": "intact",
        "district_code": district, "lon": 112.55, "lat": 37.85, "road_class": road_class, "start_date": start,
        "generated": True, "updated_at": datetime(2026, 10, 1, tzinfo=UTC),
    }  # fmt: skip


def _history(city_id: str, cid: str, seq: int, when: str, before: str | None, after: str) -> dict[str, Any]:
    return {"city_id": city_id, "component_id": cid, "seq": seq, "at": at(when), "from_state": before,
            "to_state": after, "source": "registry"}  # fmt: skip


def _check(city_id: str, patrol: str, seq: int, cid: str, result: str, when: str) -> dict[str, Any]:
    return {"city_id": city_id, "patrol_id": patrol, "seq": seq, "component_id": cid, "result": result,
            "at": at(when)}  # fmt: skip


@pytest.fixture
def lit_city(backend: tuple[str, Engine], city_id: str) -> City:
    city = _city(backend, city_id)
    c = city_id
    with city.engine.begin() as conn:
        conn.execute(insert(components), [
            _light(c, "L1", "140105", "main"), _light(c, "L2", "140105", "main"),
            _light(c, "L3", "140105", "secondary", date(2026, 11, 16)), _light(c, "L4", "140106", "branch"),
        ])  # fmt: skip
        conn.execute(insert(component_states), [
            _history(c, "L2", 1, "2026-10-01 00:00", None, "intact"),
            _history(c, "L2", 2, "2026-11-11 00:00", "intact", "damaged"),
            _history(c, "L2", 3, "2026-11-21 00:00", "damaged", "intact"),
            _history(c, "L4", 1, "2026-11-06 00:00", "intact", "removed"),
        ])  # fmt: skip
        conn.execute(insert(patrol_checks), [
            _check(c, "P0", 1, "L1", "unlit", "2026-10-30 21:00"),  # October: not counted
            _check(c, "P1", 1, "L1", "lit", "2026-11-03 20:00"),
            _check(c, "P1", 2, "L2", "unlit", "2026-11-03 20:05"),
            _check(c, "P1", 3, "L3", "lit", "2026-11-03 20:10"),
            _check(c, "P1", 4, "L4", "lit", "2026-11-03 20:20"),
            _check(c, "P2", 1, "L1", "lit", "2026-11-17 20:00"),
            _check(c, "P2", 2, "L2", "lit", "2026-11-17 20:05"),
        ])  # fmt: skip
    return city


def test_light_on_rate_per_district_and_road_class(lit_city: City) -> None:
    rows = light_on_rates(lit_city.engine, lit_city.id, NOV, targets=lit_city.profile.kpi.targets)
    by = {(r.district_code, r.road_class): r for r in rows}
    assert by[(None, None)].rate == pytest.approx(5 / 6)
    main = by[("140105", "main")]
    assert (main.numerator, main.denominator, main.target) == (3, 4, 0.98) and main.as_json()[
        "meets_target"
    ] is False
    assert by[("140105", "secondary")].rate == 1.0 and by[("140106", "branch")].rate == 1.0


def test_facility_intact_rate_is_weighted_by_time_not_intact(lit_city: City) -> None:
    rows = facility_intact_rates(lit_city.engine, lit_city.id, NOV, target=0.95)
    city = rows[0]
    # L1 30 of 30 days, L2 20 of 30 (damaged 11–21 Nov), L3 15 of 15 (registered 16 Nov),
    # L4 5 of 5 (removed 6 Nov)
    assert (city.numerator, city.denominator) == pytest.approx((70, 80))
    assert city.rate == pytest.approx(0.875)
    d1_main = next(r for r in rows if r.district_code == "140105" and r.road_class == "main")
    assert d1_main.rate == pytest.approx(50 / 60)


def test_no_patrols_means_no_data_not_zero(backend: tuple[str, Engine], city_id: str) -> None:
    city = _city(backend, city_id)
    out = asset_summary(city.engine, city.id, NOV, city.profile.kpi.targets)
    assert out["light_on_rate"][0]["rate"] is None and out["light_on_rate"][0]["status"] == "no data"
    assert out["facility_intact_rate"][0]["status"] == "no data"


def test_without_the_geography_tables_there_is_no_data(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    assert light_on_rates(engine, "x", NOV)[0].status == "no data"
    assert facility_intact_rates(engine, "x", NOV)[0].rate is None
