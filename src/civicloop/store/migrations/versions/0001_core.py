"""Core schema: cities, the append-only event log, the case projection, case numbers, reporters.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cities",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_en", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("stage_before", sa.String(24)),
        sa.Column("stage_after", sa.String(24), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("attachments", sa.Text),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_events_city_at", "events", ["city_id", "at"])
    op.create_table(
        "cases",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("public_status", sa.String(8), nullable=False),
        sa.Column("closure_reason", sa.String(24)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category_code", sa.String(16)),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("department_id", sa.String(64)),
        sa.Column("district_code", sa.String(16)),
        sa.Column("grid_code", sa.String(16)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("handled_on_time", sa.Boolean),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_cases_city_stage", "cases", ["city_id", "stage"])
    op.create_index("ix_cases_city_department", "cases", ["city_id", "department_id", "stage"])
    op.create_index("ix_cases_city_created", "cases", ["city_id", "created_at"])
    op.create_index("ix_cases_city_deadline", "cases", ["city_id", "deadline"])
    op.create_table(
        "case_numbers",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("next_serial", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reporters",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("reporter_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128)),
        sa.Column("phone", sa.String(64)),
        sa.Column("email", sa.String(256)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("anonymised_at", UTCDateTime()),
    )
    _append_only_triggers()


def _append_only_triggers() -> None:
    """The database itself refuses UPDATE and DELETE on the event log."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION civicloop_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION civicloop_events_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS civicloop_events_append_only()")
    for table in ("reporters", "case_numbers", "cases", "events", "cities"):
        op.drop_table(table)
