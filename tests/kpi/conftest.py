"""Fixtures of the KPI tests: the hand-built month of history.py on SQLite and PostgreSQL, built once."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.store.database import make_engine
from tests.conftest import PG_URL, REQUIRE_PG, _postgres_engine
from tests.kpi.history import History, build


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def month(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """The hand-built November (history.py) written through CaseService, on each store."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("kpi") / "civicloop.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        if PG_URL is None:
            if REQUIRE_PG:
                pytest.fail("CIVICLOOP_TEST_PG_URL is not set but CIVICLOOP_REQUIRE_PG=1")
            pytest.skip("PostgreSQL not configured: run `make test` to start one")
        engine = _postgres_engine()
    city_id = f"k{os.getpid()}{request.param[:2]}{request.module.__name__[-6:].replace('.', '')}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city: City = init_city("taiyuan", engine=engine, city_id=city_id, today=date(2026, 11, 26))
    yield build(city)
    if request.param == "sqlite":
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[History, str]]:
    """The hand-built November on SQLite only, with its database URL (for reports and the CLI)."""
    path: Path = tmp_path_factory.mktemp("kpi-sqlite") / "civicloop.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city: City = init_city("taiyuan", engine=engine, today=date(2026, 11, 26))
    yield build(city), url
    engine.dispose()
