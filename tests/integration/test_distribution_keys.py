"""Every table can be distributed by city (docs/scale.md): its primary key, and every unique constraint or
unique index, starts with ``city_id`` — what Citus requires of a table distributed on that column — except
the tables listed in ``GLOBAL`` with the reason. Checked on the migrated schema (all migrations, on SQLite
and PostgreSQL), not on the models, so a table a migration adds is never missed.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from civicloop.store.database import migrate

#: Tables without a city: each is a Citus *reference table* (copied to every node) or local bookkeeping.
GLOBAL = {
    "cities": "the registry of cities itself: keyed by city_id alone, a reference table on every node",
    "alembic_version": "the schema version of the database, not data (one row, on the coordinator)",
}


def test_every_key_of_every_table_starts_with_the_city(backend: tuple[str, Engine]) -> None:
    engine = backend[1]
    migrate(engine)
    insp = inspect(engine)
    tables = sorted(insp.get_table_names())
    assert {"events", "cases", "users", "city_members", "geo_grids"} <= set(tables)
    assert set(GLOBAL) <= set(tables), "a listed global table no longer exists: remove it from GLOBAL"
    wrong: list[str] = []
    for table in tables:
        if table in GLOBAL:
            continue
        pk = insp.get_pk_constraint(table)["constrained_columns"]
        if not pk or pk[0] != "city_id":
            wrong.append(f"{table}: primary key {pk}")
        for uq in insp.get_unique_constraints(table):
            if "city_id" not in uq["column_names"]:
                wrong.append(f"{table}: unique {uq['name']} {uq['column_names']}")
        for ix in insp.get_indexes(table):
            if ix.get("unique") and "city_id" not in ix["column_names"]:
                wrong.append(f"{table}: unique index {ix['name']} {ix['column_names']}")
    assert not wrong, "keys that a distribution by city_id cannot enforce:\n" + "\n".join(wrong)
