"""The free-text case search's trigram index (migration 0016): PostgreSQL only, and the search's answers are
the same whichever way the planner reads them (tests/api/test_case_search.py checks them on both stores)."""

from __future__ import annotations

import pytest
from sqlalchemy import URL, Engine, inspect, make_url

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.cases.service import CaseQuery
from civicloop.kernel.vocabulary import Role
from civicloop.store.database import make_engine
from tests.conftest import PG_URL, REQUIRE_PG


def test_postgresql_indexes_the_trigrams_of_the_search_text_and_sqlite_adds_nothing(
    backend: tuple[str, Engine], city_id: str
) -> None:
    name, engine = backend
    init_city("taiyuan", engine=engine, city_id=city_id)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("cases")}
    assert ("ix_cases_text_trgm" in indexes) is (name == "postgres")
    if name == "postgres":
        with engine.connect() as conn:
            definition = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_cases_text_trgm'"
            ).scalar_one()
        assert "gin" in definition and "gin_trgm_ops" in definition and "lower(search_text)" in definition


def test_a_database_that_may_not_create_pg_trgm_is_migrated_without_the_index(city_id: str) -> None:
    """The fallback of 0016: an owner without CREATE on the database cannot add the (trusted) extension;
    the upgrade goes on, the search scans, and says so in the log."""
    if PG_URL is None:
        if REQUIRE_PG:
            pytest.fail("CIVICLOOP_TEST_PG_URL is not set but CIVICLOOP_REQUIRE_PG=1 (run via `make test`)")
        pytest.skip("PostgreSQL not configured: run `make test` to start one")
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    database, role = f"nopriv_{city_id}", f"nopriv_{city_id}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"CREATE DATABASE {database}")
    url = make_url(PG_URL).set(database=database)
    try:
        with make_engine(_text(url)).connect() as conn, conn.begin():
            # tables in public, but no CREATE on the database: CREATE EXTENSION is refused
            conn.exec_driver_sql(f"GRANT CREATE ON SCHEMA public TO {role}")
        engine = make_engine(_text(url.set(username=role)))
        city = init_city("taiyuan", engine=engine, city_id=city_id)
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("cases")}
        assert "ix_cases_text_trgm" not in indexes and "ix_cases_city_due" in indexes  # the rest is there
        with engine.connect() as conn:
            heads = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        assert "0016_case_text_trigrams" in heads
        case_id = city.cases.report(
            Actor("ins-1", Role.INSPECTOR),
            {"channel": "inspector", "category_code": "06010", "lon": 112.56, "lat": 37.84,
             "description": "井盖缺失", "address": "迎泽大街1号"},
        ).case_id  # fmt: skip
        assert [s.case_id for s in city.cases.search(CaseQuery(text="井盖缺失"))] == [case_id]
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def _text(url: URL) -> str:
    return url.render_as_string(hide_password=False)
