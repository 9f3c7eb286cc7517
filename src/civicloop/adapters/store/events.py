"""The event store: append events and their projection in one transaction; read them back.

Batches are first-class: the simulator, imports and the benchmark hand over many events at once and they
are written with one ``executemany`` per table, which is what keeps the whole loop within a small factor
of a raw insert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from civicloop.adapters.store.tables import case_numbers, cases, events
from civicloop.domain.case import CaseState, Event
from civicloop.domain.errors import ConcurrentChange
from civicloop.domain.vocabulary import Action, Role, Stage

GENESIS_HASH = "0" * 64


def event_hash(prev_hash: str, e: Event, data_json: str, attachments_json: str | None) -> str:
    """sha256 over the previous hash and every stored field of the event (tamper evidence)."""
    parts = (
        prev_hash,
        e.city_id,
        e.case_id,
        str(e.seq),
        e.action.value,
        e.at.isoformat(),
        e.actor_id,
        e.actor_role.value,
        e.stage_before.value if e.stage_before else "",
        e.stage_after.value,
        data_json,
        e.note or "",
        attachments_json or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def event_row(e: Event, prev_hash: str) -> tuple[dict[str, Any], str]:
    data_json = dumps(e.data)
    attachments_json = dumps(list(e.attachments)) if e.attachments else None
    h = event_hash(prev_hash, e, data_json, attachments_json)
    row = {
        "city_id": e.city_id,
        "case_id": e.case_id,
        "seq": e.seq,
        "action": e.action.value,
        "at": e.at,
        "actor_id": e.actor_id,
        "actor_role": e.actor_role.value,
        "stage_before": e.stage_before.value if e.stage_before else None,
        "stage_after": e.stage_after.value,
        "data": data_json,
        "note": e.note,
        "attachments": attachments_json,
        "hash": h,
    }
    return row, h


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


def projection_row(s: CaseState, last_hash: str) -> dict[str, Any]:
    return {
        "city_id": s.city_id,
        "case_id": s.case_id,
        "version": s.version,
        "stage": s.stage.value,
        "public_status": s.public_status,
        "closure_reason": s.closure_reason.value if s.closure_reason else None,
        "channel": s.channel.value,
        "category_code": s.category_code,
        "urgency": s.urgency.value,
        "department_id": s.department_id,
        "district_code": s.district_code,
        "grid_code": s.grid_code,
        "lon": s.lon,
        "lat": s.lat,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "deadline": s.deadline,
        "closed_at": s.closed_at,
        "handled_on_time": s.handled_on_time,
        "doc": dumps(s.to_doc()),
        "last_hash": last_hash,
    }


@dataclass(slots=True)
class Loaded:
    state: CaseState
    last_hash: str


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

    # ---- writing ----------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        new_events: Sequence[Event],
        states: Iterable[tuple[CaseState, bool]],
        prev_hashes: dict[str, str],
    ) -> dict[str, str]:
        """Append *new_events* (in order) and write each final state once.

        ``states`` yields ``(state, is_new)``; ``prev_hashes`` maps case id → hash of its last stored
        event (missing for new cases). A competing writer that appended the same sequence number first
        makes the primary key refuse ours: that surfaces as ConcurrentChange and nothing is written.
        Returns the new last hash per case.
        """
        rows: list[dict[str, Any]] = []
        last = dict(prev_hashes)
        for e in new_events:
            row, h = event_row(e, last.get(e.case_id, GENESIS_HASH))
            last[e.case_id] = h
            rows.append(row)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for state, is_new in states:
            row = projection_row(state, last[state.case_id])
            (inserts if is_new else updates).append(row)
        try:
            if rows:
                conn.execute(insert(events), rows)
            if inserts:
                conn.execute(insert(cases), inserts)
        except IntegrityError as exc:
            case = new_events[0].case_id if new_events else "?"
            raise ConcurrentChange(case) from exc
        if updates:
            conn.execute(_UPDATE_CASE, [_bind_update(u) for u in updates])
        return last

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


def _bind_update(row: dict[str, Any]) -> dict[str, Any]:
    out = {f"v_{k}": v for k, v in row.items() if k not in ("city_id", "case_id")}
    out["k_city_id"] = row["city_id"]
    out["k_case_id"] = row["case_id"]
    return out


def _make_update() -> Any:
    from sqlalchemy import bindparam

    values: dict[str, Any] = {c.name: bindparam(f"v_{c.name}") for c in cases.columns if c.name not in ("city_id", "case_id")}
    return (
        update(cases)
        .where(and_(cases.c.city_id == bindparam("k_city_id"), cases.c.case_id == bindparam("k_case_id")))
        .values(values)
    )


_UPDATE_CASE = _make_update()
