"""Geography and asset tables (SQLAlchemy Core, on the shared ``metadata``) and the geography's queries.
``city_id`` leads every key.

* ``geo_areas`` — districts / streets / communities (区 / 街道 / 社区), WKB geometry in WGS84;
* ``geo_grids`` — unit grids (单元网格), 15-character codes, WKB geometry, area, lattice row/col;
* ``geo_versions`` — one counter per city, bumped by every geography write, so that a process holding a
  cached locator notices another process's import (see ``civicloop.geo.service``);
* ``components`` — the component registry (部件, GB/T 47678.5 表2): 17-digit id, type, 主管/权属/养护 units,
  state, grid, WGS84 point; ``component_states`` — its append-only state history;
* ``duty_grids`` — inspectors' duty grids (责任网格);
* ``patrols`` / ``patrol_checks`` / ``patrol_grids`` — patrols (巡查): the GPS track, what was checked,
  and which grids the track passed through (for coverage).

Geometries are stored as WKB (``LargeBinary``: BLOB on SQLite, bytea on PostgreSQL) with their bounding
box in plain columns, so neither store needs a spatial extension. The nearby search on cases uses a
partial index declared here and created by migration ``0003_geography``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)

from civicloop.store.tables import UTCDateTime, cases, metadata

__all__ = [
    "CASES_NEARBY_INDEX",
    "bulk_insert",
    "component_states",
    "components",
    "duty_grids",
    "geo_areas",
    "geo_grids",
    "geo_places",
    "geo_versions",
    "patrol_checks",
    "patrol_grids",
    "patrols",
]

geo_areas = Table(
    "geo_areas",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("code", String(16), primary_key=True),
    Column("level", String(12), nullable=False),  # district | street | community
    Column("parent_code", String(16)),
    Column("name", String(128), nullable=False),
    Column("geometry", LargeBinary, nullable=False),  # WKB, WGS84
    Column("area_m2", Float, nullable=False),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("generated", Boolean, nullable=False),
    Column("note", Text),
    Column("source", String(256)),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_geo_areas_city_level", "city_id", "level"),
)

geo_grids = Table(
    "geo_grids",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
    Column("community_code", String(12), nullable=False),
    Column("street_code", String(9), nullable=False),
    Column("district_code", String(6), nullable=False),
    Column("geometry", LargeBinary, nullable=False),  # WKB, WGS84
    Column("area_m2", Float, nullable=False),
    Column("grid_row", Integer),  # lattice row (0 = northmost) of generated grids
    Column("grid_col", Integer),
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("generated", Boolean, nullable=False),
    Column("note", Text),
    Column("source", String(256)),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_geo_grids_city_community", "city_id", "community_code"),
)

geo_versions = Table(
    "geo_versions",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

components = Table(
    "components",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("component_id", String(17), primary_key=True),  # GLBJBSM: 6 区划 + 2 大类 + 3 小类 + 6 顺序码
    Column("type_code", String(5), nullable=False),  # component code of GB/T 47678.5 (e.g. 01037 路灯)
    Column("name", String(128), nullable=False),
    Column("competent_department_id", String(64)),  # 主管部门
    Column("owner_department_id", String(64)),  # 权属单位
    Column("maintainer_department_id", String(64)),  # 养护单位
    Column("state", String(12), nullable=False),  # intact | damaged | missing | abandoned | removed
    Column("grid_code", String(15)),
    Column("community_code", String(12)),
    Column("street_code", String(9)),
    Column("district_code", String(6), nullable=False),
    Column("lon", Float, nullable=False),  # WGS84
    Column("lat", Float, nullable=False),
    Column("road_name", String(64)),
    Column("road_class", String(12)),  # main | secondary | branch (street lights: 着灯率 per class)
    Column("start_date", Date),  # 初始日期
    Column("changed_date", Date),  # 变更日期
    Column("generated", Boolean, nullable=False),
    Column("source", String(256)),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_components_city_type_lat_lon", "city_id", "type_code", "lat", "lon"),
    Index("ix_components_city_grid", "city_id", "grid_code"),
    Index("ix_components_city_district_type", "city_id", "district_code", "type_code"),
)

component_states = Table(
    "component_states",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("component_id", String(17), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12), nullable=False),
    Column("source", String(16), nullable=False),  # import | case | patrol | registry
    Column("case_id", String(32)),
    Column("patrol_id", String(40)),
    Column("actor_id", String(64)),
    Column("note", Text),
)

duty_grids = Table(
    "duty_grids",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("inspector_id", String(64), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
    Column("assigned_at", UTCDateTime(), nullable=False),
    Index("ix_duty_grids_city_grid", "city_id", "grid_code"),
)

patrols = Table(
    "patrols",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("patrol_id", String(40), primary_key=True),
    Column("inspector_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # lighting | general
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=False),
    Column("track", Text, nullable=False),  # JSON [[lon, lat, "ISO time"|null], …], WGS84
    Column("distance_m", Float, nullable=False),
    Column("district_code", String(6)),
    Column("note", Text),
    Index("ix_patrols_city_started", "city_id", "started_at"),
    Index("ix_patrols_city_inspector", "city_id", "inspector_id", "started_at"),
)

patrol_checks = Table(
    "patrol_checks",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("patrol_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("component_id", String(17)),
    Column("grid_code", String(15)),
    Column("result", String(12), nullable=False),  # lit | unlit | ok | problem
    Column("at", UTCDateTime(), nullable=False),
    Column("case_id", String(32)),  # the case opened for it, or the open case it duplicated
    Column("note", Text),
    Index("ix_patrol_checks_city_component", "city_id", "component_id"),
)

patrol_grids = Table(
    "patrol_grids",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("patrol_id", String(40), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
    Index("ix_patrol_grids_city_grid", "city_id", "grid_code"),
)

#: Open cases by category and position, for the nearby search (duplicates, the report form). Partial:
#: only open cases are indexed, so the index stays small however many closed cases accumulate, and it is
#: covering (case_id and public_status included) so the query never touches the table. Queries must say
#: ``public_status = 'open'`` literally (not as a bound parameter) for the planners to use it.
CASES_NEARBY_INDEX = Index(
    "ix_cases_open_nearby",
    cases.c.city_id,
    cases.c.category_code,
    cases.c.lat,
    cases.c.lon,
    cases.c.created_at,
    cases.c.case_id,
    cases.c.public_status,
    sqlite_where=text("public_status = 'open'"),
    postgresql_where=text("public_status = 'open'"),
)


# ---- reads of the map layers -----------------------------------------------------------------------------


def map_area_rows(engine: Engine, city_id: str, level: str) -> list[Any]:
    """(code, name, parent_code, geometry WKB, generated) of the stored areas of *level*, by code."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    geo_areas.c.code,
                    geo_areas.c.name,
                    geo_areas.c.parent_code,
                    geo_areas.c.geometry,
                    geo_areas.c.generated,
                )
                .where(and_(geo_areas.c.city_id == city_id, geo_areas.c.level == level))
                .order_by(geo_areas.c.code)
            ).all()
        )


