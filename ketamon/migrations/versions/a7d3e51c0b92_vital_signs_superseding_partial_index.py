"""the in-force check of vital signs walks a partial index of corrections

Revision ID: a7d3e51c0b92
Revises: b8ace903d296
Create Date: 2026-11-30 05:05:00

The full index on vital_signs.supersedes_id is nearly all NULL; once SQLite has
planner statistics (ANALYZE) it judges the index useless and scans the table for
every "is this set superseded?" (the sessions list's next-due went from 14 ms to
3.6 s on a 100,000-session clinic). The partial index holds only the corrections.
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7d3e51c0b92'
down_revision = 'b8ace903d296'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vital_signs', schema=None) as batch_op:
        batch_op.drop_index('ix_vital_signs_supersedes_id')
        batch_op.create_index('ix_vital_signs_superseding', ['supersedes_id'], unique=False,
                              sqlite_where=sa.text('supersedes_id IS NOT NULL'),
                              postgresql_where=sa.text('supersedes_id IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('vital_signs', schema=None) as batch_op:
        batch_op.drop_index('ix_vital_signs_superseding', sqlite_where=sa.text('supersedes_id IS NOT NULL'),
                            postgresql_where=sa.text('supersedes_id IS NOT NULL'))
        batch_op.create_index('ix_vital_signs_supersedes_id', ['supersedes_id'], unique=False)
