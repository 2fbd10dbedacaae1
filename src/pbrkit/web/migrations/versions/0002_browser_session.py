"""Server-side browser sessions, so that signing out ends a session at once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('browser_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('ended_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], name=op.f('fk_browser_session_user_id_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_browser_session')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_browser_session_key_hash'))
    )


def downgrade() -> None:
    op.drop_table('browser_session')
