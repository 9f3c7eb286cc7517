"""Text duplicates: the LSH keys (MinHash bands + the exact normal-form hash) of every open case's text.

Revision ID: 0010_case_text_keys
Revises: 0001_core
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_case_text_keys"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_text_keys",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(32), primary_key=True),
    )
    op.create_index("ix_case_text_keys_city_id_case_id", "case_text_keys", ["city_id", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_text_keys_city_id_case_id", table_name="case_text_keys")
    op.drop_table("case_text_keys")
