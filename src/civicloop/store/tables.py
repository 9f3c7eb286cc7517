"""Relational schema (SQLAlchemy Core). Every table carries ``city_id`` first in its primary key, so one
deployment serves several cities and the schema can later be distributed by city (Citus).

``events`` is the append-only source of truth; ``cases`` is its projection, written in the same
transaction. Reporter identities live in ``reporters`` so that a person can be erased without touching
the log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out — on SQLite (which has no time zones) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: civicloop stores only time-zone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


cities = Table(
    "cities",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("name_en", String(64), nullable=False),
    Column("profile", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("case_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("action", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("stage_before", String(24)),
    Column("stage_after", String(24), nullable=False),
    Column("data", Text, nullable=False),
    Column("note", Text),
    Column("attachments", Text),
    # Hash chained to the previous event of the same case: an edited or deleted event is detectable.
    Column("hash", String(64), nullable=False),
    Index("ix_events_city_at", "city_id", "at"),
)

cases = Table(
    "cases",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("case_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("stage", String(24), nullable=False),
    Column("public_status", String(8), nullable=False),
    Column("closure_reason", String(24)),
    Column("channel", String(16), nullable=False),
    Column("category_code", String(16)),
    Column("urgency", String(8), nullable=False),
    Column("department_id", String(64)),
    Column("district_code", String(16)),
    Column("grid_code", String(16)),
    Column("lon", Float),
    Column("lat", Float),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("deadline", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("handled_on_time", Boolean),
    Column("doc", Text, nullable=False),
    Column("last_hash", String(64), nullable=False),
    # 0012: what the case search filters and sorts on besides (street, community, rework, due, text)
    Column("street_code", String(16)),
    Column("community_code", String(16)),
    Column("rework_count", Integer, nullable=False, server_default="0"),
    Column("due_at", UTCDateTime()),
    Column("search_text", Text),
    Index("ix_cases_city_stage", "city_id", "stage"),
    Index("ix_cases_city_department", "city_id", "department_id", "stage"),
    Index("ix_cases_city_department_created", "city_id", "department_id", "created_at"),  # 0008
    Index("ix_cases_city_created", "city_id", "created_at"),
    Index("ix_cases_city_deadline", "city_id", "deadline"),
    Index("ix_cases_city_grid_created", "city_id", "grid_code", "created_at"),  # 0012
    Index("ix_cases_city_street_created", "city_id", "street_code", "created_at"),  # 0012
    Index("ix_cases_city_community_created", "city_id", "community_code", "created_at"),  # 0012
    Index("ix_cases_city_district_created", "city_id", "district_code", "created_at"),  # 0012
    Index("ix_cases_city_category_created", "city_id", "category_code", "created_at"),  # 0012
    Index("ix_cases_city_updated", "city_id", "updated_at"),  # 0012
    Index("ix_cases_city_due", "city_id", "due_at"),  # 0012
    Index("ix_cases_city_rework", "city_id", "rework_count"),  # 0012
)

case_numbers = Table(
    "case_numbers",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("next_serial", BigInteger, nullable=False),
)

reporters = Table(
    "reporters",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("reporter_id", String(64), primary_key=True),
    Column("name", String(128)),
    Column("phone", String(64)),
    Column("email", String(256)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("anonymised_at", UTCDateTime()),
)
