"""Shared fixtures: every database test runs on SQLite and on the PostgreSQL that `make test` starts."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from civicloop.store.database import make_engine, migrate

PG_URL = os.environ.get("CIVICLOOP_TEST_PG_URL")
REQUIRE_PG = os.environ.get("CIVICLOOP_REQUIRE_PG") == "1"
_counter = itertools.count(1)
_pg_engine: Engine | None = None


def _postgres_engine() -> Engine:
    global _pg_engine
    if _pg_engine is None:
        assert PG_URL is not None
        _pg_engine = make_engine(PG_URL)
        # pytest-xdist workers share the one database: one migrates, the others wait for it
        with _pg_engine.connect() as lock:
            lock.exec_driver_sql("SELECT pg_advisory_lock(47678)")
            try:
                migrate(_pg_engine)
            finally:
                lock.exec_driver_sql("SELECT pg_advisory_unlock(47678)")
    return _pg_engine


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """(name, engine) for each store. PostgreSQL is shared and migrated once; tests use their own city."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'civicloop.db'}")
        yield "sqlite", engine
        engine.dispose()
        return
    if PG_URL is None:
        if REQUIRE_PG:
            pytest.fail("CIVICLOOP_TEST_PG_URL is not set but CIVICLOOP_REQUIRE_PG=1 (run via `make test`)")
        pytest.skip("PostgreSQL not configured: run `make test` to start one")
    yield "postgres", _postgres_engine()


@pytest.fixture
def city_id() -> str:
    """A fresh jurisdiction id per test, so tests never see each other's cases on a shared database."""
    return f"t{os.getpid()}x{next(_counter)}"
