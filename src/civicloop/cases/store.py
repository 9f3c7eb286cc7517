"""The event store: append events and their projection in one transaction; read them back.

Batches are first-class: the simulator, imports and the benchmark hand over many events at once and they
are written with one ``executemany`` per table, which is what keeps the whole loop within a small factor
of a raw insert.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from civicloop.cases.core import Actor, CaseState, Event, due_at
from civicloop.kernel.errors import ConcurrentChange
from civicloop.kernel.vocabulary import HANDLING_STAGES, Action, Role, Stage
from civicloop.store.tables import case_numbers, cases, events, reporters

GENESIS_HASH = "0" * 64


def event_hash(prev_hash: str, e: Event, data_json: str, attachments_json: str | None) -> str:
    """sha256 over the previous hash and every stored field of the event (tamper evidence).

    Enum members are ``StrEnum``s: they are their value, for ``join`` as for the database drivers.
    """
    parts = (
        prev_hash,
        e.city_id,
        e.case_id,
        str(e.seq),
        e.action,
        e.at.isoformat(),
        e.actor_id,
        e.actor_role,
        e.stage_before or "",
        e.stage_after,
        data_json,
        e.note or "",
        attachments_json or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


EVENT_COLUMNS = tuple(c.name for c in events.columns)


def event_values(e: Event, prev_hash: str) -> tuple[tuple[Any, ...], str]:
    """The stored values of an event, in ``EVENT_COLUMNS`` order, and its chained hash."""
    data_json = dumps(e.data)
    attachments_json = dumps(list(e.attachments)) if e.attachments else None
    h = event_hash(prev_hash, e, data_json, attachments_json)
    values = (
        e.city_id, e.case_id, e.seq, e.action, e.at, e.actor_id, e.actor_role,
        e.stage_before or None, e.stage_after, data_json, e.note,
        attachments_json, h,
    )  # fmt: skip
    return values, h


def event_row(e: Event, prev_hash: str) -> tuple[dict[str, Any], str]:
    values, h = event_values(e, prev_hash)
    return dict(zip(EVENT_COLUMNS, values, strict=True)), h


def event_from_row(r: Any) -> Event:
    return Event(
        city_id=r.city_id,
        case_id=r.case_id,
        seq=r.seq,
        action=Action(r.action),
        at=r.at,
        actor_id=r.actor_id,
        actor_role=Role(r.actor_role),
        stage_before=Stage(r.stage_before) if r.stage_before else None,
        stage_after=Stage(r.stage_after),
        data=orjson.loads(r.data),
        note=r.note,
        attachments=tuple(orjson.loads(r.attachments)) if r.attachments else (),
    )


CASE_COLUMNS = tuple(c.name for c in cases.columns)


def projection_values(s: CaseState, last_hash: str) -> tuple[Any, ...]:
    """The stored projection of a case, in ``CASE_COLUMNS`` order."""
    return (
        s.city_id, s.case_id, s.version, s.stage, s.public_status,
        s.closure_reason, s.channel, s.category_code,
        s.urgency, s.department_id, s.district_code, s.grid_code, s.lon, s.lat, s.created_at,
        s.updated_at, s.deadline, s.closed_at, s.handled_on_time, s.to_json().decode(), last_hash,
        *search_values(s),
    )  # fmt: skip


def search_values(s: CaseState) -> tuple[Any, ...]:
    """The projection's search columns (0012): street, community, rework count, due time, free text."""
    text = " ".join(t for t in (s.description, s.address) if t) or None
    return (s.street_code, s.community_code, s.rework_count, due_at(s), text)


#: Positions of the projection's columns that an UPDATE may set (all but the key).
_UPDATABLE = tuple(range(2, len(CASE_COLUMNS)))
_DOC = CASE_COLUMNS.index("doc")
assert CASE_COLUMNS[_DOC + 1] == "last_hash"


