"""Ledgers and target-responsibility assessment (工作台账与目标责任考核): units, targets, entered values,
inspection notes, projects, outreach events, volunteer activities, normative documents and their reviews.

Revision ID: 0006_ledgers
Revises: 0001_core
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0006_ledgers"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_units",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_en", sa.String(128)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("department_id", sa.String(64)),
        sa.Column("district_code", sa.String(16)),
        sa.Column("kpi_scope", sa.String(96), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ledger_targets",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("filter", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128)),
        sa.Column("comparison", sa.String(2), nullable=False),
        sa.Column("target_value", sa.Float, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("tolerance", sa.Float, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("filter", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reviewed_by", sa.String(64)),
        sa.Column("reviewed_at", UTCDateTime()),
        sa.Column("review_note", sa.Text),
    )
    op.create_table(
        "ledger_inspections",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(64)),
        sa.Column("inspected_on", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("deduction", sa.Float, nullable=False),
        sa.Column("inspector", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_inspections_unit", "ledger_inspections", ["city_id", "unit_id"])
    op.create_table(
        "ledger_projects",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("project_type", sa.String(16), nullable=False),
        sa.Column("district_code", sa.String(16)),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("planned_investment", sa.BigInteger, nullable=False),
        sa.Column("completed_investment", sa.BigInteger, nullable=False),
        sa.Column("start_date", sa.Date),
        sa.Column("finish_date", sa.Date),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_projects_start", "ledger_projects", ["city_id", "start_date"])
    op.create_table(
        "ledger_campaigns",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("held_on", sa.Date, primary_key=True),
        sa.Column("theme", sa.String(64), primary_key=True),
        sa.Column("place", sa.String(128), primary_key=True),
        sa.Column("target_group", sa.String(12), nullable=False),
        sa.Column("district_code", sa.String(16)),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("handbooks", sa.Integer, nullable=False),
        sa.Column("leaflets", sa.Integer, nullable=False),
        sa.Column("trainees", sa.Integer, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ledger_volunteering",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("held_on", sa.Date, primary_key=True),
        sa.Column("theme", sa.String(64), primary_key=True),
        sa.Column("place", sa.String(128), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ledger_documents",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "ledger_document_reviews",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("reviewed_on", sa.Date, primary_key=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("new_number", sa.String(64)),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_document_reviews_date", "ledger_document_reviews", ["city_id", "reviewed_on"])


def downgrade() -> None:
    op.drop_index("ix_ledger_document_reviews_date", table_name="ledger_document_reviews")
    op.drop_table("ledger_document_reviews")
    op.drop_table("ledger_documents")
    op.drop_table("ledger_volunteering")
    op.drop_table("ledger_campaigns")
    op.drop_index("ix_ledger_projects_start", table_name="ledger_projects")
    op.drop_table("ledger_projects")
    op.drop_index("ix_ledger_inspections_unit", table_name="ledger_inspections")
    op.drop_table("ledger_inspections")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_targets")
    op.drop_table("ledger_units")
