"""Named places and roads of the city (地名): the gazetteer's own rows (``civicloop geo import-places``).

Revision ID: 0009_geo_places
Revises: 0001_core
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civicloop.store.tables import UTCDateTime

revision = "0009_geo_places"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "geo_places",
        sa.Column("city_id", sa.String(32), primary_key=True),
        sa.Column("place_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("aliases", sa.Text),
        sa.Column("geometry", sa.LargeBinary, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("numbers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.String(256)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("geo_places")
