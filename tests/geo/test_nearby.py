"""Nearby search on open cases (duplicate detection): radius, category, status, time window, index."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.geo.crs import Crs, wgs84_to_gcj02
from civicloop.geo.projection import EARTH_RADIUS_M, haversine_m
from civicloop.geo.service import nearby_open_cases
from civicloop.kernel.vocabulary import Action
from civicloop.store.database import make_engine
from tests.support.domain import as_role, at

P = (112.5551, 37.8452)
NOW = at("2026-06-10 10:00")


def offset(distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """A point at a great-circle distance and bearing from P."""
    lat1, lon1 = math.radians(P[1]), math.radians(P[0])
    d = distance_m / EARTH_RADIUS_M
    b = math.radians(bearing_deg)
    lat2 = math.asin(math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(b))
    lon2 = lon1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(lat1), math.cos(d) - math.sin(lat1) * math.sin(lat2)
    )
    return math.degrees(lon2), math.degrees(lat2)


def report(city: City, category: str, distance_m: float, bearing: float, when: datetime) -> str:
    lon, lat = offset(distance_m, bearing)
    s = city.cases.report(
        as_role("inspector", "ins-1"),
        {"channel": "inspector", "category_code": category, "lon": lon, "lat": lat, "description": "x"},
        at=when,
    )
    return s.case_id


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    return init_city("taiyuan", engine=backend[1], city_id=city_id)


def test_nearby_open_cases_radius_category_status_and_time_window(city: City) -> None:
    recent = NOW - timedelta(days=2)
    inside = report(city, "06010", 100, 30, recent)
    outside = report(city, "06010", 400, 200, recent)
    corner = report(city, "06010", 300, 45, recent)  # inside the box, outside the circle
    edge = report(city, "06010", 249, 270, recent)
    other_category = report(city, "06029", 50, 90, recent)
    closed = report(city, "06010", 80, 120, recent)
    city.cases.act(
        closed, Action.REJECT, as_role("operator"), {"reason": "invalid"}, at=recent + timedelta(hours=1)
    )
    old = report(city, "06010", 120, 300, NOW - timedelta(days=40))
    hits = nearby_open_cases(city, "06010", *P, 250)
    assert [c for c, _ in hits] == [inside, old, edge]  # nearest first
    assert hits[0][1] == pytest.approx(100, abs=0.01) and hits[2][1] == pytest.approx(249, abs=0.01)
    assert {outside, corner, other_category, closed}.isdisjoint(c for c, _ in hits)
    windowed = nearby_open_cases(city, "06010", *P, 250, since=NOW - timedelta(days=30))
    assert [c for c, _ in windowed] == [inside, edge]
    assert nearby_open_cases(city, "06010", *P, 250, limit=1) == hits[:1]
    assert [c for c, _ in nearby_open_cases(city, "06029", *P, 250)] == [other_category]
    assert [c for c, _ in nearby_open_cases(city, "06010", *P, 500)][-1] == outside
    # The point may come in GCJ-02 (a phone map): same answer.
    gcj = nearby_open_cases(city, "06010", *wgs84_to_gcj02(*P), 250, crs=Crs.GCJ02)
    assert [c for c, _ in gcj] == [c for c, _ in hits]
    assert [d for _, d in gcj] == pytest.approx([d for _, d in hits], abs=1e-4)
    # Distances are the exact great-circle ones.
    lon, lat = offset(100, 30)
    assert hits[0][1] == pytest.approx(haversine_m(P[0], P[1], lon, lat), rel=1e-9)


def test_other_cities_cases_are_invisible(backend: tuple[str, Engine], city: City, city_id: str) -> None:
    other = init_city("taiyuan", engine=backend[1], city_id=city_id + "o")
    report(other, "06010", 10, 0, NOW)
    assert nearby_open_cases(city, "06010", *P, 250) == []


def test_the_query_is_answered_from_the_partial_covering_index(tmp_path: Path) -> None:
    city = init_city("taiyuan", engine=make_engine(f"sqlite:///{tmp_path / 'n.db'}"))
    report(city, "06010", 10, 0, NOW)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        statements.append((statement, params))

    event.listen(city.engine, "before_cursor_execute", capture)
    try:
        assert nearby_open_cases(city, "06010", *P, 250, since=NOW - timedelta(days=30))
    finally:
        event.remove(city.engine, "before_cursor_execute", capture)
    sql, params = next((s, p) for s, p in statements if "FROM cases" in s)
    assert "public_status = 'open'" in sql  # a literal: the planner can match the partial index
    with city.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    detail = " ".join(str(r[-1]) for r in plan)
    assert "USING COVERING INDEX ix_cases_open_nearby" in detail, detail
