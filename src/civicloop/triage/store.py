"""Tables of the triage capability: training examples from people's corrections, and the outbox of
notifications to reporters (e.g. every reporter of a cluster hears the outcome), and their queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, String, Table, Text, and_, insert, select

from civicloop.store.tables import UTCDateTime, metadata

triage_examples = Table(
    "triage_examples",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("example_id", String(64), primary_key=True),  # case id : event seq : kind
    Column("kind", String(16), nullable=False),  # category | department
    Column("text", Text, nullable=False),
    Column("label", String(64), nullable=False),
    Column("suggested", String(64)),
    Column("case_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("notification_id", String(96), primary_key=True),  # case id : event seq : reporter
    Column("case_id", String(32), nullable=False),
    Column("about_case_id", String(32), nullable=False),  # the master case whose outcome this reports
    Column("reporter_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("message_zh", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    # 0013_followup: retries of the delivery (e-mail, SMS) and what was used
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("channels", String(32)),
    Index("ix_notifications_pending", "city_id", "sent_at"),
)


def add_examples(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store training examples (inside the caller's transaction)."""
    if rows:
        conn.execute(insert(triage_examples), list(rows))


def example_texts(conn: Connection, city_id: str, kind: str) -> list[tuple[str, str]]:
    """The city's stored examples of *kind* as ``(text, label)``, oldest first."""
    rows = conn.execute(
        select(triage_examples.c.text, triage_examples.c.label)
        .where(and_(triage_examples.c.city_id == city_id, triage_examples.c.kind == kind))
        .order_by(triage_examples.c.created_at)
    )
    return [(r.text, r.label) for r in rows]


def add_notifications(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Put notifications in the outbox (inside the caller's transaction)."""
    if rows:
        conn.execute(insert(notifications), list(rows))
