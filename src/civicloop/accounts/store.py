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

Below the tables: the queries of the account service (users, sessions, API keys, the audit log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

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

# A user of one city (home_city_id, user_id) who may also act in city_id, with a role there (0015).
city_members = Table(
    "city_members",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("home_city_id", String(32), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
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


# --------------------------------------------------------------------------- users


def insert_user(engine: Engine, row: Mapping[str, Any]) -> bool:
    """Insert a user in a transaction of its own; False if the username is taken (nothing written)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(users).values(**row))
    except IntegrityError:
        return False
    return True


def insert_users(engine: Engine, city_id: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Insert all *rows* (users of *city_id*) in one transaction, or none: the usernames already taken
    (nothing written) or [] (all written)."""
    names = [str(r["username"]) for r in rows]
    with engine.begin() as conn:
        taken: set[str] = set()
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            found = conn.execute(
                select(users.c.username).where(and_(users.c.city_id == city_id, users.c.username.in_(chunk)))
            )
            taken.update(r.username for r in found)
        if taken:
            return sorted(taken)
        if rows:
            conn.execute(insert(users), [dict(r) for r in rows])
    return []


def member_role(conn: Connection, city_id: str, home_city_id: str, user_id: str) -> str | None:
    """The role in *city_id* of a user of *home_city_id*, or None (no membership)."""
    return conn.execute(
        select(city_members.c.role).where(
            and_(city_members.c.city_id == city_id, city_members.c.home_city_id == home_city_id,
                 city_members.c.user_id == user_id)
        )
    ).scalar()  # fmt: skip


def member_cities(conn: Connection, home_city_id: str, user_id: str) -> list[tuple[str, str]]:
    """(city_id, role) of every other city a user of *home_city_id* may act in (a whole-deployment read:
    the memberships of one person, across the cities)."""
    rows = conn.execute(
        select(city_members.c.city_id, city_members.c.role)
        .where(and_(city_members.c.home_city_id == home_city_id, city_members.c.user_id == user_id))
        .order_by(city_members.c.city_id)
    )
    return [(r.city_id, r.role) for r in rows]


def set_member(conn: Connection, row: Mapping[str, Any], *, remove: bool = False) -> None:
    """Grant (or, with *remove*, withdraw) one membership; granting again changes the role."""
    key = and_(city_members.c.city_id == row["city_id"], city_members.c.home_city_id == row["home_city_id"],
               city_members.c.user_id == row["user_id"])  # fmt: skip
    conn.execute(delete(city_members).where(key))
    if not remove:
        conn.execute(insert(city_members).values(**row))


def user_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    """The city's users, by username."""
    return conn.execute(select(users).where(users.c.city_id == city_id).order_by(users.c.username)).all()


def user_row(conn: Connection, city_id: str, username: str) -> Any:
    """The user with that (normalised) username, or None."""
    return conn.execute(
        select(users).where(and_(users.c.city_id == city_id, users.c.username == username))
    ).first()


def update_user(conn: Connection, city_id: str, user_id: str, **values: Any) -> None:
    conn.execute(
        update(users).where(and_(users.c.city_id == city_id, users.c.user_id == user_id)).values(**values)
    )


# --------------------------------------------------------------------------- sessions


def insert_session(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(sessions).values(**row))


def session_user_row(conn: Connection, city_id: str, token_hash: str) -> Any:
    """The user of the session with that token hash, with the session's expires_at and revoked_at."""
    return conn.execute(
        select(users, sessions.c.expires_at, sessions.c.revoked_at)
        .join(
            sessions,
            and_(sessions.c.city_id == users.c.city_id, sessions.c.user_id == users.c.user_id),
        )
        .where(and_(sessions.c.city_id == city_id, sessions.c.token_hash == token_hash))
    ).first()


def _revoke(conn: Connection, table: Table, at: datetime, *where: Any) -> int:
    """Mark the live (not yet revoked) rows of *table* matching *where* revoked at *at*; how many."""
    res = conn.execute(update(table).where(*where, table.c.revoked_at.is_(None)).values(revoked_at=at))
    return int(res.rowcount or 0)


def revoke_session(conn: Connection, city_id: str, token_hash: str, at: datetime) -> int:
    """Revoke the live session with that token hash; how many were revoked."""
    return _revoke(conn, sessions, at, sessions.c.city_id == city_id, sessions.c.token_hash == token_hash)


def revoke_user_sessions(conn: Connection, city_id: str, user_id: str, at: datetime) -> int:
    """Revoke every live session of a user; how many were revoked."""
    return _revoke(conn, sessions, at, sessions.c.city_id == city_id, sessions.c.user_id == user_id)


# --------------------------------------------------------------------------- API keys


def insert_api_key(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(api_keys).values(**row))


def api_key_secret(conn: Connection, city_id: str, key_id: str) -> Any:
    """(secret_hash, revoked_at) of a key, or None."""
    return conn.execute(
        select(api_keys.c.secret_hash, api_keys.c.revoked_at).where(
            and_(api_keys.c.city_id == city_id, api_keys.c.key_id == key_id)
        )
    ).first()


def revoke_api_key(conn: Connection, city_id: str, key_id: str, at: datetime) -> int:
    """Revoke a live key; how many were revoked (0 or 1)."""
    return _revoke(conn, api_keys, at, api_keys.c.city_id == city_id, api_keys.c.key_id == key_id)


def api_key_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    """The city's keys, oldest first."""
    return conn.execute(
        select(api_keys).where(api_keys.c.city_id == city_id).order_by(api_keys.c.created_at)
    ).all()


# --------------------------------------------------------------------------- audit log


def insert_audit(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(audit_log).values(**row))


def audit_rows(conn: Connection, city_id: str, subject: str | None = None) -> Sequence[Any]:
    """The city's audit entries (about one subject), oldest first."""
    q = select(audit_log).where(audit_log.c.city_id == city_id)
    if subject is not None:
        q = q.where(audit_log.c.subject == subject)
    return conn.execute(q.order_by(audit_log.c.at)).all()
