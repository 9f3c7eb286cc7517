"""Tables of the ledgers capability (工作台账与目标责任考核), on the shared metadata.

Every key starts with ``city_id``. Natural keys are the primary keys, so a duplicate is refused by the
database as well as by the importer: a project by its name, an outreach event by (date, theme, place), a
volunteer activity by (date, theme, place), a normative document by its number (文号), a review by
(number, date), a target by (period, unit, indicator, filter).

Amounts of money are whole yuan (BigInteger): 45.26 亿元 = 4 526 000 000, exact on every store.

Below the tables: the queries of the ledger service (units, targets, entered values, inspections).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Date,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from civicloop.kernel.i18n import Msg
from civicloop.ledger.models import LedgerError, TargetKey
from civicloop.store.tables import UTCDateTime, metadata

ledger_units = Table(
    "ledger_units",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("name_en", String(128)),
    Column("kind", String(16), nullable=False),  # bureau | office | department | district | squad
    Column("parent_id", String(64)),
    Column("department_id", String(64)),  # the profile's department when it is the same unit
    Column("district_code", String(16)),
    Column("kpi_scope", String(96), nullable=False),  # city | department:<id> | district:<code>
    Column("position", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

ledger_targets = Table(
    "ledger_targets",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),  # 2026 | 2026-Q3 | 2026-07
    Column("unit_id", String(64), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("filter", String(64), primary_key=True),  # '' or a category code / theme / project type
    Column("name", String(128)),  # label override (entered indicators outside the catalogue)
    Column("comparison", String(2), nullable=False),  # ge | le
    Column("target_value", Float, nullable=False),
    Column("weight", Float, nullable=False),
    Column("source", String(8), nullable=False),  # auto | ledger | entered
    Column("tolerance", Float, nullable=False),
    Column("note", Text),
    Column("set_by", String(64), nullable=False),
    Column("set_at", UTCDateTime(), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("filter", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("value", Float, nullable=False),
    Column("evidence", Text, nullable=False),  # file path or URL
    Column("note", Text),
    Column("entered_by", String(64), nullable=False),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("status", String(10), nullable=False),  # pending | approved | rejected
    Column("reviewed_by", String(64)),
    Column("reviewed_at", UTCDateTime()),
    Column("review_note", Text),
)

ledger_inspections = Table(
    "ledger_inspections",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("indicator", String(64)),
    Column("inspected_on", Date, nullable=False),
    Column("note", Text, nullable=False),
    Column("deduction", Float, nullable=False),
    Column("inspector", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_inspections_unit", "city_id", "unit_id"),
)

ledger_projects = Table(
    "ledger_projects",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("project_type", String(16), nullable=False),
    Column("district_code", String(16)),
    Column("unit_id", String(64), nullable=False),
    Column("planned_investment", BigInteger, nullable=False),  # yuan
    Column("completed_investment", BigInteger, nullable=False),  # yuan
    Column("start_date", Date),
    Column("finish_date", Date),
    Column("status", String(12), nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_projects_start", "city_id", "start_date"),
)

ledger_campaigns = Table(
    "ledger_campaigns",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("held_on", Date, primary_key=True),
    Column("theme", String(64), primary_key=True),
    Column("place", String(128), primary_key=True),
    Column("target_group", String(12), nullable=False),
    Column("district_code", String(16)),
    Column("unit_id", String(64), nullable=False),
    Column("events", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("handbooks", Integer, nullable=False),
    Column("leaflets", Integer, nullable=False),
    Column("trainees", Integer, nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_volunteering = Table(
    "ledger_volunteering",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("held_on", Date, primary_key=True),
    Column("theme", String(64), primary_key=True),
    Column("place", String(128), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("hours", Float, nullable=False),  # volunteer hours, all participants together
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_documents = Table(
    "ledger_documents",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("number", String(64), primary_key=True),  # 文号, e.g. 并城管发〔2016〕12号
    Column("title", String(256), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("status", String(12), nullable=False),  # in_force | revised | reissued | abolished
    Column("unit_id", String(64), nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_document_reviews = Table(
    "ledger_document_reviews",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("number", String(64), primary_key=True),
    Column("reviewed_on", Date, primary_key=True),
    Column("outcome", String(12), nullable=False),  # kept | revised | reissued | abolished
    Column("new_number", String(64)),
    Column("reviewer", String(64), nullable=False),
    Column("note", Text),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_document_reviews_date", "city_id", "reviewed_on"),
)

LEDGER_TABLES = (
    ledger_units,
    ledger_targets,
    ledger_entries,
    ledger_inspections,
    ledger_projects,
    ledger_campaigns,
    ledger_volunteering,
    ledger_documents,
    ledger_document_reviews,
)


# --------------------------------------------------------------------------- queries


def has_schema(engine: Engine) -> bool:
    """Whether the database already has the ledgers' tables (migration ``0006_ledgers``)."""
    return inspect(engine).has_table("ledger_units")