def area_extents(engine: Engine, city_id: str, level: str) -> list[Any]:
    """(min_lon, min_lat, max_lon, max_lat) of every stored area of *level* (WGS84)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    geo_areas.c.min_lon, geo_areas.c.min_lat, geo_areas.c.max_lon, geo_areas.c.max_lat
                ).where(and_(geo_areas.c.city_id == city_id, geo_areas.c.level == level))
            ).all()
        )


def map_grid_rows(
    engine: Engine, city_id: str, bbox: tuple[float, float, float, float], limit: int
) -> list[Any]:
    """(grid_code, community_code, geometry WKB) of at most *limit* unit grids meeting *bbox*
    (west, south, east, north; WGS84)."""
    w, s, e, n = bbox
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(geo_grids.c.grid_code, geo_grids.c.community_code, geo_grids.c.geometry)
                .where(
                    and_(
                        geo_grids.c.city_id == city_id,
                        geo_grids.c.max_lon >= w,
                        geo_grids.c.min_lon <= e,
                        geo_grids.c.max_lat >= s,
                        geo_grids.c.min_lat <= n,
                    )
                )
                .limit(limit)
            ).all()
        )


# --------------------------------------------------------------------------- bulk writes


def _sqlite_converter(column: Any) -> Any:
    """How a column's value is stored by SQLite (None: as is)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        memo: dict[datetime, str] = {}

        def moment(v: Any) -> Any:
            if v is None:
                return None
            text = memo.get(v)
            if text is None:
                text = memo[v] = v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            return text

        return moment
    if isinstance(kind, Date):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(kind, Boolean):
        return lambda v: None if v is None else int(v)
    return None


