"""storefront trust: consent assurance and cart scope, catalogue cache, inbox purge, health probe

A cart's total and currency came from the storefront's claims; messages now take prices from
the catalogue in the shop's currency, so those columns go. A cart keeps the first name its
snapshots gave (never the contact), and a message its subject's run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:26:19.730251
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shoper_retention.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('health_probes',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('probed_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_health_probes'))
    )
    op.create_table('catalogue_products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('variant_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('image_url', sa.Text(), nullable=False),
    sa.Column('product_url', sa.Text(), nullable=False),
    sa.Column('fetched_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_catalogue_products_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_products')),
    sa.UniqueConstraint('shop_id', 'product_id', 'variant_id', name=op.f('uq_catalogue_products_shop_id_product_id_variant_id'))
    )
    with op.batch_alter_table('catalogue_products', schema=None) as batch_op:
        batch_op.create_index('ix_catalogue_products_due_at', ['due_at'], unique=False)

    with op.batch_alter_table('consents', schema=None) as batch_op:
        # Rows recorded before assurance existed: unsubscribes came from the owner's own
        # link; everything else was a storefront claim or an order's address.
        batch_op.add_column(sa.Column('assurance', sa.String(length=16), nullable=False, server_default='claimed'))
        batch_op.add_column(sa.Column('cart_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_consents_cart_id', ['cart_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_consents_cart_id_carts'), 'carts', ['cart_id'], ['id'], ondelete='CASCADE')
    op.execute("UPDATE consents SET assurance = 'owner' WHERE source = 'unsubscribe link'")
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.alter_column('assurance', server_default=None)

    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_column('currency')
        batch_op.drop_column('total')
        batch_op.add_column(sa.Column('first_name', sa.String(length=40), nullable=False, server_default=''))
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.alter_column('first_name', server_default=None)

    # A message's run: the cart run of its plan key (`scenario:type:id:run:step:channel`).
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('run', server_default=None)
        # The frequency cap counts by address too (an address may have two contacts).
        batch_op.create_index('ix_messages_shop_id_channel_to_address', ['shop_id', 'channel', 'to_address'], unique=False)
    bind = op.get_bind()
    waiting = bind.execute(
        sa.text("SELECT id, plan_key FROM messages WHERE status IN ('scheduled', 'claimed')")
    ).all()
    for message_id, plan_key in waiting:
        parts = plan_key.split(':')
        if len(parts) == 6 and parts[3].isdigit() and parts[3] != '1':
            bind.execute(
                sa.text("UPDATE messages SET run = :run WHERE id = :id"),
                {"run": int(parts[3]), "id": message_id},
            )

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', shoper_retention.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_inbox_purged_at_processed_at', ['purged_at', 'processed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_shop_id_channel_to_address')
        batch_op.drop_column('run')

    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_column('first_name')

    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total', sa.Numeric(precision=12, scale=2), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False, server_default='PLN'))

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_purged_at_processed_at')
        batch_op.drop_column('purged_at')

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_consents_cart_id_carts'), type_='foreignkey')
        batch_op.drop_index('ix_consents_cart_id')
        batch_op.drop_column('cart_id')
        batch_op.drop_column('assurance')

    with op.batch_alter_table('catalogue_products', schema=None) as batch_op:
        batch_op.drop_index('ix_catalogue_products_due_at')

    op.drop_table('catalogue_products')
    op.drop_table('health_probes')