def unit_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    u = ledger_units
    return conn.execute(select(u).where(u.c.city_id == city_id).order_by(u.c.position)).all()


def unit_exists(conn: Connection, city_id: str, unit_id: str) -> bool:
    u = ledger_units
    return (
        conn.execute(select(u.c.unit_id).where(u.c.city_id == city_id, u.c.unit_id == unit_id)).first()
        is not None
    )


def target_rows(
    conn: Connection, city_id: str, *, periods: Sequence[str] | None = None, unit_id: str | None = None
) -> list[dict[str, Any]]:
    """Targets (of some periods, of one unit) ordered by period, unit, indicator and filter."""
    t = ledger_targets
    query = select(t).where(t.c.city_id == city_id)
    if periods is not None:
        query = query.where(t.c.period.in_(list(periods)))
    if unit_id is not None:
        query = query.where(t.c.unit_id == unit_id)
    rows = conn.execute(query.order_by(t.c.period, t.c.unit_id, t.c.indicator, t.c.filter)).mappings()
    return [dict(r) for r in rows]


def target_rows_of_periods(conn: Connection, city_id: str, periods: Sequence[str]) -> Sequence[Any]:
    """The target rows (as rows) of the given period labels, unordered."""
    t = ledger_targets
    return conn.execute(select(t).where(t.c.city_id == city_id, t.c.period.in_(list(periods)))).all()


def target_row(conn: Connection, city_id: str, key: TargetKey) -> Any:
    """The target with that key, or None."""
    t = ledger_targets
    return conn.execute(
        select(t).where(
            t.c.city_id == city_id,
            t.c.period == key.period,
            t.c.unit_id == key.unit_id,
            t.c.indicator == key.indicator,
            t.c.filter == key.filter,
        )
    ).first()


def _entry_where(city_id: str, key: TargetKey | None) -> list[ColumnElement[bool]]:
    e = ledger_entries
    if key is None:
        return [e.c.city_id == city_id]
    return [
        e.c.city_id == city_id,
        e.c.period == key.period,
        e.c.unit_id == key.unit_id,
        e.c.indicator == key.indicator,
        e.c.filter == key.filter,
    ]


def add_entry(conn: Connection, city_id: str, key: TargetKey, values: Mapping[str, Any]) -> int:
    """Append an entered value of the target (the next sequence number); returns that number."""
    e = ledger_entries
    seq = (
        int(
            conn.execute(
                select(func.coalesce(func.max(e.c.seq), 0)).where(*_entry_where(city_id, key))
            ).scalar_one()
        )
        + 1
    )
    conn.execute(
        insert(e).values(
            city_id=city_id,
            period=key.period,
            unit_id=key.unit_id,
            indicator=key.indicator,
            filter=key.filter,
            seq=seq,
            **values,
        )
    )
    return seq


def latest_entry(conn: Connection, city_id: str, key: TargetKey, seq: int | None = None) -> Any:
    """The entry with that sequence number, else the latest pending one; None if there is none."""
    e = ledger_entries
    where = _entry_where(city_id, key)
    where.append(e.c.seq == seq if seq is not None else e.c.status == "pending")
    return conn.execute(select(e).where(*where).order_by(e.c.seq.desc()).limit(1)).first()


def review_entry(conn: Connection, city_id: str, key: TargetKey, seq: int, **values: Any) -> None:
    e = ledger_entries
    conn.execute(update(e).where(*_entry_where(city_id, key), e.c.seq == seq).values(**values))


def entry_rows(
    conn: Connection, city_id: str, key: TargetKey | None = None, period: str | None = None
) -> Sequence[Any]:
    """Entries (of one target, of one period) by period, unit, indicator, filter and sequence."""
    e = ledger_entries
    where = _entry_where(city_id, key)
    if period is not None:
        where.append(e.c.period == period)
    return conn.execute(
        select(e).where(*where).order_by(e.c.period, e.c.unit_id, e.c.indicator, e.c.filter, e.c.seq)
    ).all()


def add_inspection(conn: Connection, city_id: str, period: str, values: Mapping[str, Any]) -> int:
    """Append an inspection note to the period (the next sequence number); returns that number."""
    i = ledger_inspections
    seq = (
        int(
            conn.execute(
                select(func.coalesce(func.max(i.c.seq), 0)).where(
                    i.c.city_id == city_id, i.c.period == period
                )
            ).scalar_one()
        )
        + 1
    )
    conn.execute(insert(i).values(city_id=city_id, period=period, seq=seq, **values))
    return seq


def inspection_rows(conn: Connection, city_id: str, period: str) -> Sequence[Any]:
    i = ledger_inspections
    return conn.execute(select(i).where(i.c.city_id == city_id, i.c.period == period).order_by(i.c.seq)).all()


# --------------------------------------------------------------------------- ledger rows (any kind)


