"""Recurrence search: closed cases by category and place (the intake's "did this come back?" question).

Revision ID: 0007_recurrence_index
Revises: 0003_geography
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_recurrence_index"
down_revision = "0003_geography"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_cases_closed_nearby",
        "cases",
        ["city_id", "category_code", "lat", "lon", "closed_at"],
        sqlite_where=sa.text("public_status = 'closed'"),
        postgresql_where=sa.text("public_status = 'closed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_closed_nearby", table_name="cases")
