"""The reports' roll-up of the event log (facts and cells) and its calendar dimensions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Self-contained on purpose, like 0001: it must keep producing this schema when
the models have moved on. The tables hold nothing that cannot be derived
again from ``call_events`` (``callflow report --rebuild``), so the downgrade
simply drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_call_cells',
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.SmallInteger(), nullable=False),
    sa.Column('local_weekday', sa.SmallInteger(), nullable=False),
    sa.Column('closed_hours_calls', sa.Integer(), nullable=False),
    sa.Column('offered', sa.Integer(), nullable=False),
    sa.Column('queued', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('abandoned_ivr', sa.Integer(), nullable=False),
    sa.Column('abandoned_queue', sa.Integer(), nullable=False),
    sa.Column('short_abandons', sa.Integer(), nullable=False),
    sa.Column('waits', sa.Integer(), nullable=False),
    sa.Column('wait_us', sa.BigInteger(), nullable=False),
    sa.Column('answered_within_service_level', sa.Integer(), nullable=False),
    sa.Column('answered_immediately', sa.Integer(), nullable=False),
    sa.Column('waited_10s', sa.Integer(), nullable=False),
    sa.Column('waited_30s', sa.Integer(), nullable=False),
    sa.Column('waited_60s', sa.Integer(), nullable=False),
    sa.Column('waited_120s', sa.Integer(), nullable=False),
    sa.Column('waited_300s', sa.Integer(), nullable=False),
    sa.Column('waited_600s', sa.Integer(), nullable=False),
    sa.Column('waited_1200s', sa.Integer(), nullable=False),
    sa.Column('waited_longer', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'local_date', 'local_hour', name=op.f('pk_report_call_cells'))
    )
    op.create_table('report_call_facts',
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('arrived_us', sa.BigInteger(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_weekday', sa.SmallInteger(), nullable=False),
    sa.Column('local_hour', sa.SmallInteger(), nullable=False),
    sa.Column('closed_hours', sa.Boolean(), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=True),
    sa.Column('queue_entered_us', sa.BigInteger(), nullable=True),
    sa.Column('answered_us', sa.BigInteger(), nullable=True),
    sa.Column('wait_us', sa.BigInteger(), nullable=True),
    sa.Column('abandoned_us', sa.BigInteger(), nullable=True),
    sa.Column('abandoned_stage', sa.String(length=8), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('referral', sa.String(length=32), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_report_call_facts'))
    )
    with op.batch_alter_table('report_call_facts') as batch_op:
        batch_op.create_index(batch_op.f('ix_report_call_facts_local_date_local_hour'), ['local_date', 'local_hour'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_call_facts_wait_us_local_date_topic'), ['wait_us', 'local_date', 'topic'], unique=False)

    op.create_table('report_callback_cells',
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.SmallInteger(), nullable=False),
    sa.Column('local_weekday', sa.SmallInteger(), nullable=False),
    sa.Column('callbacks_requested', sa.Integer(), nullable=False),
    sa.Column('callbacks_completed', sa.Integer(), nullable=False),
    sa.Column('callbacks_failed', sa.Integer(), nullable=False),
    sa.Column('callbacks_expired', sa.Integer(), nullable=False),
    sa.Column('callbacks_wrong_number', sa.Integer(), nullable=False),
    sa.Column('callbacks_cancelled', sa.Integer(), nullable=False),
    sa.Column('callbacks_open', sa.Integer(), nullable=False),
    sa.Column('dialled', sa.Integer(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('working_response_us', sa.BigInteger(), nullable=False),
    sa.Column('same_day', sa.Integer(), nullable=False),
    sa.Column('same_day_decided', sa.Integer(), nullable=False),
    sa.Column('promise_kept', sa.Integer(), nullable=False),
    sa.Column('promise_decided', sa.Integer(), nullable=False),
    sa.Column('kept_1h', sa.Integer(), nullable=False),
    sa.Column('late_1h', sa.Integer(), nullable=False),
    sa.Column('kept_2h', sa.Integer(), nullable=False),
    sa.Column('late_2h', sa.Integer(), nullable=False),
    sa.Column('kept_4h', sa.Integer(), nullable=False),
    sa.Column('late_4h', sa.Integer(), nullable=False),
    sa.Column('kept_8h', sa.Integer(), nullable=False),
    sa.Column('late_8h', sa.Integer(), nullable=False),
    sa.Column('kept_24h', sa.Integer(), nullable=False),
    sa.Column('late_24h', sa.Integer(), nullable=False),
    sa.Column('kept_48h', sa.Integer(), nullable=False),
    sa.Column('late_48h', sa.Integer(), nullable=False),
    sa.Column('kept_72h', sa.Integer(), nullable=False),
    sa.Column('late_72h', sa.Integer(), nullable=False),
    sa.Column('kept_longer', sa.Integer(), nullable=False),
    sa.Column('late_longer', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'local_date', 'local_hour', name=op.f('pk_report_callback_cells'))
    )
    op.create_table('report_callback_facts',
    sa.Column('callback_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=True),
    sa.Column('topic', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('requested_us', sa.BigInteger(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_weekday', sa.SmallInteger(), nullable=False),
    sa.Column('local_hour', sa.SmallInteger(), nullable=False),
    sa.Column('due_us', sa.BigInteger(), nullable=True),
    sa.Column('first_dialled_us', sa.BigInteger(), nullable=True),
    sa.Column('cancelled_us', sa.BigInteger(), nullable=True),
    sa.Column('final', sa.String(length=16), nullable=True),
    sa.Column('response_us', sa.BigInteger(), nullable=True),
    sa.Column('working_response_us', sa.BigInteger(), nullable=True),
    sa.Column('working_day_closes_us', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('referral', sa.String(length=32), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('callback_id', name=op.f('pk_report_callback_facts'))
    )
    with op.batch_alter_table('report_callback_facts') as batch_op:
        batch_op.create_index(batch_op.f('ix_report_callback_facts_first_dialled_us_local_date'), ['first_dialled_us', 'local_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_callback_facts_local_date_local_hour'), ['local_date', 'local_hour'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_callback_facts_response_us_local_date_topic'), ['response_us', 'local_date', 'topic'], unique=False)

    op.create_table('report_coded_cells',
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=32), nullable=False),
    sa.Column('contacts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'local_date', 'field', 'value', name=op.f('pk_report_coded_cells'))
    )
    op.create_table('report_open_spans',
    sa.Column('end_us', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('day_closes_us', sa.BigInteger(), nullable=False),
    sa.Column('worked_before_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('end_us', name=op.f('pk_report_open_spans'))
    )
    op.create_table('report_quarter_hours',
    sa.Column('bucket', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('bucket', name=op.f('pk_report_quarter_hours'))
    )
    op.create_table('report_state',
    sa.Column('part', sa.String(length=32), nullable=False),
    sa.Column('watermark', sa.BigInteger(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('first_day', sa.Date(), nullable=True),
    sa.Column('last_day', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('part', name=op.f('pk_report_state'))
    )


def downgrade() -> None:
    op.drop_table('report_state')
    op.drop_table('report_quarter_hours')
    op.drop_table('report_open_spans')
    op.drop_table('report_coded_cells')
    with op.batch_alter_table('report_callback_facts') as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_callback_facts_response_us_local_date_topic'))
        batch_op.drop_index(batch_op.f('ix_report_callback_facts_local_date_local_hour'))
        batch_op.drop_index(batch_op.f('ix_report_callback_facts_first_dialled_us_local_date'))

    op.drop_table('report_callback_facts')
    op.drop_table('report_callback_cells')
    with op.batch_alter_table('report_call_facts') as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_call_facts_wait_us_local_date_topic'))
        batch_op.drop_index(batch_op.f('ix_report_call_facts_local_date_local_hour'))

    op.drop_table('report_call_facts')
    op.drop_table('report_call_cells')