def projection_columns(s: CaseState) -> tuple[Any, ...]:
    """The cheap (non-document) projection values, for finding what changed."""
    return (
        s.city_id, s.case_id, s.version, s.stage, s.public_status, s.closure_reason, s.channel,
        s.category_code, s.urgency, s.department_id, s.district_code, s.grid_code, s.lon, s.lat,
        s.created_at, s.updated_at, s.deadline, s.closed_at, s.handled_on_time, None, None,
        *search_values(s),
    )  # fmt: skip


def projection_row(s: CaseState, last_hash: str) -> dict[str, Any]:
    return dict(zip(CASE_COLUMNS, projection_values(s, last_hash), strict=True))


def _sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME storage format, so Core queries read these rows back unchanged."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class _DriverWriter:
    """Batched INSERT/UPDATE straight through the DBAPI's ``executemany`` (psycopg pipelines it).

    The hot path of every write: SQLAlchemy's per-row parameter processing cost more than the database
    itself, so rows are built as tuples in column order and datetimes converted once, per dialect.
    """

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self.insert_event = _insert_sql("events", EVENT_COLUMNS, mark)
        self.insert_case = _insert_sql("cases", CASE_COLUMNS, mark)
        self.mark = mark
        self._updates: dict[tuple[int, ...], str] = {}  # fmt: skip
        self.event_times = [EVENT_COLUMNS.index("at")]
        times = ("created_at", "updated_at", "deadline", "closed_at", "due_at")
        self.case_times = [CASE_COLUMNS.index(c) for c in times]

    def convert(
        self, row: tuple[Any, ...], positions: list[int], memo: dict[datetime, str | None]
    ) -> tuple[Any, ...]:
        """Datetimes to SQLite's text form; *memo* saves re-formatting the same moment within a batch."""
        if not self.sqlite:
            return row
        values = list(row)
        for i in positions:
            moment = values[i]
            if moment is not None:
                text = memo.get(moment)
                if text is None:
                    text = memo[moment] = _sqlite_time(moment)
                values[i] = text
        return tuple(values)

    def update_sql(self, changed: tuple[int, ...]) -> str:
        sql = self._updates.get(changed)
        if sql is None:
            sets = ", ".join(f"{CASE_COLUMNS[i]} = {self.mark}" for i in changed)
            sql = self._updates[changed] = (
                f"UPDATE cases SET {sets} WHERE city_id = {self.mark} AND case_id = {self.mark}"
            )
        return sql


