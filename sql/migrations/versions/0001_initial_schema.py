"""Initial schema: queues, advisors, calls, the event log, callback requests and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Self-contained on purpose: it must keep producing this schema when the
models have moved on.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('advisors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('dial_string', sa.String(length=200), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('state', sa.Enum('offline', 'available', 'busy', 'wrap_up', 'break', name='advisor_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('state_since', TIMESTAMP, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_advisors')),
    sa.UniqueConstraint('name', name=op.f('uq_advisors_name'))
    )
    op.create_table('queues',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('skill', sa.String(length=64), nullable=False),
    sa.Column('promise', sa.String(length=32), nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_queues'))
    )
    op.create_table('advisor_languages',
    sa.Column('advisor_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['advisor_id'], ['advisors.id'], name=op.f('fk_advisor_languages_advisor_id_advisors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('advisor_id', 'language', name=op.f('pk_advisor_languages'))
    )
    op.create_table('advisor_skills',
    sa.Column('advisor_id', sa.Integer(), nullable=False),
    sa.Column('skill', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['advisor_id'], ['advisors.id'], name=op.f('fk_advisor_skills_advisor_id_advisors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('advisor_id', 'skill', name=op.f('pk_advisor_skills'))
    )
    op.create_table('calls',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('provider_ref', sa.String(length=128), nullable=True),
    sa.Column('caller_e164', sa.String(length=16), nullable=True),
    sa.Column('withheld', sa.Boolean(), nullable=False),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('ended_at', TIMESTAMP, nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('topic', sa.String(length=32), nullable=True),
    sa.Column('queue_entered_at', TIMESTAMP, nullable=True),
    sa.Column('answered_at', TIMESTAMP, nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('flow_state', JSON, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['topic'], ['queues.name'], name=op.f('fk_calls_topic_queues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('provider', 'provider_ref', name=op.f('uq_calls_provider_provider_ref'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)

    op.create_table('callback_requests',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=True),
    sa.Column('number_e164', sa.String(length=16), nullable=True),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('requested_at', TIMESTAMP, nullable=False),
    sa.Column('queue_entered_at', TIMESTAMP, nullable=False),
    sa.Column('not_before', TIMESTAMP, nullable=False),
    sa.Column('due_at', TIMESTAMP, nullable=False),
    sa.Column('expected_at', TIMESTAMP, nullable=False),
    sa.Column('deadline_class', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'in_progress', 'completed', 'failed', 'wrong_number', 'cancelled', 'expired', name='callback_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', TIMESTAMP, nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', TIMESTAMP, nullable=True),
    sa.Column('advisor_id', sa.Integer(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('closed_at', TIMESTAMP, nullable=True),
    sa.Column('closed_reason', sa.String(length=64), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['advisor_id'], ['advisors.id'], name=op.f('fk_callback_requests_advisor_id_advisors')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_callback_requests_call_id_calls')),
    sa.ForeignKeyConstraint(['topic'], ['queues.name'], name=op.f('fk_callback_requests_topic_queues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_requests'))
    )
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.create_index('ix_callback_requests_claim_order', ['deadline_class', 'queue_entered_at', 'id'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index('uq_callback_requests_advisor_assignment', ['advisor_id'], unique=True, sqlite_where=sa.text("status = 'in_progress'"), postgresql_where=sa.text("status = 'in_progress'"))
        batch_op.create_index('uq_callback_requests_open_number', ['number_e164'], unique=True, sqlite_where=sa.text("status IN ('pending', 'in_progress')"), postgresql_where=sa.text("status IN ('pending', 'in_progress')"))

    op.create_table('call_events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('at', TIMESTAMP, nullable=False),
    sa.Column('kind', sa.Enum('call.arrived', 'call.closed_hours', 'call.language_chosen', 'call.topic_chosen', 'call.input_invalid', 'call.input_timeout', 'call.queue_entered', 'call.queue_left', 'call.position_announced', 'call.callback_offered', 'call.callback_withheld', 'call.callback_declined', 'call.callback_accepted', 'call.number_rejected', 'call.closing_time', 'call.answered', 'call.abandoned', 'call.ended', 'callback.requested', 'callback.kept', 'callback.cancelled', 'callback.claimed', name='event_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=True),
    sa.Column('callback_id', BIG_ID, nullable=True),
    sa.Column('topic', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('data', JSON, nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_events_call_id_calls')),
    sa.ForeignKeyConstraint(['callback_id'], ['callback_requests.id'], name=op.f('fk_call_events_callback_id_callback_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_events'))
    )
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_events_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_events_callback_id'), ['callback_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_events_kind_at'), ['kind', 'at'], unique=False)

    op.create_table('callback_attempts',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('callback_id', BIG_ID, nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('advisor_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', TIMESTAMP, nullable=False),
    sa.Column('dialled_at', TIMESTAMP, nullable=True),
    sa.Column('ended_at', TIMESTAMP, nullable=True),
    sa.Column('result', sa.Enum('reached', 'no_answer', 'busy', 'failed', 'congestion', 'machine', 'wrong_number', 'interrupted', name='attempt_result', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('resolution', sa.Enum('no_service_need', 'simple_need', 'complex_case', name='resolution', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('referral', sa.Enum('none', 'own_services', 'third_sector', 'private', 'other_county', 'occupational_health', 'other', name='referral', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('reason', sa.Enum('health', 'social', 'appointment_booking', 'cancellation', 'contact_details', 'digital_support', 'billing', 'feedback', 'other', name='reason_category', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['advisor_id'], ['advisors.id'], name=op.f('fk_callback_attempts_advisor_id_advisors')),
    sa.ForeignKeyConstraint(['callback_id'], ['callback_requests.id'], name=op.f('fk_callback_attempts_callback_id_callback_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_attempts')),
    sa.UniqueConstraint('callback_id', 'attempt_no', name=op.f('uq_callback_attempts_callback_id_attempt_no'))
    )


def downgrade() -> None:
    op.drop_table('callback_attempts')
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_events_kind_at'))
        batch_op.drop_index(batch_op.f('ix_call_events_callback_id'))
        batch_op.drop_index(batch_op.f('ix_call_events_call_id'))
        batch_op.drop_index(batch_op.f('ix_call_events_at'))

    op.drop_table('call_events')
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_callback_requests_open_number', sqlite_where=sa.text("status IN ('pending', 'in_progress')"), postgresql_where=sa.text("status IN ('pending', 'in_progress')"))
        batch_op.drop_index('uq_callback_requests_advisor_assignment', sqlite_where=sa.text("status = 'in_progress'"), postgresql_where=sa.text("status = 'in_progress'"))
        batch_op.drop_index('ix_callback_requests_claim_order')

    op.drop_table('callback_requests')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))

    op.drop_table('calls')
    op.drop_table('advisor_skills')
    op.drop_table('advisor_languages')
    op.drop_table('queues')
    op.drop_table('advisors')
