"""Accounts and the HTTP capability: users, sessions, API keys, idempotency keys, Open311 tokens and
submissions, audit log. A branch off 0001_core (``migrate()`` upgrades all heads).

Revision ID: 0002_accounts
Revises: 0001_core
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0002_accounts"
down_revision = "0001_core"
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("department_id", sa.String(64)),
        sa.Column("district_codes", sa.Text, nullable=False),
        sa.Column("grid_codes", sa.Text, nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("city_id", "username", name="uq_users_city_username"),
    )
    op.create_table(
        "sessions",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_sessions_city_user", "sessions", ["city_id", "user_id"])
    op.create_table(
        "api_keys",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_idempotency_keys_city_expires", "idempotency_keys", ["city_id", "expires_at"])
    op.create_table(
        "open311_tokens",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(32)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "open311_requests",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), primary_key=True),
        sa.Column("api_key_id", sa.String(32)),
        sa.Column("reporter_id", sa.String(64)),
        sa.Column("service_code", sa.String(16), nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("media_urls", sa.Text, nullable=False),
        sa.Column("device_id", sa.String(128)),
        sa.Column("account_id", sa.String(128)),
        sa.Column("location_approximate", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_open311_requests_city_reporter", "open311_requests", ["city_id", "reporter_id"])
    op.create_table(
        "audit_log",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("audit_id", sa.String(32), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_city_subject", "audit_log", ["city_id", "subject"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "open311_requests",
        "open311_tokens",
        "idempotency_keys",
        "api_keys",
        "sessions",
        "users",
    ):
        op.drop_table(table)
