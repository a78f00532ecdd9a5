"""widget seen at: when the worker first processed a delivery from the shop's pages

The settings page shows since when the storefront widget is live ("not seen yet" before that).
Shops installed earlier start without a time: the next storefront delivery sets it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shoper_retention.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('widget_seen_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('widget_seen_at')
