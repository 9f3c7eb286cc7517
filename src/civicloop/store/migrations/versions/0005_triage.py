"""Triage: training examples from corrections; notification outbox.

Revision ID: 0005_triage
Revises: 0001_core
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0005_triage"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_examples",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("example_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("suggested", sa.String(64)),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("notification_id", sa.String(96), primary_key=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("about_case_id", sa.String(32), nullable=False),
        sa.Column("reporter_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("message_zh", sa.Text, nullable=False),
        sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
    )
    op.create_index("ix_notifications_pending", "notifications", ["city_id", "sent_at"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("triage_examples")