def _insert_sql(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


_WRITERS: dict[str, _DriverWriter] = {}


def _writer(conn: Connection) -> _DriverWriter:
    name = conn.dialect.name
    if name not in _WRITERS:
        _WRITERS[name] = _DriverWriter(name)
    return _WRITERS[name]


@dataclass(slots=True)
class CaseQuery:
    """A filtered, ordered, paged selection of cases (the HTTP API's lists and Open311's GET requests).

    ``created_from`` is inclusive, ``created_to`` inclusive; ``overdue_at`` keeps cases whose handling
    deadline passed before that moment while a department still holds them; ``unlocated`` keeps the
    cases without coordinates (待定位: e.g. imported records that had no location);
    ``scope`` keeps only what
    that actor may see (the same rule as :func:`civicloop.cases.scope.can_view`).
    """

    ids: Sequence[str] | None = None
    category_codes: Sequence[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    public_status: str | None = None
    stages: Sequence[str] | None = None
    department_id: str | None = None
    district_codes: Sequence[str] | None = None
    overdue_at: datetime | None = None
    unlocated: bool = False
    feedback_review: bool = False  # closed cases whose 不满意 rating waits for the shift leader (回访复核)
    scope: Actor | None = None
    order: str = "created_desc"  # or one of ORDERS
    limit: int = 50
    offset: int = 0
    # the case search (案卷查询, 0012): number and text contain, the rest match exactly
    case_no: str | None = None
    text: str | None = None
    grid_codes: Sequence[str] | None = None
    street_codes: Sequence[str] | None = None
    community_codes: Sequence[str] | None = None
    channels: Sequence[str] | None = None
    deadline_from: datetime | None = None
    deadline_to: datetime | None = None
    due_before: datetime | None = None  # the current step was due before this moment (red, 超期)
    due_from: datetime | None = None  # the current step is due at or after this moment (not yet overdue)
    rework: bool | None = None  # True: sent back by a failed check at least once (返工)


#: The orders of :class:`CaseQuery`: created, deadline (handling), updated, light (the current step's
#: due time: ``light_desc`` is the most urgent first — red, then the nearest deadline), each both ways.
ORDERS = (
    "created_desc", "created_asc", "deadline_asc", "deadline_desc",
    "updated_desc", "updated_asc", "light_desc", "light_asc",
)  # fmt: skip


@dataclass(slots=True)
class Loaded:
    """A case's state and the hash of its last event; ``row`` is its projection row as this process last
    wrote it (``CASE_COLUMNS`` order, in the driver's form), so that the next write finds the changed
    columns without recomputing them from the previous state (None when read from the database)."""

    state: CaseState
    last_hash: str
    row: tuple[Any, ...] | None = None


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A writing transaction (IMMEDIATE on SQLite). Commits on success, rolls back on error."""
        with self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("write", None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # ---- reading ----------------------------------------------------------------------------

    def load(self, conn: Connection, city_id: str, case_id: str) -> Loaded | None:
        row = conn.execute(
            select(cases.c.doc, cases.c.last_hash).where(
                and_(cases.c.city_id == city_id, cases.c.case_id == case_id)
            )
        ).first()
        if row is None:
            return None
        return Loaded(CaseState.from_doc(orjson.loads(row.doc)), row.last_hash)

    def load_many(self, conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, Loaded]:
        out: dict[str, Loaded] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            rows = conn.execute(
                select(cases.c.case_id, cases.c.doc, cases.c.last_hash).where(
                    and_(cases.c.city_id == city_id, cases.c.case_id.in_(chunk))
                )
            )
            for r in rows:
                out[r.case_id] = Loaded(CaseState.from_doc(orjson.loads(r.doc)), r.last_hash)
        return out

    def events(self, conn: Connection, city_id: str, case_id: str) -> list[Event]:
        rows = conn.execute(
            select(events)
            .where(and_(events.c.city_id == city_id, events.c.case_id == case_id))
            .order_by(events.c.seq)
        )
        return [event_from_row(r) for r in rows]

    def iter_events(self, conn: Connection, city_id: str, batch: int = 5000) -> Iterator[Event]:
        """Every event of a city, grouped by case in sequence order (keyset pagination)."""
        last: tuple[str, int] = ("", 0)
        while True:
            rows = conn.execute(
                select(events)
                .where(and_(events.c.city_id == city_id, tuple_(events.c.case_id, events.c.seq) > last))
                .order_by(events.c.case_id, events.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                return
            for r in rows:
                yield event_from_row(r)
            last = (rows[-1].case_id, rows[-1].seq)

    def iter_projection_rows(self, conn: Connection, city_id: str, batch: int = 5000) -> Iterator[Any]:
        last = ""
        while True:
            rows = conn.execute(
                select(cases)
                .where(and_(cases.c.city_id == city_id, cases.c.case_id > last))
                .order_by(cases.c.case_id)
                .limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].case_id

    def event_data(
        self,
        conn: Connection,
        city_id: str,
        action: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The data of every event of one action (at or after *since*, before *until*)."""
        q = select(events.c.data).where(and_(events.c.city_id == city_id, events.c.action == action))
        if since is not None:
            q = q.where(events.c.at >= since)
        if until is not None:
            q = q.where(events.c.at < until)
        return [orjson.loads(data) for (data,) in conn.execute(q)]

    def chain_heads(self, conn: Connection, city_id: str) -> dict[str, tuple[str, int]]:
        """Every case's stored last hash and version: {case_id: (last_hash, version)}."""
        q = select(cases.c.case_id, cases.c.last_hash, cases.c.version).where(cases.c.city_id == city_id)
        return {r.case_id: (r.last_hash, r.version) for r in conn.execute(q)}

    def iter_event_rows(self, conn: Connection, city_id: str, batch: int = 5000) -> Iterator[Any]:
        """Every stored event row of a city as it is (hashes and JSON text), in case and sequence order."""
        last = ("", 0)
        while True:
            chunk = conn.execute(
                select(events)
                .where(
                    and_(
                        events.c.city_id == city_id,
                        (events.c.case_id > last[0])
                        | and_(events.c.case_id == last[0], events.c.seq > last[1]),
                    )
                )
                .order_by(events.c.case_id, events.c.seq)
                .limit(batch)
            ).all()
            if not chunk:
                return
            yield from chunk
            last = (chunk[-1].case_id, chunk[-1].seq)

    def list_states(
        self,
        conn: Connection,
        city_id: str,
        *,
        stage: str | None = None,
        department_id: str | None = None,
        category_code: str | None = None,
        public_status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        overdue_first: bool = False,
    ) -> list[CaseState]:
        q = select(cases.c.doc).where(cases.c.city_id == city_id)
        if stage:
            q = q.where(cases.c.stage == stage)
        if department_id:
            q = q.where(cases.c.department_id == department_id)
        if category_code:
            q = q.where(cases.c.category_code == category_code)
        if public_status:
            q = q.where(cases.c.public_status == public_status)
        if overdue_first:
            q = q.order_by(cases.c.deadline.is_(None), cases.c.deadline, cases.c.created_at)
        else:
            q = q.order_by(cases.c.created_at.desc(), cases.c.case_id.desc())
        q = q.limit(limit).offset(offset)
        return [CaseState.from_doc(orjson.loads(r.doc)) for r in conn.execute(q)]

    def stage_counts(self, conn: Connection, city_id: str) -> dict[str, int]:
        q = select(cases.c.stage, func.count()).where(cases.c.city_id == city_id).group_by(cases.c.stage)
        return {stage: int(n) for stage, n in conn.execute(q)}

    def search(self, conn: Connection, city_id: str, query: CaseQuery) -> list[CaseState]:
        """The cases matching *query*: in its order and paged, unless it names cases (``ids``) — those
        come unordered and whole (the caller orders and pages them)."""
        q = select(cases.c.doc).where(_where(city_id, query))
        # Named cases are found by primary key and ordered by the caller: with an ORDER BY in the SQL,
        # SQLite walks the city's whole created-at index instead (18 ms at 13,000 cases, growing with them).
        if query.ids is None:
            q = q.order_by(*_order(query)).limit(query.limit).offset(query.offset)
        return [CaseState.from_doc(orjson.loads(r.doc)) for r in conn.execute(q)]

    def count(self, conn: Connection, city_id: str, query: CaseQuery) -> int:
        q = select(func.count()).select_from(cases).where(_where(city_id, query))
        return int(conn.execute(q).scalar_one())

    def events_of(self, conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, list[Event]]:
        """The events of several cases at once, each list in sequence order."""
        out: dict[str, list[Event]] = {c: [] for c in case_ids}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            rows = conn.execute(
                select(events)
                .where(and_(events.c.city_id == city_id, events.c.case_id.in_(chunk)))
                .order_by(events.c.case_id, events.c.seq)
            )
            for r in rows:
                out[r.case_id].append(event_from_row(r))
        return out

    # ---- reporters (personal data, apart from the event log) --------------------------------

    def reporter(self, conn: Connection, city_id: str, reporter_id: str) -> Row[Any] | None:
        return conn.execute(
            select(reporters).where(
                and_(reporters.c.city_id == city_id, reporters.c.reporter_id == reporter_id)
            )
        ).first()

    def add_reporters(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn.execute(insert(reporters), list(rows))

    def anonymise_reporter(self, conn: Connection, city_id: str, reporter_id: str, at: datetime) -> int:
        res = conn.execute(
            update(reporters)
            .where(and_(reporters.c.city_id == city_id, reporters.c.reporter_id == reporter_id))
            .values(name=None, phone=None, email=None, anonymised_at=at)
        )
        return int(res.rowcount or 0)

    # ---- writing ----------------------------------------------------------------------------

    def replace_projection(
        self, conn: Connection, city_id: str, rows: Iterable[dict[str, Any]], *, batch: int = 2000
    ) -> None:
        """Delete the city's whole projection and insert *rows* (``projection_row``s) in batches."""
        conn.execute(delete(cases).where(and_(cases.c.city_id == city_id)))
        pending: list[dict[str, Any]] = []
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                conn.execute(insert(cases), pending)
                pending = []
        if pending:
            conn.execute(insert(cases), pending)

    def append(
        self,
        conn: Connection,
        new_events: Sequence[Event],
        states: Iterable[tuple[CaseState, Loaded | None]],
        prev_hashes: dict[str, str],
    ) -> dict[str, Loaded]:
        """Append *new_events* (in order) and write each final state once.

        ``states`` yields ``(state, previous)`` with ``previous`` what is stored (None for a new case):
        an existing row is updated in the columns that changed only, so that secondary indexes whose
        columns kept their values are not rewritten. ``prev_hashes`` maps case id → hash of its last
        stored event (missing for new cases). A competing writer that appended the same sequence number first
        makes the primary key refuse ours: that surfaces as ConcurrentChange and nothing is written.
        Returns what is now stored per case (state, last hash, row).
        """
        w = _writer(conn)
        memo: dict[datetime, str | None] = {}
        rows: list[tuple[Any, ...]] = []
        last = dict(prev_hashes)
        event_times = w.event_times
        for e in new_events:
            values, h = event_values(e, last.get(e.case_id, GENESIS_HASH))
            last[e.case_id] = h
            rows.append(w.convert(values, event_times, memo))
        inserts: list[tuple[Any, ...]] = []
        updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        written: dict[str, Loaded] = {}
        case_times = w.case_times
        for state, previous in states:
            case_id = state.case_id
            row = w.convert(projection_values(state, last[case_id]), case_times, memo)
            # kept without the document and the hash (they always change): a cached row costs ≈ 0.6 kB
            written[case_id] = Loaded(state, last[case_id], (*row[:_DOC], None, None, *row[_DOC + 2 :]))
            if previous is None:
                inserts.append(row)
                continue
            # The previous row against the new one: the row this process wrote last if it has it, else
            # the previous state's cheap columns (the document and the last hash are None there: they
            # always differ, as does the version).
            before = previous.row
            if before is None:
                before = w.convert(projection_columns(previous.state), case_times, memo)
            changed = tuple([i for i in _UPDATABLE if before[i] != row[i]])
            updates.setdefault(changed, []).append(tuple([row[i] for i in changed]) + row[:2])
        try:
            if rows:
                conn.exec_driver_sql(w.insert_event, rows)
            if inserts:
                conn.exec_driver_sql(w.insert_case, inserts)
        except IntegrityError as exc:
            case = new_events[0].case_id if new_events else "?"
            raise ConcurrentChange(case) from exc
        for changed, params in updates.items():
            conn.exec_driver_sql(w.update_sql(changed), params)
        return written

    def allocate_serials(self, conn: Connection, city_id: str, year: int, count: int) -> int:
        """Reserve *count* consecutive serial numbers for *city_id* and *year*; return the first."""
        current = conn.execute(
            select(case_numbers.c.next_serial)
            .where(and_(case_numbers.c.city_id == city_id, case_numbers.c.year == year))
            .with_for_update()  # PostgreSQL row lock; SQLite is already serialised by BEGIN IMMEDIATE
        ).scalar()
        if current is None:
            conn.execute(insert(case_numbers).values(city_id=city_id, year=year, next_serial=1 + count))
            return 1
        conn.execute(
            update(case_numbers)
            .where(and_(case_numbers.c.city_id == city_id, case_numbers.c.year == year))
            .values(next_serial=current + count)
        )
        return int(current)


# ---- reads of the read models (the web's open-case index, live hub and trend) ------------------------

#: The projection columns an open-case index row starts with, in this order.
INDEX_COLUMNS = (
    "case_id",
    "version",
    "stage",
    "category_code",
    "urgency",
    "department_id",
    "district_code",
    "grid_code",
    "lon",
    "lat",
)
IndexRecord = tuple[Sequence[Any], datetime, list[Any]]


def index_records(
    conn: Connection, city_id: str, doc_keys: Sequence[str], case_ids: Sequence[str] | None = None
) -> Iterator[IndexRecord]:
    """(the ``INDEX_COLUMNS`` values, created_at, the *doc_keys* of the document) of every open case, or of
    *case_ids* whatever their status (read 500 at a time).

    On SQLite the document keys come from one ``json_extract`` with several paths (the document is parsed
    once, in C) through the driver directly; elsewhere the document is parsed here.
    """
    chunks: list[Sequence[str] | None] = (
        [None] if case_ids is None else [case_ids[i : i + 500] for i in range(0, len(case_ids), 500)]
    )
    for chunk in chunks:
        if conn.dialect.name == "sqlite":
            yield from _sqlite_index_records(conn, city_id, doc_keys, chunk)
        else:
            yield from _generic_index_records(conn, city_id, doc_keys, chunk)


def _sqlite_index_records(
    conn: Connection, city_id: str, doc_keys: Sequence[str], chunk: Sequence[str] | None
) -> Iterator[IndexRecord]:
    paths = ", ".join(f"'$.{k}'" for k in doc_keys)
    n = len(INDEX_COLUMNS)
    columns = ", ".join(INDEX_COLUMNS)
    sql = f"SELECT {columns}, created_at, json_extract(doc, {paths}) FROM cases WHERE city_id = ?"
    params: tuple[Any, ...]
    if chunk is None:
        sql += " AND public_status = 'open'"
        params = (city_id,)
    else:
        sql += f" AND case_id IN ({', '.join('?' * len(chunk))})"
        params = (city_id, *chunk)
    empty = [None] * len(doc_keys)
    for r in conn.exec_driver_sql(sql, params):
        created = datetime.fromisoformat(r[n]).replace(tzinfo=UTC)
        yield r, created, orjson.loads(r[n + 1]) if r[n + 1] else empty


def _generic_index_records(
    conn: Connection, city_id: str, doc_keys: Sequence[str], chunk: Sequence[str] | None
) -> Iterator[IndexRecord]:
    c = cases.c
    q = select(*(c[name] for name in INDEX_COLUMNS), c.created_at, c.doc)
    if chunk is None:
        q = q.where(and_(c.city_id == city_id, c.public_status == "open"))
    else:
        q = q.where(and_(c.city_id == city_id, c.case_id.in_(list(chunk))))
    for r in conn.execute(q):
        doc = orjson.loads(r.doc)
        yield r, r.created_at, [doc.get(k) for k in doc_keys]


def open_versions(conn: Connection, city_id: str) -> dict[str, int]:
    """case id → version of every open case."""
    q = select(cases.c.case_id, cases.c.version).where(
        and_(cases.c.city_id == city_id, cases.c.public_status == "open")
    )
    return {r.case_id: int(r.version) for r in conn.execute(q)}


def case_documents(conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """case id → the stored projection document of each of *case_ids* that exists."""
    if not case_ids:
        return {}
    rows = conn.execute(
        select(cases.c.case_id, cases.c.doc).where(
            and_(cases.c.city_id == city_id, cases.c.case_id.in_(list(case_ids)))
        )
    )
    return {r.case_id: orjson.loads(r.doc) for r in rows}


def count_reported(conn: Connection, city_id: str, start: datetime, end: datetime) -> int:
    """How many cases were created in [start, end)."""
    q = (
        select(func.count())
        .select_from(cases)
        .where(and_(cases.c.city_id == city_id, cases.c.created_at >= start, cases.c.created_at < end))
    )
    return int(conn.execute(q).scalar_one())


def count_actions(conn: Connection, city_id: str, action: Action, start: datetime, end: datetime) -> int:
    """How many *action* events happened in [start, end)."""
    q = (
        select(func.count())
        .select_from(events)
        .where(
            and_(
                events.c.city_id == city_id,
                events.c.at >= start,
                events.c.at < end,
                events.c.action == action.value,
            )
        )
    )
    return int(conn.execute(q).scalar_one())


def action_counts_since(conn: Connection, city_id: str, since: datetime) -> dict[str, int]:
    """action → how many events of it happened from *since* on."""
    rows = conn.execute(
        select(events.c.action, func.count())
        .where(and_(events.c.city_id == city_id, events.c.at >= since))
        .group_by(events.c.action)
    ).all()
    return {a: int(n) for a, n in rows}


def event_marks_since(conn: Connection, city_id: str, since: datetime) -> list[Any]:
    """(case_id, seq, at) of every event from *since* on."""
    return list(
        conn.execute(
            select(events.c.case_id, events.c.seq, events.c.at).where(
                and_(events.c.city_id == city_id, events.c.at >= since)
            )
        ).all()
    )


def latest_events(conn: Connection, city_id: str, action: Action, limit: int) -> list[Any]:
    """(case_id, seq, at, action, stage_after) of the *limit* newest *action* events, newest first."""
    return list(
        conn.execute(
            select(events.c.case_id, events.c.seq, events.c.at, events.c.action, events.c.stage_after)
            .where(and_(events.c.city_id == city_id, events.c.action == action.value))
            .order_by(events.c.at.desc())
            .limit(limit)
        ).all()
    )


def events_since(conn: Connection, city_id: str, since: datetime, limit: int) -> list[Any]:
    """(case_id, seq, at, action, stage_after, actor_role) of the first *limit* events from *since* on, in
    the order they happened."""
    return list(
        conn.execute(
            select(
                events.c.case_id,
                events.c.seq,
                events.c.at,
                events.c.action,
                events.c.stage_after,
                events.c.actor_role,
            )
            .where(and_(events.c.city_id == city_id, events.c.at >= since))
            .order_by(events.c.at, events.c.case_id, events.c.seq)
            .limit(limit)
        ).all()
    )


def _where(city_id: str, query: CaseQuery) -> ColumnElement[bool]:
    c = cases.c
    conds: list[ColumnElement[bool]] = [c.city_id == city_id]
    if query.ids is not None:
        conds.append(c.case_id.in_(list(query.ids)))
    if query.category_codes is not None:
        conds.append(c.category_code.in_(list(query.category_codes)))
    if query.created_from is not None:
        conds.append(c.created_at >= query.created_from)
    if query.created_to is not None:
        conds.append(c.created_at <= query.created_to)
    if query.public_status is not None:
        conds.append(c.public_status == query.public_status)
    if query.stages is not None:
        conds.append(c.stage.in_(list(query.stages)))
    if query.department_id is not None:
        conds.append(c.department_id == query.department_id)
    if query.district_codes is not None:
        conds.append(c.district_code.in_(list(query.district_codes)))
    if query.overdue_at is not None:
        conds.append(c.deadline < query.overdue_at)
        conds.append(c.stage.in_([s.value for s in HANDLING_STAGES]))
    if query.unlocated:
        conds.append(c.lon.is_(None))
    if query.feedback_review:
        conds.append(c.stage == "closed")
        conds.append(c.doc.contains('"feedback_review":true'))
    if query.scope is not None:
        conds.append(_scope_clause(query.scope))
    conds.extend(_search_where(query))
    return and_(*conds)


#: "TY-2026-00001…": a case number's prefix (letters, a dash, more), found on the primary key.
_NUMBER_START = re.compile(r"^[A-Z]{1,8}-[0-9A-Z-]*$")
#: A run that pg_trgm makes a trigram of: three letters, digits or Han characters.
_TRIGRAM = re.compile(r"[^\W_]{3}")


def _search_where(query: CaseQuery) -> list[ColumnElement[bool]]:
    """The case search's conditions (each on an indexed column but the two *contains*)."""
    c = cases.c
    conds: list[ColumnElement[bool]] = []
    if query.case_no:
        number = query.case_no.strip().upper()
        if _NUMBER_START.match(number):  # the start of a case number: a range of the primary key
            conds.append(and_(c.case_id >= number, c.case_id < number + "~"))
        else:
            conds.append(c.case_id.contains(number, autoescape=True))
    if query.text:
        phrase = query.text.strip().lower()
        # PostgreSQL answers the phrase from the trigram index of lower(search_text) (0016) when it holds
        # three letters, digits or Han characters in a row; a shorter one has no trigram and the index
        # would be read whole (2–3× slower than the scan): the coalesce, equal in every result, keeps
        # the planner off it.
        text = (
            func.lower(c.search_text)
            if _TRIGRAM.search(phrase)
            else func.lower(func.coalesce(c.search_text, ""))
        )
        conds.append(text.contains(phrase, autoescape=True))
    for column, values in (
        (c.grid_code, query.grid_codes),
        (c.street_code, query.street_codes),
        (c.community_code, query.community_codes),
        (c.channel, query.channels),
    ):
        if values is not None:
            conds.append(column.in_(list(values)))
    if query.deadline_from is not None:
        conds.append(c.deadline >= query.deadline_from)
    if query.deadline_to is not None:
        conds.append(c.deadline <= query.deadline_to)
    if query.due_before is not None:
        conds.append(c.due_at < query.due_before)
    if query.due_from is not None:
        conds.append(c.due_at >= query.due_from)
    if query.rework is True:
        conds.append(c.rework_count > 0)
    elif query.rework is False:
        conds.append(c.rework_count == 0)
    return conds


def _order(query: CaseQuery) -> tuple[Any, ...]:
    """ORDER BY of *query*: no time last. When a filter already excludes the rows without one, the
    "is null" term is left out, so that the index on the time gives the order (no sort of the matches)."""
    c = cases.c
    order = query.order
    deadline_known = query.deadline_from is not None or query.deadline_to is not None
    due_known = query.due_before is not None or query.due_from is not None
    no_deadline = () if deadline_known else (c.deadline.is_(None),)
    no_due = () if due_known else (c.due_at.is_(None),)
    if order == "deadline_asc":
        return (*no_deadline, c.deadline, c.created_at, c.case_id)
    if order == "deadline_desc":
        return (*no_deadline, c.deadline.desc(), c.created_at.desc(), c.case_id.desc())
    if order == "light_desc":
        return (*no_due, c.due_at, c.created_at, c.case_id)
    if order == "light_asc":
        return (*no_due, c.due_at.desc(), c.created_at.desc(), c.case_id.desc())
    if order == "updated_desc":
        return (c.updated_at.desc(), c.case_id.desc())
    if order == "updated_asc":
        return (c.updated_at, c.case_id)
    if order == "created_asc":
        return (c.created_at, c.case_id)
    return (c.created_at.desc(), c.case_id.desc())


def _scope_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL for :func:`civicloop.cases.scope.can_view` (kept in step with it by the API tests)."""
    c = cases.c
    own = c.doc.contains(f'"reporter_id":{orjson.dumps(actor.id).decode()}', autoescape=True)
    if actor.role in (Role.SYSTEM, Role.ADMIN):
        return true()
    if actor.role is Role.DEPARTMENT:
        return c.department_id == actor.department_id if actor.department_id else false()
    if actor.role is Role.CITIZEN:
        return own
    if actor.role is Role.INSPECTOR and actor.grid_codes:
        return or_(c.grid_code.in_(list(actor.grid_codes)), own)
    if actor.district_codes:
        return c.district_code.in_(list(actor.district_codes))
    return true()
