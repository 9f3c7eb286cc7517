"""Engines and migrations. SQLite (WAL) is the embedded default; PostgreSQL via CIVICLOOP_DATABASE_URL."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError

from civicloop.store.tables import cities

DEFAULT_URL = "sqlite:///./var/civicloop.db"


def database_url() -> str:
    return os.environ.get("CIVICLOOP_DATABASE_URL") or DEFAULT_URL


def database_exists(url: str) -> bool:
    """False for a SQLite file that does not exist (opening it would create an empty one); a server
    database (PostgreSQL) is taken to exist: connecting says otherwise."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        return not path or path == ":memory:" or Path(path).exists()
    return True


def is_missing_table(exc: BaseException) -> bool:
    """True when a statement failed because a table does not exist: the schema is older than the code
    (SQLite "no such table", PostgreSQL SQLSTATE 42P01)."""
    if not isinstance(exc, DBAPIError):
        return False
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01"


def make_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Take BEGIN from pysqlite: a writing transaction starts IMMEDIATE so that two writers queue on
        # busy_timeout instead of one failing when it upgrades its read lock; readers stay deferred.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a report acknowledged to its sender survives a power cut, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    location = resources.files("civicloop.store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")  # capabilities add their own branches off 0001_core


def city_registered(engine: Engine, city_id: str) -> bool:
    """Whether *city_id* is in the database (a round trip: the health check's probe)."""
    with engine.connect() as conn:
        return conn.execute(select(cities.c.city_id).where(cities.c.city_id == city_id)).first() is not None
