"""the in-force check of doses, side effects, notes and assessments walks an index

Revision ID: e4a1c0de5b01
Revises: d0b1e5a7e001
Create Date: 2026-11-30 11:00:00

The in-force rule (ketamon.core.in_force) asks "does another row supersede this
one?" with a NOT EXISTS on supersedes_id. Only vital_signs had an index for it;
for the other entries SQLite scanned the whole table once per candidate row: the
Records search's "began at" (the first dose in force of 500 sessions) took 17 s
on a 100,000-session clinic. Partial indexes of the corrections only, as
a7d3e51c0b92 made for vital signs (a full index of a nearly all-NULL column
looks useless to SQLite's planner once it has statistics).
"""
from alembic import op
import sqlalchemy as sa


revision = 'e4a1c0de5b01'
down_revision = 'd0b1e5a7e001'
branch_labels = None
depends_on = None

TABLES = ("dose_events", "side_effects", "notes", "assessments")
WHERE = dict(sqlite_where=sa.text('supersedes_id IS NOT NULL'), postgresql_where=sa.text('supersedes_id IS NOT NULL'))


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f'ix_{table}_superseding', table, ['supersedes_id'], unique=False, **WHERE)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'ix_{table}_superseding', table_name=table, **WHERE)
