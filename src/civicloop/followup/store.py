"""The outbox queries of the progress updates (table ``notifications``: triage/store.py, 0013_followup)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update

from civicloop.store.tables import reporters
from civicloop.triage.store import notifications

n = notifications.c


def due(conn: Connection, city_id: str, now: datetime, limit: int = 100) -> list[Row[Any]]:
    """Notifications not sent yet whose next try is due, oldest first, with the reporter's contact."""
    r = reporters.c
    query = (
        select(
            n.notification_id,
            n.case_id,
            n.about_case_id,
            n.kind,
            n.message_zh,
            n.message_en,
            n.attempts,
            r.phone,
            r.email,
        )
        .select_from(
            notifications.outerjoin(reporters, and_(r.city_id == n.city_id, r.reporter_id == n.reporter_id))
        )
        .where(
            and_(
                n.city_id == city_id,
                n.sent_at.is_(None),
                or_(n.next_attempt_at.is_(None), n.next_attempt_at <= now),
            )
        )
        .order_by(n.created_at)
        .limit(limit)
    )
    return list(conn.execute(query))


def mark(
    conn: Connection,
    city_id: str,
    notification_id: str,
    *,
    sent_at: datetime | None,
    attempts: int,
    next_attempt_at: datetime | None,
    error: str | None,
    channels: str | None,
) -> None:
    conn.execute(
        update(notifications)
        .where(and_(n.city_id == city_id, n.notification_id == notification_id))
        .values(
            sent_at=sent_at,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
            channels=channels,
        )
    )


def updates_for(conn: Connection, city_id: str, case_ids: Sequence[str]) -> list[Row[Any]]:
    """The updates written for these cases (the tracking page lists them), oldest first."""
    query = (
        select(n.kind, n.message_zh, n.message_en, n.created_at, n.sent_at, n.channels)
        .where(and_(n.city_id == city_id, n.case_id.in_(list(case_ids))))
        .order_by(n.created_at, n.notification_id)
    )
    return list(conn.execute(query))
