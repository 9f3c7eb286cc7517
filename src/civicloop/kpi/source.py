"""Where the analytics engine reads the event log from: DuckDB over SQLite, PostgreSQL, Parquet or Arrow.

Every source ends up as two DuckDB relations with the same columns, whatever the store:

* ``raw_events``: city_id, case_id, seq, action, at (TIMESTAMP, UTC), actor_id, actor_role,
  stage_before, stage_after, data (JSON text) — the ``events`` table — plus ``kpi_data``: the few
  fields of ``data`` the KPI engine reads, as a STRUCT (:data:`KPI_DATA_SPEC`). Stores compute it with
  ``json_transform`` when it is read; a Parquet export stores it (written once at export), so an
  evaluation of exported periods never parses JSON;
* ``raw_cases``: city_id, case_id, created_at, closed_at (TIMESTAMP, UTC) — from the ``cases``
  projection, used only to skip cases that cannot matter for a period (closed before it began).

SQLite and PostgreSQL are read in place by DuckDB's scanner extensions, loaded from the PyPI packages
``duckdb-extension-sqlite-scanner`` / ``-postgres-scanner`` (DuckDB cannot download extensions here).
A Parquet directory (written by :func:`civicloop.kpi.export.export_parquet`) is read with DuckDB's
built-in Parquet reader. When an extension is missing, the ``arrow`` source streams the rows through
SQLAlchemy into Arrow tables instead: slower, but any database SQLAlchemy reaches works.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import Engine, and_, or_, select

from civicloop.kernel.i18n import both
from civicloop.store.tables import cases, events

EVENT_COLUMNS = (
    "city_id",
    "case_id",
    "seq",
    "action",
    "at",
    "actor_id",
    "actor_role",
    "stage_before",
    "stage_after",
    "data",
)


#: The fields of an event's ``data`` the KPI engine reads (``json_transform`` structure). A Parquet
#: export stores them as the ``kpi_data`` column and records this spec in its manifest; an export made
#: with another spec is read with the JSON parsed again.
KPI_DATA_SPEC = json.dumps(
    {
        "channel": "VARCHAR",
        "category_code": "VARCHAR",
        "grid_code": "VARCHAR",
        "community_code": "VARCHAR",
        "street_code": "VARCHAR",
        "district_code": "VARCHAR",
        "department_id": "VARCHAR",
        "deadline": "VARCHAR",
        "returned_from": "VARCHAR",
        "reason": "VARCHAR",
        "passed": "BOOLEAN",
        "confirmed": "BOOLEAN",
        "used_minutes": "DOUBLE",
        "handling": {"used_minutes": "DOUBLE", "on_time": "BOOLEAN"},
        "handling_limit": {"unit": "VARCHAR"},
        "step_result": {"step": "VARCHAR", "on_time": "BOOLEAN"},
        # the report's place, for the analysis (hotspot map, recurring places)
        "lon": "DOUBLE",
        "lat": "DOUBLE",
        "address": "VARCHAR",
        # 回访: the rating of a feedback event, and whether the reporter left a contact (report event)
        "rating": "VARCHAR",
        "contactable": "BOOLEAN",
    },
    sort_keys=True,
)


def _kpi_data(column: str = "data") -> str:
    """SQL computing the ``kpi_data`` struct from a JSON text column."""
    spec = "'" + KPI_DATA_SPEC.replace("'", "''") + "'"
    return f"json_transform({column}, {spec}) AS kpi_data"


class SourceError(RuntimeError):
    """The event store cannot be read by the analytics engine (message in both languages)."""


def _extension_path(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = next(Path(location).rglob(f"{name}.duckdb_extension"), None)
        if found is not None:
            return found
    return None


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Load a DuckDB extension shipped in a PyPI package (``duckdb-extension-<name>``); False if absent."""
    package = "duckdb_extension_" + name.replace("-", "_")
    path = _extension_path(package, name)
    if path is None:
        return False
    try:
        con.execute(f"LOAD '{path}'")
    except duckdb.Error:
        return False
    return True


