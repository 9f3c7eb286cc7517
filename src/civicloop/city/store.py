"""Queries on the register of cities (the ``cities`` table of the core schema)."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, select

from civicloop.store.tables import cities


def registered_city_ids(engine: Engine) -> list[str]:
    """The ids of the cities registered in the database, sorted; empty before ``civicloop init``."""
    if not inspect(engine).has_table(cities.name, schema=cities.schema):
        return []
    with engine.connect() as conn:
        return [r.city_id for r in conn.execute(select(cities.c.city_id).order_by(cities.c.city_id))]
