"""The free-text case search's trigram index (migration 0016): PostgreSQL only, and the search's answers are
the same whichever way the planner reads them (tests/api/test_case_search.py checks them on both stores)."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from civicloop.bootstrap import init_city


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
