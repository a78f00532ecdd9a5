"""widget last seen at: when the latest delivery from the shop's pages was processed

The settings page shows when the first and the latest storefront event arrived, and warns when
nothing came for a week (a template changed without our line). Kept to within an hour, so a
busy shop costs one UPDATE an hour. Shops already seen start from their first time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shoper_retention.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'widget_last_seen_at',
                shoper_retention.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    op.execute("UPDATE shops SET widget_last_seen_at = widget_seen_at")


def downgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('widget_last_seen_at')