def unit_kinds(conn: Connection, city_id: str) -> dict[str, str]:
    """Unit id → kind of every registered unit."""
    u = ledger_units
    return {
        r.unit_id: r.kind for r in conn.execute(select(u.c.unit_id, u.c.kind).where(u.c.city_id == city_id))
    }


def document_states(conn: Connection, city_id: str) -> dict[str, tuple[Any, Any]]:
    """Document number → (issue date, status) of every normative document."""
    d = ledger_documents
    q = select(d.c.number, d.c.issue_date, d.c.status).where(d.c.city_id == city_id)
    return {r.number: (r.issue_date, r.status) for r in conn.execute(q)}


def natural_keys(conn: Connection, table: Table, city_id: str, key: Sequence[str]) -> set[tuple[Any, ...]]:
    """The natural keys (the *key* columns) of every row of the city in *table*."""
    cols = [table.c[k] for k in key]
    return {tuple(r) for r in conn.execute(select(*cols).where(table.c.city_id == city_id))}


def write_ledger_rows(
    conn: Connection,
    name: str,
    table: Table,
    city_id: str,
    key: Sequence[str],
    inserts: Sequence[Mapping[str, Any]],
    updates: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> None:
    """Insert *inserts*; for each ``(row, changes)`` of *updates* set *changes* on the row with the same
    natural key. A duplicate that appeared meanwhile (a concurrent import) is refused as a LedgerError."""
    try:
        if inserts:
            conn.execute(insert(table), list(inserts))
        for row, changes in updates:
            where = and_(table.c.city_id == city_id, *(table.c[c] == row[c] for c in key))
            conn.execute(update(table).where(where).values(**changes))
    except IntegrityError as exc:
        raise LedgerError(
            str(Msg("ledger.import.concurrent_duplicate", kind=name, reason=exc.orig))
        ) from None


def apply_review_outcomes(
    conn: Connection, city_id: str, numbers: Iterable[str], status_of: Mapping[str, str], now: datetime
) -> None:
    """Set each document's status from the outcome of its latest review (``status_of[outcome]``)."""
    r = ledger_document_reviews
    d = ledger_documents
    for number in sorted(set(numbers)):
        last = conn.execute(
            select(r.c.outcome)
            .where(r.c.city_id == city_id, r.c.number == number)
            .order_by(r.c.reviewed_on.desc())
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(d)
            .where(d.c.city_id == city_id, d.c.number == number)
            .values(status=status_of[last], updated_at=now)
        )


def ledger_rows(
    conn: Connection,
    table: Table,
    city_id: str,
    *,
    order: Sequence[str],
    date_column: str | None = None,
    year: int | None = None,
    year_prefix: bool = False,
) -> Sequence[Any]:
    """Rows of *table* (of one *year* of *date_column*: a date, or a text starting with the year when
    ``year_prefix``) ordered by the columns *order*."""
    query = select(table).where(table.c.city_id == city_id)
    if year is not None and date_column is not None:
        col = table.c[date_column]
        if year_prefix:
            query = query.where(col.like(f"{year}%"))
        else:
            query = query.where(col >= date(year, 1, 1), col <= date(year, 12, 31))
    return conn.execute(query.order_by(*(table.c[c] for c in order))).mappings().all()


def ledger_totals(
    conn: Connection,
    table: Table,
    city_id: str,
    date_column: str,
    first_day: date,
    last_day: date,
    unit_ids: Sequence[str],
    *,
    value_column: str | None,
    where: tuple[str, str, str] | None = None,
    filter_on: tuple[str, str] | None = None,
    sample: int = 10,
) -> tuple[Any, int, Sequence[Any]]:
    """Sum *value_column* (None: count the rows) of the units' rows dated first_day … last_day, with the
    optional condition *where* ``(column, "==" | "!=", value)`` and filter *filter_on* ``(column, value)``:
    ``(value, row count, the first *sample* rows by date and key)``. Document reviews belong to the unit
    that issued the document."""
    day = table.c[date_column]
    conditions = [table.c.city_id == city_id, day >= first_day, day <= last_day]
    if where is not None:
        column, op, wanted = where
        conditions.append(table.c[column] == wanted if op == "==" else table.c[column] != wanted)
    if filter_on is not None:
        conditions.append(table.c[filter_on[0]] == filter_on[1])
    if table is ledger_document_reviews:
        d = ledger_documents
        owned = select(d.c.number).where(d.c.city_id == city_id, d.c.unit_id.in_(list(unit_ids)))
        conditions.append(table.c.number.in_(owned))
    else:
        conditions.append(table.c.unit_id.in_(list(unit_ids)))
    cond = and_(*conditions)
    measure = func.count() if value_column is None else func.coalesce(func.sum(table.c[value_column]), 0)
    value = conn.execute(select(measure).select_from(table).where(cond)).scalar_one()
    total = int(conn.execute(select(func.count()).select_from(table).where(cond)).scalar_one())
    rows = conn.execute(
        select(table).where(cond).order_by(day, *table.primary_key.columns).limit(sample)
    ).all()
    return value, total, rows
