"""entry keys: an entry sent twice (its commit's answer lost) is stored once

Revision ID: d0b1e5a7e001
Revises: f3ed0c1a0b11
Create Date: 2026-11-30 08:00:00
"""
from alembic import op
import sqlalchemy as sa
import ketamon.core.models


revision = 'd0b1e5a7e001'
down_revision = 'f3ed0c1a0b11'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entry_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=36), nullable=False),
    sa.Column('operation', sa.String(length=48), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', ketamon.core.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_entry_keys_session_id_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_keys')),
    sa.UniqueConstraint('key', name=op.f('uq_entry_keys_key'))
    )


def downgrade() -> None:
    op.drop_table('entry_keys')
