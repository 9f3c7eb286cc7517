"""Progress updates to reporters (进度通知): the notification outbox learns retries.

``notifications`` (0005_triage) gets how many sends were tried, when the next try is due and the last
error, so a failed e-mail or SMS is tried again later and never blocks the case transaction.

Revision ID: 0013_followup
Revises: 0001_core
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_followup"
down_revision = "0001_core"
branch_labels = None
depends_on = "0005_triage"


def upgrade() -> None:
    op.add_column("notifications", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("notifications", sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    op.add_column("notifications", sa.Column("last_error", sa.Text()))
    op.add_column("notifications", sa.Column("channels", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        for name in ("channels", "last_error", "next_attempt_at", "attempts"):
            batch.drop_column(name)
