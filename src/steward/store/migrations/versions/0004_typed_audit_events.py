"""typed audit events: kind, target, request id, payload, hash format

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The question row becomes one kind of audit event among others (ticket claimed, key created,
access denied, ...). Rows written before this revision keep hash format 1, so their chain still
verifies; new rows hash the new columns too (format 2).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=40), nullable=False, server_default="question")
        )
        batch_op.add_column(
            sa.Column("target", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("hash_format", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.create_index("ix_audit_kind", ["kind"], unique=False)
        batch_op.create_index("ix_audit_request_id", ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_request_id")
        batch_op.drop_index("ix_audit_kind")
        batch_op.drop_column("hash_format")
        batch_op.drop_column("payload")
        batch_op.drop_column("request_id")
        batch_op.drop_column("target")
        batch_op.drop_column("kind")
