"""actions: proposed tool calls and their approvals

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

The tables of issue #21 (actions/service.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("actions"):
        op.create_table(
            "actions",
            sa.Column("id", sa.String(26), primary_key=True),
            sa.Column("tool", sa.String(64), nullable=False),
            sa.Column("status", sa.String(24), nullable=False),
            sa.Column("risk", sa.String(8), nullable=False),
            sa.Column("mode", sa.String(12), nullable=False),
            sa.Column("approvals_needed", sa.Integer(), nullable=False),
            sa.Column("requested_by", sa.String(64), nullable=False),
            sa.Column("subject", sa.String(64), nullable=True),
            sa.Column("center", sa.String(64), nullable=True),
            sa.Column("source", sa.String(12), nullable=False),
            sa.Column("conversation_id", sa.String(26), nullable=True),
            sa.Column("client_key", sa.String(128), nullable=True),
            sa.Column("call_hash", sa.String(64), nullable=False),
            sa.Column("arguments", sa.JSON(), nullable=False),
            sa.Column("sealed", sa.LargeBinary(), nullable=True),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("decision", sa.JSON(), nullable=False),
            sa.Column("rule", sa.String(200), nullable=False),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("updated_at", TS, nullable=False),
            sa.Column("expires_at", TS, nullable=True),
            sa.Column("executed_at", TS, nullable=True),
            sa.UniqueConstraint(
                "requested_by", "client_key", name="uq_actions_requester_client_key"
            ),
        )
        op.create_index("ix_actions_status", "actions", ["status"])
        op.create_index("ix_actions_requested_by", "actions", ["requested_by"])
        op.create_index("ix_actions_created_at", "actions", ["created_at"])
    if not inspector.has_table("action_approvals"):
        op.create_table(
            "action_approvals",
            sa.Column("id", sa.String(26), primary_key=True),
            sa.Column("action_id", sa.String(26), nullable=False),
            sa.Column("approver", sa.String(64), nullable=False),
            sa.Column("call_hash", sa.String(64), nullable=False),
            sa.Column("verdict", sa.String(8), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.UniqueConstraint("action_id", "approver", name="uq_action_approvals_approver"),
        )
        op.create_index("ix_action_approvals_action_id", "action_approvals", ["action_id"])


def downgrade() -> None:
    op.drop_table("action_approvals")
    op.drop_table("actions")