def bulk_insert(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], *, chunk: int = 5000) -> int:
    """Insert many rows straight through the DBAPI's ``executemany`` (SQLAlchemy's per-row parameter
    processing costs more than the database for tens of thousands of rows). Values are converted the
    way the column types store them (aware datetimes → UTC; SQLite: text dates and times, 0/1)."""
    if not rows:
        return 0
    sqlite = conn.dialect.name == "sqlite"
    cols = [c for c in table.columns if c.name in rows[0]]
    names = [c.name for c in cols]
    mark = "?" if sqlite else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
    converters = []
    if sqlite:
        converters = [(i, f) for i, c in enumerate(cols) if (f := _sqlite_converter(c)) is not None]
    for start in range(0, len(rows), chunk):
        batch: list[Any] = [tuple(r[n] for n in names) for r in rows[start : start + chunk]]
        if converters:
            for k, values in enumerate(batch):
                row = list(values)
                for i, f in converters:
                    row[i] = f(row[i])
                batch[k] = tuple(row)
        conn.exec_driver_sql(sql, batch)
    return len(rows)


# --------------------------------------------------------------------------- the version counter


def stored_version(conn: Connection, city_id: str) -> int:
    """The city's geography version (0: nothing stored yet)."""
    v = conn.execute(select(geo_versions.c.version).where(geo_versions.c.city_id == city_id)).scalar()
    return int(v or 0)


def bump_version(conn: Connection, city_id: str, now: datetime) -> int:
    """Count one more geography change for the city (inside the writing transaction); the new version."""
    current = conn.execute(select(geo_versions.c.version).where(geo_versions.c.city_id == city_id)).scalar()
    if current is None:
        conn.execute(insert(geo_versions).values(city_id=city_id, version=1, updated_at=now))
        return 1
    conn.execute(
        update(geo_versions)
        .where(geo_versions.c.city_id == city_id)
        .values(version=int(current) + 1, updated_at=now)
    )
    return int(current) + 1


# --------------------------------------------------------------------------- areas and grids


