"""The city registry's queries (table ``cities`` in :mod:`civicloop.store.tables`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, inspect, select

from civicloop.store.tables import cities


def registered_city_ids(engine: Engine) -> list[str]:
    """The ids of the cities registered in the database, sorted; empty before ``civicloop init``."""
    if not inspect(engine).has_table(cities.name, schema=cities.schema):
        return []
    with engine.connect() as conn:
        return [r.city_id for r in conn.execute(select(cities.c.city_id).order_by(cities.c.city_id))]


def registered_cities(conn: Connection) -> Sequence[Any]:
    """Every registered city: rows of (city_id, profile)."""
    return conn.execute(select(cities.c.city_id, cities.c.profile)).all()


def register_city(
    conn: Connection, city_id: str, name: str, name_en: str, profile: str, created_at: datetime
) -> bool:
    """Register the city unless it is already; True if it was added now."""
    exists = conn.execute(select(cities.c.city_id).where(cities.c.city_id == city_id)).first()
    if exists is not None:
        return False
    conn.execute(
        insert(cities).values(
            city_id=city_id, name=name, name_en=name_en, profile=profile, created_at=created_at
        )
    )
    return True
