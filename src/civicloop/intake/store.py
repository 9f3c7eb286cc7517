"""The intake's tables and queries, each asked once per batch of reports: the LSH keys of open cases'
texts (the text side of the duplicate search), the open cases of a report's category or without one
(the review queue) near each report (the place side), the candidates' narrow rows, and the cases closed
as fixed near each report (recurrence). The other tables are the core ``cases``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal_column,
    select,
    text,
)

from civicloop.store.tables import cases, metadata

case_text_keys = Table(
    "case_text_keys",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("key", BigInteger, primary_key=True, autoincrement=False),  # a MinHash band or the exact hash
    Column("case_id", String(32), primary_key=True),
    Index("ix_case_text_keys_city_id_case_id", "city_id", "case_id"),
)  # 0010

_OPEN: Any = literal_column("'open'")  # literal, so the planners can use the partial index


# The text probe reads the key index alone (no join per matching row: a hot band key can match hundreds
# of rows among a million cases, and a join would read each one's case row); the open/window filter is
# the caller's, on the few rows it reads. Keys of ended or merged cases are removed by the intake listener.
# The candidates' narrow read has a fixed number of bind parameters (lists padded by repeating their first
# value, which changes nothing in an IN list) instead of an "expanding" one: an expanding IN is re-rendered
# at every execution, which cost more than SQLite took to run it.
def _padded(values: Sequence[Any], size: int) -> dict[str, Any]:
    return {f"v{i}": values[i] if i < len(values) else values[0] for i in range(size)}


def _bucket(n: int) -> int:
    """The parameter count for *n* values: the next of 8, 16, 32 … (few statements, little padding)."""
    return max(8, 1 << (n - 1).bit_length())


def _in_list(column: Any, size: int) -> Any:
    return column.in_([bindparam(f"v{i}") for i in range(size)])


#: Rows read per key: the newest cases sharing it. A key that thousands of open cases share (the band
#: of a templated text: "路灯不亮", a hotline's greeting) would otherwise be read whole for every report —
#: a probe growing with the open cases, which at 300 reports/s of similar text took the intake down.
#: Case ids grow with time, so the newest come first in the key's index range.
PER_KEY = 64


# The newest PER_KEY cases of every key of a batch in one statement: the keys travel as one parameter
# (a JSON array for SQLite, an array for PostgreSQL) so that the statement does not grow with the batch.
# SQLite has no LATERAL: each key's range starts at its PER_KEY-th newest case (one seek of the key
# index), PostgreSQL reads each key's newest with a LATERAL subquery; both only ever touch the index.
_NEWEST_BY_KEY_SQLITE = text(  # CROSS JOIN: SQLite keeps the keys outside (else it scans the city's keys)
    "SELECT k.value, t.case_id FROM json_each(:keys) AS k CROSS JOIN case_text_keys AS t "
    'WHERE t.city_id = :city AND t."key" = k.value '
    "AND t.case_id >= coalesce((SELECT t2.case_id FROM case_text_keys AS t2 "
    'WHERE t2.city_id = :city AND t2."key" = k.value '
    f"ORDER BY t2.case_id DESC LIMIT 1 OFFSET {PER_KEY - 1}), '')"
)
_NEWEST_BY_KEY_PG = text(
    "SELECT k.key, t.case_id FROM unnest(CAST(:keys AS BIGINT[])) AS k(key) CROSS JOIN LATERAL "
    '(SELECT case_id FROM case_text_keys WHERE city_id = :city AND "key" = k.key '
    f"ORDER BY case_id DESC LIMIT {PER_KEY}) AS t"
)


def newest_by_key(conn: Connection, city_id: str, keys: Iterable[int]) -> dict[int, list[str]]:
    """For each of *keys*, the newest :data:`PER_KEY` cases holding it (case ids; keys no case holds
    are left out) — the text side of the duplicate search for a whole batch, one statement."""
    wanted = list(dict.fromkeys(int(k) for k in keys))
    out: dict[int, list[str]] = {}
    if not wanted:
        return out
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_NEWEST_BY_KEY_PG, {"keys": wanted, "city": city_id})
    else:
        rows = conn.execute(_NEWEST_BY_KEY_SQLITE, {"keys": orjson.dumps(wanted).decode(), "city": city_id})
    for key, case_id in rows:
        out.setdefault(int(key), []).append(case_id)
    for newest in out.values():
        newest.sort(reverse=True)  # case ids grow with time
    return out


def rank_text_candidates(
    keys: Sequence[int], newest: Mapping[int, Sequence[str]], limit: int = 16
) -> list[str]:
    """The cases sharing a text key with a report (*keys*: the exact key first, then the bands; *newest*:
    each key's newest cases), those with the exact key first, then those sharing the most keys, then
    the newest; at most *limit*."""
    if not keys:
        return []
    exact = set(newest.get(int(keys[0]), ()))
    shared: dict[str, int] = {}
    for key in dict.fromkeys(int(k) for k in keys):
        for case_id in newest.get(key, ()):
            shared[case_id] = shared.get(case_id, 0) + 1
    return sorted(shared, key=lambda c: (c in exact, shared[c], c), reverse=True)[:limit]


# What the duplicate score reads of a candidate, without loading its document into a CaseState: the
# projection's columns (its text is ``search_text``: description and address, which normalise exactly as
# the intake's text of a stored case does) and four fields of the document, extracted by the database in
# one JSON array per row. Built once per dialect.
_DOC_FIELDS = ("duplicate_of", "reporter_id", "component_id", "triage.category_code")
_SQLITE_DOC: Any = func.json_extract(cases.c.doc, *(f"$.{f}" for f in _DOC_FIELDS))
_PG_DOC: Any = cast(
    literal_column(
        "(SELECT json_build_array("
        + ", ".join("d.j -> " + " -> ".join(f"'{p}'" for p in f.split(".")) for f in _DOC_FIELDS)
        + ") FROM (SELECT CAST(cases.doc AS JSON) AS j) AS d)"
    ),
    Text,
)


@lru_cache(maxsize=32)
def _candidate_query(dialect: str, size: int) -> Any:
    doc_fields = _PG_DOC if dialect == "postgresql" else _SQLITE_DOC
    return select(
        cases.c.case_id, cases.c.created_at, cases.c.lon, cases.c.lat, cases.c.category_code,
        cases.c.grid_code, cases.c.community_code, cases.c.search_text, doc_fields.label("doc_fields"),
    ).where(
        cases.c.city_id == bindparam("city"),
        _in_list(cases.c.case_id, size),
        cases.c.public_status == _OPEN,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open case as the duplicate score sees it (the fields of its CaseState of the same names)."""

    case_id: str
    created_at: datetime
    lon: float | None
    lat: float | None
    category_code: str | None
    grid_code: str | None
    community_code: str | None
    text: str  # description and address
    duplicate_of: str | None
    reporter_id: str | None
    component_id: str | None
    triage_category: str | None


def open_candidates(conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, Candidate]:
    """The open cases among *case_ids* with what the duplicate score reads of them (no document is
    loaded): a narrow read by primary key, 500 ids a statement."""
    out: dict[str, Candidate] = {}
    for start in range(0, len(case_ids), 512):
        ids = list(case_ids[start : start + 512])
        size = _bucket(len(ids))
        query = _candidate_query(conn.dialect.name, size)
        for r in conn.execute(query, {"city": city_id, **_padded(ids, size)}):
            dup, reporter, component, triaged = orjson.loads(r.doc_fields)
            out[r.case_id] = Candidate(
                r.case_id, r.created_at, r.lon, r.lat, r.category_code, r.grid_code, r.community_code,
                r.search_text or "", dup, reporter, component, triaged,
            )  # fmt: skip
    return out


Box = tuple[float, float, float, float]  # (west, south, east, north)

# The place searches of a whole batch, one statement each: the boxes travel as one parameter and each
# is one range of a partial index (SQLite: CROSS JOIN keeps the boxes outside; PostgreSQL: LATERAL).
_BOX_COLUMNS = {
    "open": ("created_at", "c.case_id, c.lon, c.lat, c.category_code, c.created_at"),
    "closed": ("closed_at", "c.case_id, c.lon, c.lat, c.closure_reason, c.closed_at"),
}


@lru_cache(maxsize=8)
def _boxes_query(dialect: str, status: str, uncategorised: bool) -> Any:
    time_column, columns = _BOX_COLUMNS[status]
    if dialect == "postgresql":
        arrays = ", ".join(f"CAST(:{k} AS DOUBLE PRECISION[])" for k in ("w", "s", "e", "n"))
        source = f"unnest(CAST(:cats AS VARCHAR[]), {arrays}) WITH ORDINALITY AS b(cat, w, s, e, n, i)"
        index, cat, w, s, e, n = "b.i - 1", "b.cat", "b.w", "b.s", "b.e", "b.n"
    else:
        source = "json_each(:boxes) AS b"
        index = "b.key"
        cat, w, s, e, n = (f"json_extract(b.value, '$[{i}]')" for i in range(5))
    category = "c.category_code IS NULL" if uncategorised else f"c.category_code = {cat}"
    where = (
        f"c.city_id = :city AND {category} AND c.public_status = '{status}' "
        f"AND c.lat BETWEEN {s} AND {n} AND c.lon BETWEEN {w} AND {e} AND c.{time_column} >= :since"
    )
    if dialect == "postgresql":
        cases_in_box = f"LATERAL (SELECT * FROM cases AS c WHERE {where}) AS c"
        sql = f"SELECT {index} AS i, {columns} FROM {source} CROSS JOIN {cases_in_box}"
    else:
        sql = f"SELECT {index} AS i, {columns} FROM {source} CROSS JOIN cases AS c WHERE {where}"
    kind = cases.c.created_at.type if status == "open" else cases.c.closed_at.type
    return text(sql).bindparams(bindparam("since", type_=kind)).columns(**{time_column: kind})


def _in_boxes(
    conn: Connection,
    city_id: str,
    boxes: Sequence[tuple[str | None, Box]],
    since: datetime,
    status: str,
    uncategorised: bool,
) -> list[list[Any]]:
    out: list[list[Any]] = [[] for _ in boxes]
    if not boxes:
        return out
    query = _boxes_query(conn.dialect.name, status, uncategorised)
    params: dict[str, Any] = {"city": city_id, "since": since}
    if conn.dialect.name == "postgresql":
        params |= {"cats": [c for c, _ in boxes]}
        params |= {k: [b[i] for _, b in boxes] for i, k in enumerate(("w", "s", "e", "n"))}
    else:
        params["boxes"] = orjson.dumps([[c, *b] for c, b in boxes]).decode()
    for row in conn.execute(query, params):
        out[int(row[0])].append(row)
    return out


def open_in_boxes(
    conn: Connection, city_id: str, boxes: Sequence[tuple[str | None, Box]], since: datetime
) -> list[list[Any]]:
    """For each (category, box): the open cases reported at or after *since* in the box that have the
    category or no stored category yet (the review queue; only those when the category is None) —
    rows of (i, case_id, lon, lat, category_code, created_at): the place side of a batch's duplicate
    search in two statements (``ix_cases_open_nearby``). Callers with later windows filter the rows."""
    out = _in_boxes(conn, city_id, boxes, since, "open", uncategorised=True)
    known = [(i, box) for i, box in enumerate(boxes) if box[0] is not None]
    same = _in_boxes(conn, city_id, [box for _, box in known], since, "open", uncategorised=False)
    for (i, _), rows in zip(known, same, strict=True):
        out[i] = rows + out[i]
    return out


def closed_in_boxes(
    conn: Connection, city_id: str, boxes: Sequence[tuple[str, Box]], since: datetime
) -> list[list[Any]]:
    """For each (category, box): the cases of the category closed at or after *since* in the box — rows
    of (i, case_id, lon, lat, closure_reason, closed_at), one statement (``ix_cases_closed_nearby``)."""
    return _in_boxes(conn, city_id, list(boxes), since, "closed", uncategorised=False)


def replace_text_keys(
    conn: Connection, city_id: str, drop: Iterable[str], add: Iterable[tuple[str, Sequence[int]]]
) -> None:
    """Remove every key of the cases in *drop*, then store *add* ((case id, keys) pairs)."""
    gone = sorted(set(drop))
    for i in range(0, len(gone), 500):
        conn.execute(
            delete(case_text_keys).where(
                case_text_keys.c.city_id == city_id, case_text_keys.c.case_id.in_(gone[i : i + 500])
            )
        )
    rows = [(city_id, k, c) for c, keys in add for k in dict.fromkeys(keys)]
    if rows:
        # Straight through the driver's executemany: a report adds a dozen keys, and SQLAlchemy's
        # per-row parameter processing cost more than the insert (the case write path's way too).
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        conn.exec_driver_sql(_INSERT_TEXT_KEYS.format(mark=mark), rows)


_INSERT_TEXT_KEYS = 'INSERT INTO case_text_keys (city_id, "key", case_id) VALUES ({mark}, {mark}, {mark})'


def has_text_keys(conn: Connection, city_id: str) -> bool:
    return bool(conn.execute(select(exists().where(case_text_keys.c.city_id == city_id))).scalar())


def open_case_texts(conn: Connection, city_id: str, after: str, limit: int) -> Sequence[Any]:
    """Open cases in case-id order after *after*: rows of (case_id, doc) — for building the keys once."""
    return conn.execute(
        select(cases.c.case_id, cases.c.doc)
        .where(cases.c.city_id == city_id, cases.c.public_status == _OPEN, cases.c.case_id > after)
        .order_by(cases.c.case_id)
        .limit(limit)
    ).all()


def count_open(conn: Connection, city_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(cases)
            .where(cases.c.city_id == city_id, cases.c.public_status == _OPEN)
        ).scalar()
        or 0
    )
