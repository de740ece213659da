"""change log for live notices between processes on one SQLite file

Other workstations on PostgreSQL hear of a change through NOTIFY; processes
sharing one SQLite file read the notice from this small table (pruned as it is
written), after SQLite's change counter (PRAGMA data_version) moved.

Revision ID: c11a1c5e0a12
Revises: 4fc20cec785a
Create Date: 2026-11-30 06:45:00
"""
from alembic import op
import sqlalchemy as sa
import ketamon.core.models


revision = 'c11a1c5e0a12'
down_revision = '4fc20cec785a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', ketamon.core.models.UTCDateTime(), nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_log')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('change_log')
