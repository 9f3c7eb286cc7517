"""Fixtures for the geography tests: a demo city with a small stored geography, on SQLite and PostgreSQL.

The small extent (about 3 × 5.5 km where 小店区 meets 迎泽区) gives ~1,500 grids and ~2,500 components:
built in memory once per session (cached by the service), stored per test city in a fraction of a second.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.demo.geography import load_demo_geography

SMALL_EXTENT = (112.54, 37.81, 112.57, 37.86)


def a_city_with_geography(engine: Engine, city_id: str, *, components: bool = True) -> City:
    city = init_city("taiyuan", engine=engine, city_id=city_id)
    report = load_demo_geography(city, extent=SMALL_EXTENT, with_components=components)
    assert not report.skipped and report.grids > 1000
    return city


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    """The demo city with the small demo geography, components and duty grids stored."""
    return a_city_with_geography(backend[1], city_id)
