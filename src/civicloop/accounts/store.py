"""Tables of the accounts and HTTP capability (migration ``0002_accounts``). ``city_id`` leads every key.

* ``users`` — staff accounts with a role and a scope (department, districts, grids).
* ``sessions`` — bearer tokens of the workflow API, stored as SHA-256 hashes, expiring and revocable.
* ``api_keys`` — Open311 client keys, each tied to one jurisdiction (the city), stored hashed.
* ``idempotency_keys`` — retried POSTs map to the case the first attempt created; written in the
  same transaction as that case, so a retry after a crash or restart still finds it.
* ``open311_tokens`` — tokens for ``batch`` services (``GET /tokens/{token}``).
* ``open311_requests`` — what an Open311 client submitted beyond the case fields (attribute answers,
  media URLs, device and account ids); the device/account ids are erased with the reporter.
* ``audit_log`` — administrative acts that are not case events (reporter anonymisation, key revocation).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Boolean, Column, Connection, Index, String, Table, Text, UniqueConstraint, and_, select

from civicloop.store.tables import UTCDateTime, metadata

users = Table(
    "users",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("display_name", String(128)),
    Column("role", String(16), nullable=False),
    Column("department_id", String(64)),
    Column("district_codes", Text, nullable=False),  # JSON list
    Column("grid_codes", Text, nullable=False),  # JSON list
    Column("password_hash", String(255), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("city_id", "username", name="uq_users_city_username"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Index("ix_sessions_city_user", "city_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(128)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("case_id", String(32), nullable=False),
    Column("token", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_idempotency_keys_city_expires", "city_id", "expires_at"),
)

open311_tokens = Table(
    "open311_tokens",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("case_id", String(32)),
    Column("created_at", UTCDateTime(), nullable=False),
)

open311_requests = Table(
    "open311_requests",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("case_id", String(32), primary_key=True),
    Column("api_key_id", String(32)),
    Column("reporter_id", String(64)),
    Column("service_code", String(16), nullable=False),
    Column("attributes", Text, nullable=False),  # JSON {code: [values]}
    Column("media_urls", Text, nullable=False),  # JSON list
    Column("device_id", String(128)),
    Column("account_id", String(128)),
    Column("location_approximate", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_open311_requests_city_reporter", "city_id", "reporter_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("audit_id", String(32), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_audit_log_city_subject", "city_id", "subject"),
)


def open311_submission(conn: Connection, city_id: str, case_id: str) -> tuple[dict[str, Any], bool] | None:
    """The Open311 attributes and whether the location was approximate, of a case reported over Open311."""
    row = conn.execute(
        select(open311_requests.c.attributes, open311_requests.c.location_approximate).where(
            and_(open311_requests.c.city_id == city_id, open311_requests.c.case_id == case_id)
        )
    ).first()
    if row is None:
        return None
    return orjson.loads(row.attributes), bool(row.location_approximate)
