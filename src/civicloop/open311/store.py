"""The Open311 capability's queries: what a client submitted beyond the case (extras), ``batch``
tokens, and idempotency keys. Tables in :mod:`civicloop.accounts.store` (migration ``0002_accounts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, insert, select, update

from civicloop.accounts.store import idempotency_keys, open311_requests, open311_tokens
from civicloop.cases.core import CaseState


@dataclass(frozen=True, slots=True)
class Extra:
    """What the Open311 tables hold about one case (if it came in over Open311)."""

    attributes: dict[str, list[str]]
    location_approximate: bool
    account_id: str | None


def load_extras(conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, Extra]:
    out: dict[str, Extra] = {}
    for start in range(0, len(case_ids), 500):
        chunk = list(case_ids[start : start + 500])
        rows = conn.execute(
            select(
                open311_requests.c.case_id,
                open311_requests.c.attributes,
                open311_requests.c.location_approximate,
                open311_requests.c.account_id,
            ).where(and_(open311_requests.c.city_id == city_id, open311_requests.c.case_id.in_(chunk)))
        )
        for r in rows:
            out[r.case_id] = Extra(orjson.loads(r.attributes), bool(r.location_approximate), r.account_id)
    return out


def find_token(conn: Connection, city_id: str, token: str) -> tuple[str, str | None] | None:
    row = conn.execute(
        select(open311_tokens.c.token, open311_tokens.c.case_id).where(
            and_(open311_tokens.c.city_id == city_id, open311_tokens.c.token == token)
        )
    ).first()
    return None if row is None else (row.token, row.case_id)


def find_idempotent(
    conn: Connection, city_id: str, keys: Iterable[str], now: datetime
) -> dict[str, tuple[str, str | None]]:
    """Live keys → (case id, token) of the case the first attempt created."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = conn.execute(
        select(idempotency_keys.c.key, idempotency_keys.c.case_id, idempotency_keys.c.token).where(
            and_(
                idempotency_keys.c.city_id == city_id,
                idempotency_keys.c.key.in_(wanted),
                idempotency_keys.c.expires_at > now,
            )
        )
    )
    return {r.key: (r.case_id, r.token) for r in rows}


@dataclass(frozen=True, slots=True)
class Submitted:
    """What belongs with one new case besides its event: idempotency keys, the submission, a token."""

    case: CaseState
    idempotency: Sequence[tuple[str, datetime]] = ()  # (key, expires at)
    extras: Mapping[str, Any] | None = None
    api_key_id: str | None = None
    token: str | None = None


def record_submissions(conn: Connection, city_id: str, entries: Sequence[Submitted], now: datetime) -> None:
    """Write what belongs with new cases, in their own transaction: one statement per table for all."""
    keys = [key for e in entries for key, _ in e.idempotency]
    for start in range(0, len(keys), 500):  # an expired key may be taken again
        conn.execute(
            delete(idempotency_keys).where(
                and_(
                    idempotency_keys.c.city_id == city_id,
                    idempotency_keys.c.key.in_(keys[start : start + 500]),
                    idempotency_keys.c.expires_at <= now,
                )
            )
        )
    key_rows = [
        {
            "city_id": city_id,
            "key": key,
            "case_id": e.case.case_id,
            "token": e.token,
            "created_at": now,
            "expires_at": expires,
        }
        for e in entries
        for key, expires in e.idempotency
    ]
    extra_rows = [
        {
            "city_id": city_id,
            "case_id": e.case.case_id,
            "api_key_id": e.api_key_id,
            "reporter_id": e.case.reporter_id,
            "created_at": now,
            **e.extras,
        }
        for e in entries
        if e.extras is not None
    ]
    token_rows = [
        {"city_id": city_id, "token": e.token, "case_id": e.case.case_id, "created_at": now}
        for e in entries
        if e.token is not None
    ]
    for table, rows in (
        (idempotency_keys, key_rows),
        (open311_requests, extra_rows),
        (open311_tokens, token_rows),
    ):
        if rows:
            conn.execute(insert(table), rows)


def erase_submission_identity(conn: Connection, city_id: str, reporter_id: str) -> int:
    """Forget the device and account ids a client sent with a reporter's submissions."""
    res = conn.execute(
        update(open311_requests)
        .where(and_(open311_requests.c.city_id == city_id, open311_requests.c.reporter_id == reporter_id))
        .values(device_id=None, account_id=None)
    )
    return int(res.rowcount or 0)


def purge_expired_keys(conn: Connection, city_id: str, now: datetime) -> int:
    res = conn.execute(
        delete(idempotency_keys).where(
            and_(idempotency_keys.c.city_id == city_id, idempotency_keys.c.expires_at <= now)
        )
    )
    return int(res.rowcount or 0)
