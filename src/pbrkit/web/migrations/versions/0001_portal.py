"""The portal's tables: accounts, tokens, programmes, datasets, jobs, queries, reports, audit.

The audit record is append-only: triggers refuse UPDATE and DELETE (and TRUNCATE
on PostgreSQL), spelt per backend as the ledger's are.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portal_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.CheckConstraint("(role = 'provider') = (provider_id IS NOT NULL)", name=op.f('ck_portal_user_provider_only_for_providers')),
    sa.CheckConstraint("role IN ('commissioner', 'provider', 'auditor')", name=op.f('ck_portal_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_user')),
    sa.UniqueConstraint('email', name=op.f('uq_portal_user_email'))
    )
    op.create_table('programme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('design', sa.String(length=100), nullable=False),
    sa.Column('baseline', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme')),
    sa.UniqueConstraint('name', name=op.f('uq_programme_name'))
    )
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('revoked_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], name=op.f('fk_api_token_user_id_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    op.create_table('approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.String(length=200), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('approved_by', sa.Integer(), nullable=False),
    sa.Column('approved_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['approved_by'], ['portal_user.id'], name=op.f('fk_approval_approved_by_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval'))
    )
    op.create_table('audit_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['portal_user.id'], name=op.f('fk_audit_record_actor_id_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_record'))
    )
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.create_index('ix_audit_record_at', ['at'], unique=False)

    op.create_table('dataset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_path', sa.Text(), nullable=False),
    sa.Column('rows', sa.Text(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_dataset_programme_id_programme')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['portal_user.id'], name=op.f('fk_dataset_uploaded_by_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset'))
    )
    op.create_table('query_thread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.String(length=200), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('line_key', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raised_by', sa.Integer(), nullable=False),
    sa.Column('raised_at', sa.String(length=32), nullable=False),
    sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name=op.f('ck_query_thread_status')),
    sa.ForeignKeyConstraint(['raised_by'], ['portal_user.id'], name=op.f('fk_query_thread_raised_by_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_thread'))
    )
    with op.batch_alter_table('query_thread', schema=None) as batch_op:
        batch_op.create_index('ix_query_thread_provider', ['provider_id'], unique=False)

    op.create_table('simulation_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('attached_by', sa.Integer(), nullable=False),
    sa.Column('attached_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['attached_by'], ['portal_user.id'], name=op.f('fk_simulation_report_attached_by_portal_user')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_simulation_report_programme_id_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulation_report'))
    )
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('parameters', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.String(length=32), nullable=False),
    sa.Column('finished_at', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_job_status')),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_job_dataset_id_dataset')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_job_programme_id_programme')),
    sa.ForeignKeyConstraint(['requested_by'], ['portal_user.id'], name=op.f('fk_job_requested_by_portal_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job'))
    )
    op.create_table('query_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['portal_user.id'], name=op.f('fk_query_message_author_id_portal_user')),
    sa.ForeignKeyConstraint(['query_id'], ['query_thread.id'], name=op.f('fk_query_message_query_id_query_thread')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_message'))
    )
    op.create_table('measure_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_measure_result_job_id_job')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measure_result'))
    )
    with op.batch_alter_table('measure_result', schema=None) as batch_op:
        batch_op.create_index('ix_measure_result_job_provider', ['job_id', 'provider_id'], unique=False)
    _append_only('audit_record')



def downgrade() -> None:
    _drop_append_only('audit_record')
    with op.batch_alter_table('measure_result', schema=None) as batch_op:
        batch_op.drop_index('ix_measure_result_job_provider')

    op.drop_table('measure_result')
    op.drop_table('query_message')
    op.drop_table('job')
    op.drop_table('simulation_report')
    with op.batch_alter_table('query_thread', schema=None) as batch_op:
        batch_op.drop_index('ix_query_thread_provider')

    op.drop_table('query_thread')
    op.drop_table('dataset')
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_record_at')

    op.drop_table('audit_record')
    op.drop_table('approval')
    op.drop_table('api_token')
    op.drop_table('programme')
    op.drop_table('portal_user')


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION portal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP; END $$")
        for operation, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                       f"FOR EACH {level} EXECUTE FUNCTION portal_append_only()")
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} is not allowed'); END")


def _drop_append_only(table: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for operation in ("UPDATE", "DELETE", "TRUNCATE") if postgres else ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation.lower()}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS portal_append_only()")
