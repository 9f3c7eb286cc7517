"""Geography and assets: areas, unit grids, components and their state history, duty grids, patrols;
the partial index for the nearby search on open cases.

Revision ID: 0003_geography
Revises: 0001_core
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0003_geography"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _bbox() -> list[sa.Column[float]]:
    return [
        sa.Column("min_lon", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lon", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "geo_areas",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("level", sa.String(12), nullable=False),
        sa.Column("parent_code", sa.String(16)),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("geometry", sa.LargeBinary, nullable=False),
        sa.Column("area_m2", sa.Float, nullable=False),
        *_bbox(),
        sa.Column("generated", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("source", sa.String(256)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_geo_areas_city_level", "geo_areas", ["city_id", "level"])
    op.create_table(
        "geo_grids",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("grid_code", sa.String(15), primary_key=True),
        sa.Column("community_code", sa.String(12), nullable=False),
        sa.Column("street_code", sa.String(9), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("geometry", sa.LargeBinary, nullable=False),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("grid_row", sa.Integer),
        sa.Column("grid_col", sa.Integer),
        *_bbox(),
        sa.Column("generated", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("source", sa.String(256)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_geo_grids_city_community", "geo_grids", ["city_id", "community_code"])
    op.create_table(
        "geo_versions",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "components",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("component_id", sa.String(17), primary_key=True),
        sa.Column("type_code", sa.String(5), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("competent_department_id", sa.String(64)),
        sa.Column("owner_department_id", sa.String(64)),
        sa.Column("maintainer_department_id", sa.String(64)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("community_code", sa.String(12)),
        sa.Column("street_code", sa.String(9)),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("road_name", sa.String(64)),
        sa.Column("road_class", sa.String(12)),
        sa.Column("start_date", sa.Date),
        sa.Column("changed_date", sa.Date),
        sa.Column("generated", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(256)),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_components_city_type_lat_lon", "components", ["city_id", "type_code", "lat", "lon"])
    op.create_index("ix_components_city_grid", "components", ["city_id", "grid_code"])
    op.create_index(
        "ix_components_city_district_type", "components", ["city_id", "district_code", "type_code"]
    )
    op.create_table(
        "component_states",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("component_id", sa.String(17), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_state", sa.String(12)),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(32)),
        sa.Column("patrol_id", sa.String(40)),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "duty_grids",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("inspector_id", sa.String(64), primary_key=True),
        sa.Column("grid_code", sa.String(15), primary_key=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_duty_grids_city_grid", "duty_grids", ["city_id", "grid_code"])
    op.create_table(
        "patrols",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("patrol_id", sa.String(40), primary_key=True),
        sa.Column("inspector_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("track", sa.Text, nullable=False),
        sa.Column("distance_m", sa.Float, nullable=False),
        sa.Column("district_code", sa.String(6)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_patrols_city_started", "patrols", ["city_id", "started_at"])
    op.create_index("ix_patrols_city_inspector", "patrols", ["city_id", "inspector_id", "started_at"])
    op.create_table(
        "patrol_checks",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("patrol_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("component_id", sa.String(17)),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("result", sa.String(12), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("case_id", sa.String(32)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_patrol_checks_city_component", "patrol_checks", ["city_id", "component_id"])
    op.create_table(
        "patrol_grids",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("patrol_id", sa.String(40), primary_key=True),
        sa.Column("grid_code", sa.String(15), primary_key=True),
    )
    op.create_index("ix_patrol_grids_city_grid", "patrol_grids", ["city_id", "grid_code"])
    # Nearby search (duplicate detection, the report form): open cases only, covering.
    op.create_index(
        "ix_cases_open_nearby",
        "cases",
        ["city_id", "category_code", "lat", "lon", "created_at", "case_id", "public_status"],
        sqlite_where=sa.text("public_status = 'open'"),
        postgresql_where=sa.text("public_status = 'open'"),
    )
    _append_only_history()


def _append_only_history() -> None:
    """A component's state history is evidence (完好率 over time): the database refuses edits."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER component_states_no_{verb.lower()} BEFORE {verb} ON component_states "
                "BEGIN SELECT RAISE(ABORT, 'component_states is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION civicloop_component_states_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'component_states is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER component_states_append_only BEFORE UPDATE OR DELETE ON component_states "
            "FOR EACH ROW EXECUTE FUNCTION civicloop_component_states_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS component_states_append_only ON component_states")
        op.execute("DROP FUNCTION IF EXISTS civicloop_component_states_append_only()")
    op.drop_index("ix_cases_open_nearby", table_name="cases")
    for table in (
        "patrol_grids",
        "patrol_checks",
        "patrols",
        "duty_grids",
        "component_states",
        "components",
        "geo_versions",
        "geo_grids",
        "geo_areas",
    ):
        op.drop_table(table)