def replace_areas(conn: Connection, city_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``geo_areas`` rows, first deleting the stored areas with the same codes."""
    codes = [r["code"] for r in rows]
    for start in range(0, len(codes), 500):
        conn.execute(
            delete(geo_areas).where(
                and_(geo_areas.c.city_id == city_id, geo_areas.c.code.in_(codes[start : start + 500]))
            )
        )
    if rows:
        conn.execute(insert(geo_areas), list(rows))


def delete_grids(conn: Connection, city_id: str, *, communities: Sequence[str], codes: Sequence[str]) -> None:
    """Delete every grid of *communities* and the grids with *codes*."""
    for start in range(0, len(communities), 500):
        conn.execute(
            delete(geo_grids).where(
                and_(
                    geo_grids.c.city_id == city_id,
                    geo_grids.c.community_code.in_(communities[start : start + 500]),
                )
            )
        )
    for start in range(0, len(codes), 500):
        conn.execute(
            delete(geo_grids).where(
                and_(geo_grids.c.city_id == city_id, geo_grids.c.grid_code.in_(codes[start : start + 500]))
            )
        )


def insert_grids(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``geo_grids`` rows (through :func:`bulk_insert`)."""
    return bulk_insert(conn, geo_grids, rows)


def area_rows(conn: Connection, city_id: str, level: str | None = None) -> Sequence[Any]:
    """The city's stored areas (of one level), ordered by code, geometry as WKB."""
    q = select(
        geo_areas.c.code, geo_areas.c.name, geo_areas.c.level, geo_areas.c.parent_code, geo_areas.c.geometry,
        geo_areas.c.generated, geo_areas.c.note, geo_areas.c.source,
    ).where(geo_areas.c.city_id == city_id)  # fmt: skip
    if level is not None:
        q = q.where(geo_areas.c.level == level)
    return conn.execute(q.order_by(geo_areas.c.code)).all()


def grid_rows(conn: Connection, city_id: str, community_prefix: str | None = None) -> Sequence[Any]:
    """The city's stored grids (those whose community code starts with a prefix), by code, WKB."""
    q = select(
        geo_grids.c.grid_code, geo_grids.c.community_code, geo_grids.c.geometry, geo_grids.c.area_m2,
        geo_grids.c.grid_row, geo_grids.c.grid_col, geo_grids.c.generated,
    ).where(geo_grids.c.city_id == city_id)  # fmt: skip
    if community_prefix:
        q = q.where(geo_grids.c.community_code.startswith(community_prefix, autoescape=True))
    return conn.execute(q.order_by(geo_grids.c.grid_code)).all()


def clear_city(conn: Connection, city_id: str) -> None:
    """Delete the city's areas, grids, components and duty grids (the demo load's ``replace``)."""
    for table in (geo_areas, geo_grids, components, duty_grids):
        conn.execute(delete(table).where(table.c.city_id == city_id))


def count_rows(conn: Connection, city_id: str) -> dict[str, int]:
    """Rows per geography table for the city."""
    out: dict[str, int] = {}
    for name, table in (("areas", geo_areas), ("grids", geo_grids), ("components", components),
                        ("duty_grids", duty_grids)):  # fmt: skip
        out[name] = int(
            conn.execute(select(func.count()).select_from(table).where(table.c.city_id == city_id)).scalar()
            or 0
        )
    return out


# --------------------------------------------------------------------------- nearby search

_OPEN: Any = literal_column("'open'")  # literal, so the planners can use the partial index


@lru_cache(maxsize=2)
def _nearby_open_query(with_since: bool) -> Select[Any]:
    # Built once: intake asks this for every report, and building the statement cost four times more
    # than running it (bind parameters instead of literals; SQLAlchemy caches the compiled SQL).
    q = select(cases.c.case_id, cases.c.lon, cases.c.lat).where(
        cases.c.city_id == bindparam("city"),
        cases.c.category_code == bindparam("category"),
        cases.c.public_status == _OPEN,
        cases.c.lat.between(bindparam("s"), bindparam("n")),
        cases.c.lon.between(bindparam("w"), bindparam("e")),
    )
    return q.where(cases.c.created_at >= bindparam("since")) if with_since else q


def nearby_open_rows(
    conn: Connection,
    city_id: str,
    category_code: str,
    box: tuple[float, float, float, float],
    since: datetime | None,
) -> Sequence[Any]:
    """Open cases of the category in the box ``(west, south, east, north)`` reported at or after
    *since* (any time: None): rows of (case_id, lon, lat), answered by ``ix_cases_open_nearby``."""
    w, s, e, n = box
    params = {"city": city_id, "category": category_code, "s": s, "n": n, "w": w, "e": e, "since": since}
    return conn.execute(_nearby_open_query(since is not None), params).all()


# --------------------------------------------------------------------------- named places (gazetteer)

geo_places = Table(
    "geo_places",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("place_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # road | compound | school | market | hospital | park | …
    Column("aliases", Text),  # JSON list
    Column("geometry", LargeBinary, nullable=False),  # WKB point or line, WGS84
    Column("lon", Float, nullable=False),  # a representative point (a road's middle)
    Column("lat", Float, nullable=False),
    Column("numbers", Integer, nullable=False, server_default="0"),  # highest house number along a road
    Column("source", String(256)),
    Column("updated_at", UTCDateTime(), nullable=False),
)


def replace_places(conn: Connection, city_id: str, rows: Sequence[Mapping[str, Any]], *, clear: bool) -> None:
    """Insert places, replacing those with the same id (or all of the city's when *clear*)."""
    if clear:
        conn.execute(delete(geo_places).where(geo_places.c.city_id == city_id))
    else:
        ids = [r["place_id"] for r in rows]
        for i in range(0, len(ids), 500):
            conn.execute(
                delete(geo_places).where(
                    geo_places.c.city_id == city_id, geo_places.c.place_id.in_(ids[i : i + 500])
                )
            )
    bulk_insert(conn, geo_places, rows)


def place_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    """The city's named places, by id."""
    q = select(
        geo_places.c.place_id, geo_places.c.name, geo_places.c.kind, geo_places.c.aliases,
        geo_places.c.geometry, geo_places.c.numbers, geo_places.c.source,
    ).where(geo_places.c.city_id == city_id)  # fmt: skip
    return conn.execute(q.order_by(geo_places.c.place_id)).all()


def component_place_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    """Every component's id, name, road and point (the gazetteer's component entries)."""
    q = select(
        components.c.component_id, components.c.name, components.c.road_name, components.c.lon,
        components.c.lat, components.c.grid_code, components.c.community_code, components.c.street_code,
        components.c.district_code,
    ).where(components.c.city_id == city_id)  # fmt: skip
    return conn.execute(q).all()


def located_case_docs(conn: Connection, city_id: str, limit: int) -> Sequence[Any]:
    """The documents and area codes of the newest located cases (their addresses feed the gazetteer)."""
    q = (
        select(cases.c.doc, cases.c.lon, cases.c.lat, cases.c.grid_code, cases.c.district_code)
        .where(cases.c.city_id == city_id, cases.c.lon.is_not(None), cases.c.lat.is_not(None))
        .order_by(cases.c.created_at.desc())
        .limit(limit)
    )
    return conn.execute(q).all()
