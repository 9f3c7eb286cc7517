"""Tables of the triage capability: training examples from people's corrections, and the outbox of
notifications to reporters (e.g. every reporter of a cluster hears the outcome)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

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
    Index("ix_notifications_pending", "city_id", "sent_at"),
)
