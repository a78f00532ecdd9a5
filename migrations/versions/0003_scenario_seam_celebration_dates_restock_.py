"""scenario seam: celebration dates, restock subscriptions, stock re-checks, history imports

Contacts get the dates the celebrations read (birthday, first order, joining the loyalty club),
each as a date and a MMDD number with an index per shop; the unused `birth_date` (a full date
no source gives) goes. Restock subscriptions get their address, expiry and end, with one
waiting subscription per product, channel and address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 21:02:14.603317
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shoper_retention.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('history_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('since', shoper_retention.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_page', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('requested_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_history_imports_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history_imports')),
    sa.UniqueConstraint('shop_id', 'kind', name=op.f('uq_history_imports_shop_id_kind'))
    )
    with op.batch_alter_table('history_imports', schema=None) as batch_op:
        batch_op.create_index('ix_history_imports_status_due_at', ['status', 'due_at'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birthday_md', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('birthday_source', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('first_order_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('first_order_md', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('joined_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('joined_md', sa.SmallInteger(), nullable=True))
        batch_op.create_index('ix_contacts_shop_id_birthday_md', ['shop_id', 'birthday_md'], unique=False)
        batch_op.create_index('ix_contacts_shop_id_first_order_md', ['shop_id', 'first_order_md'], unique=False)
        batch_op.create_index('ix_contacts_shop_id_joined_md', ['shop_id', 'joined_md'], unique=False)
        batch_op.drop_column('birth_date')

    # The default only fills existing rows; new rows get theirs from the application.
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.alter_column('birthday_source', existing_type=sa.String(length=16), server_default=None)

    with op.batch_alter_table('product_stocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recheck_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('read_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_product_stocks_recheck_at', ['recheck_at'], unique=False)

    with op.batch_alter_table('restock_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('expires_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ended_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=120), nullable=False, server_default=''))
        batch_op.create_index('ix_restock_subscriptions_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index('uq_restock_subscriptions_waiting', ['shop_id', 'product_id', 'variant_id', 'channel', 'address'], unique=True, postgresql_where=sa.text("status = 'waiting'"), sqlite_where=sa.text("status = 'waiting'"))

    # No rows exist before this revision (nothing wrote them); set a value anyway before NOT NULL.
    op.execute("UPDATE restock_subscriptions SET expires_at = created_at WHERE expires_at IS NULL")
    with op.batch_alter_table('restock_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=shoper_retention.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.alter_column('address', existing_type=sa.String(length=255), server_default=None)
        batch_op.alter_column('reason', existing_type=sa.String(length=120), server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('restock_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('uq_restock_subscriptions_waiting', postgresql_where=sa.text("status = 'waiting'"), sqlite_where=sa.text("status = 'waiting'"))
        batch_op.drop_index('ix_restock_subscriptions_status_expires_at')
        batch_op.drop_column('reason')
        batch_op.drop_column('ended_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('address')

    with op.batch_alter_table('product_stocks', schema=None) as batch_op:
        batch_op.drop_index('ix_product_stocks_recheck_at')
        batch_op.drop_column('read_at')
        batch_op.drop_column('recheck_at')

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_date', sa.DATE(), nullable=True))
        batch_op.drop_index('ix_contacts_shop_id_joined_md')
        batch_op.drop_index('ix_contacts_shop_id_first_order_md')
        batch_op.drop_index('ix_contacts_shop_id_birthday_md')
        batch_op.drop_column('joined_md')
        batch_op.drop_column('joined_on')
        batch_op.drop_column('first_order_md')
        batch_op.drop_column('first_order_on')
        batch_op.drop_column('birthday_source')
        batch_op.drop_column('birthday_md')

    with op.batch_alter_table('history_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_history_imports_status_due_at')

    op.drop_table('history_imports')
