"""Several cities in one deployment: a user of one city may also act in another (``city_members``).

A user account belongs to one city (``users``: city_id, user_id); a membership lets that user, logged in
at home, work in another city of the same database with a role there (typically a provincial admin or
leader). The key leads with the city the membership gives access to, like every key.

Revision ID: 0015_city_members
Revises: 0001_core
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_city_members"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "city_members",
        sa.Column("city_id", sa.String(32), nullable=False),
        sa.Column("home_city_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("city_id", "home_city_id", "user_id", name="pk_city_members"),
    )


def downgrade() -> None:
    op.drop_table("city_members")
