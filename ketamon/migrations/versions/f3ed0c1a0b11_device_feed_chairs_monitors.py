"""device feed: sessions sit at a chair, monitors are bound to chairs, nurses validate device sets

`sessions.chair` routes a bedside monitor's data to the session at that chair;
`monitors` binds a monitor id to a chair for monitors that do not send one;
`device_validations` keeps each nurse's verdict on a device vital-sign set
(validated, or artefact with a reason), the set itself never changing.
New columns are NULL for old rows, so the record digests of existing rows stay.

Revision ID: f3ed0c1a0b11
Revises: c11a1c5e0a12
Create Date: 2026-11-30 06:50:00
"""
from alembic import op
import sqlalchemy as sa
import ketamon.core.models


revision = 'f3ed0c1a0b11'
down_revision = 'c11a1c5e0a12'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chair', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_sessions_chair'), ['chair'], unique=False)

    op.create_table('monitors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.String(length=64), nullable=False),
    sa.Column('chair', sa.String(length=32), nullable=False),
    sa.Column('registered_at', ketamon.core.models.UTCDateTime(), nullable=False),
    sa.Column('registered_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['registered_by_id'], ['users.id'], name=op.f('fk_monitors_registered_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors'))
    )
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitors_monitor_id'), ['monitor_id'], unique=False)

    op.create_table('device_validations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vital_signs_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', ketamon.core.models.UTCDateTime(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_device_validations_by_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_device_validations_session_id_sessions')),
    sa.ForeignKeyConstraint(['vital_signs_id'], ['vital_signs.id'],
                            name=op.f('fk_device_validations_vital_signs_id_vital_signs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_validations'))
    )
    with op.batch_alter_table('device_validations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_validations_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_validations_vital_signs_id'), ['vital_signs_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_validations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_validations_vital_signs_id'))
        batch_op.drop_index(batch_op.f('ix_device_validations_session_id'))
    op.drop_table('device_validations')
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitors_monitor_id'))
    op.drop_table('monitors')
    # not in batch mode: on SQLite a batch copies and drops `sessions`, which the
    # foreign keys of a clinic's existing rows forbid; SQLite 3.35+ drops a column itself
    op.drop_index(op.f('ix_sessions_chair'), table_name='sessions')
    op.drop_column('sessions', 'chair')