def new_connection(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    # results that need an order say ORDER BY; letting DuckDB reorder the rest saves work in the scans
    con.execute("SET preserve_insertion_order = false")
    env_threads = os.environ.get("CIVICLOOP_KPI_THREADS")
    if threads or env_threads:
        con.execute(f"SET threads = {int(threads or env_threads or 1)}")
    return con


_EVENTS_SELECT = (
    'SELECT city_id, case_id, CAST(seq AS INTEGER) AS seq, action, CAST("at" AS TIMESTAMP) AS "at", '
    "actor_id, actor_role, stage_before, stage_after, data, "
    + _kpi_data().replace("{", "{{").replace("}", "}}")
    + " FROM {table}"
)
_CASES_SELECT = (
    "SELECT city_id, case_id, CAST(created_at AS TIMESTAMP) AS created_at, "
    "CAST(closed_at AS TIMESTAMP) AS closed_at FROM {table}"
)


@dataclass
class Source:
    """An open DuckDB connection whose ``raw_events`` / ``raw_cases`` relations read one event store."""

    con: duckdb.DuckDBPyConnection
    kind: str  # sqlite | postgres | parquet | arrow | hybrid
    description: str
    engine: Engine | None = None
    #: a Parquet export's folder and watermark (naive UTC): periods ending by it may have stored facts
    export_dir: Path | None = None
    watermark: datetime | None = None
    _loaded: tuple[str, datetime] | None = field(default=None, repr=False)

    def prepare(self, city_id: str, until: datetime) -> None:
        """Make ``raw_events`` hold at least the city's events before *until* (only the Arrow source
        copies anything; the scanners read in place)."""
        if self.kind != "arrow":
            return
        if self._loaded is not None and self._loaded[0] == city_id and self._loaded[1] >= until:
            return
        assert self.engine is not None
        self._load_arrow(city_id, until)
        self._loaded = (city_id, until)

    def _load_arrow(self, city_id: str, until: datetime) -> None:
        assert self.engine is not None
        ev_cols = [events.c[name] for name in EVENT_COLUMNS]
        case_cols = [cases.c.city_id, cases.c.case_id, cases.c.created_at, cases.c.closed_at]
        with self.engine.connect() as conn:
            ev_rows = conn.execute(
                select(*ev_cols).where(and_(events.c.city_id == city_id, events.c.at < until))
            ).all()
            case_rows = conn.execute(
                select(*case_cols).where(
                    and_(
                        cases.c.city_id == city_id,
                        or_(cases.c.created_at < until, cases.c.created_at.is_(None)),
                    )
                )
            ).all()

        def naive(v: datetime | None) -> datetime | None:
            return None if v is None else v.replace(tzinfo=None)

        ev_table = pa.table(
            {
                name: [naive(r[i]) if name == "at" else r[i] for r in ev_rows]
                for i, name in enumerate(EVENT_COLUMNS)
            },
            schema=pa.schema(
                [
                    ("city_id", pa.string()),
                    ("case_id", pa.string()),
                    ("seq", pa.int32()),
                    ("action", pa.string()),
                    ("at", pa.timestamp("us")),
                    ("actor_id", pa.string()),
                    ("actor_role", pa.string()),
                    ("stage_before", pa.string()),
                    ("stage_after", pa.string()),
                    ("data", pa.string()),
                ]
            ),
        )
        case_table = pa.table(
            {
                "city_id": [r[0] for r in case_rows],
                "case_id": [r[1] for r in case_rows],
                "created_at": pa.array([naive(r[2]) for r in case_rows], pa.timestamp("us")),
                "closed_at": pa.array([naive(r[3]) for r in case_rows], pa.timestamp("us")),
            }
        )
        self.con.register("arrow_events", ev_table)
        self.con.register("arrow_cases", case_table)
        self.con.execute(f"CREATE OR REPLACE VIEW raw_events AS SELECT *, {_kpi_data()} FROM arrow_events")
        self.con.execute("CREATE OR REPLACE VIEW raw_cases AS SELECT * FROM arrow_cases")

    def close(self) -> None:
        self.con.close()


def _pg_conninfo(engine: Engine) -> str:
    url = engine.url
    parts: dict[str, Any] = {}
    host = url.query.get("host") or url.host
    if isinstance(host, tuple):
        host = host[0]
    if host:
        parts["host"] = host
    if url.port:
        parts["port"] = url.port
    if url.username:
        parts["user"] = url.username
    if url.password:
        parts["password"] = url.password
    if url.database:
        parts["dbname"] = url.database
    return " ".join(f"{k}={_quote(str(v))}" for k, v in parts.items())


def _quote(value: str) -> str:
    if value and all(ch not in value for ch in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def open_source(engine: Engine, *, mode: str | None = None, threads: int | None = None) -> Source:
    """A source over the database behind *engine*.

    *mode*: ``scanner`` (default: the sqlite/postgres scanner extension) or ``arrow`` (through
    SQLAlchemy). The environment variable ``CIVICLOOP_KPI_SOURCE`` sets the default. A scanner that
    cannot be loaded falls back to Arrow.
    """
    mode = mode or os.environ.get("CIVICLOOP_KPI_SOURCE") or "scanner"
    con = new_connection(threads)
    dialect = engine.dialect.name
    if mode == "scanner" and dialect == "sqlite" and load_extension(con, "sqlite_scanner"):
        path = engine.url.database or ""
        if not path or path == ":memory:":
            con.close()
            return open_source(engine, mode="arrow", threads=threads)
        con.execute(f"ATTACH {_sql_str(str(Path(path).resolve()))} AS store (TYPE sqlite, READ_ONLY)")
        con.execute(f"CREATE VIEW raw_events AS {_EVENTS_SELECT.format(table='store.events')}")
        con.execute(f"CREATE VIEW raw_cases AS {_CASES_SELECT.format(table='store.cases')}")
        return Source(con, "sqlite", f"SQLite {path} via DuckDB sqlite_scanner", engine)
    if mode == "scanner" and dialect == "postgresql" and load_extension(con, "postgres_scanner"):
        con.execute(f"ATTACH {_sql_str(_pg_conninfo(engine))} AS store (TYPE postgres, READ_ONLY)")
        con.execute(f"CREATE VIEW raw_events AS {_EVENTS_SELECT.format(table='store.public.events')}")
        con.execute(f"CREATE VIEW raw_cases AS {_CASES_SELECT.format(table='store.public.cases')}")
        where = engine.url.render_as_string(hide_password=True)
        return Source(con, "postgres", f"PostgreSQL {where} via DuckDB postgres_scanner", engine)
    # The Arrow path needs views to exist before prepare(); empty until then.
    con.execute(
        "CREATE VIEW raw_events AS SELECT NULL::VARCHAR AS city_id, NULL::VARCHAR AS case_id, "
        'NULL::INTEGER AS seq, NULL::VARCHAR AS action, NULL::TIMESTAMP AS "at", NULL::VARCHAR AS actor_id, '
        "NULL::VARCHAR AS actor_role, NULL::VARCHAR AS stage_before, NULL::VARCHAR AS stage_after, "
        f"NULL::VARCHAR AS data, {_kpi_data('NULL::VARCHAR')} WHERE false"
    )
    con.execute(
        "CREATE VIEW raw_cases AS SELECT NULL::VARCHAR AS city_id, NULL::VARCHAR AS case_id, "
        "NULL::TIMESTAMP AS created_at, NULL::TIMESTAMP AS closed_at WHERE false"
    )
    return Source(con, "arrow", f"{dialect} through SQLAlchemy → Arrow", engine)


MANIFEST = "manifest.json"


def _has_kpi_data(con: duckdb.DuckDBPyConnection, files: str) -> bool:
    """Whether every Parquet file of the export has the stored ``kpi_data`` column."""
    try:
        rows = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE name = 'kpi_data') FROM parquet_schema({files}) "
            "GROUP BY file_name"
        ).fetchall()
    except duckdb.Error:
        return False
    return bool(rows) and all(has == 1 for _, has in rows)


def open_parquet(directory: Path, *, engine: Engine | None = None, threads: int | None = None) -> Source:
    """A source over a Parquet export (``events/**/*.parquet`` + ``cases.parquet``).

    With *engine* the export is topped up from the live store: events at or after the export's
    watermark (``manifest.json``: ``until``) come from the database, so closed periods are read from
    Parquet and only the open period from the store (a *hybrid* source).
    """
    directory = Path(directory)
    if not (directory / "events").exists():
        raise SourceError(both("kpi.source.not_a_parquet_export", directory=directory))
    con = new_connection(threads)
    files = _sql_str(str(directory / "events" / "**" / "*.parquet"))
    manifest_path = directory / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    stored = manifest.get("kpi_data_spec") == KPI_DATA_SPEC and _has_kpi_data(con, files)
    parquet_events = (
        f'SELECT city_id, case_id, CAST(seq AS INTEGER) AS seq, action, CAST("at" AS TIMESTAMP) AS "at", '
        f"actor_id, actor_role, stage_before, stage_after, data, "
        f"{'kpi_data' if stored else _kpi_data()} FROM read_parquet({files}, hive_partitioning = false)"
    )
    parquet_cases = _CASES_SELECT.format(table=f"read_parquet({_sql_str(str(directory / 'cases.parquet'))})")
    if engine is None:
        con.execute(f"CREATE VIEW raw_events AS {parquet_events}")
        con.execute(f"CREATE VIEW raw_cases AS {parquet_cases}")
        return Source(
            con,
            "parquet",
            f"Parquet export {directory}" + ("" if stored else " (JSON parsed)"),
            export_dir=directory,
            watermark=_watermark(manifest),
        )
    live = open_source(engine, mode="scanner", threads=threads)
    if live.kind == "arrow":
        live.close()
        raise SourceError(both("kpi.source.hybrid_needs_scanner"))
    live.con.close()
    until = manifest.get("until")
    if until is None:
        raise SourceError(both("kpi.source.no_watermark", manifest=manifest_path))
    dialect = engine.dialect.name
    table = "store.events" if dialect == "sqlite" else "store.public.events"
    ctable = "store.cases" if dialect == "sqlite" else "store.public.cases"
    if dialect == "sqlite":
        load_extension(con, "sqlite_scanner")
        con.execute(
            f"ATTACH {_sql_str(str(Path(engine.url.database or '').resolve()))} AS store "
            "(TYPE sqlite, READ_ONLY)"
        )
    else:
        load_extension(con, "postgres_scanner")
        con.execute(f"ATTACH {_sql_str(_pg_conninfo(engine))} AS store (TYPE postgres, READ_ONLY)")
    watermark = _sql_str(str(until))
    con.execute(
        f"CREATE VIEW raw_events AS {parquet_events} UNION ALL "
        f'SELECT * FROM ({_EVENTS_SELECT.format(table=table)}) WHERE "at" >= CAST({watermark} AS TIMESTAMP)'
    )
    con.execute(f"CREATE VIEW raw_cases AS {_CASES_SELECT.format(table=ctable)}")
    return Source(
        con,
        "hybrid",
        f"Parquet export {directory} + live store after {until}",
        engine,
        export_dir=directory,
        watermark=_watermark(manifest),
    )


def _watermark(manifest: dict[str, Any]) -> datetime | None:
    until = manifest.get("until")
    try:
        return datetime.fromisoformat(str(until)).replace(tzinfo=None) if until else None
    except ValueError:
        return None
