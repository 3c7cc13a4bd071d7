"""rollout: which waves of which use case are open (sponsor/rollout.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

The tables of issue #22. The use cases, waves, gates and guard metrics are the rollout file;
only whether each wave is open (who opened or closed it, when, and why) is state.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("rollout_waves"):
        op.create_table(
            "rollout_waves",
            sa.Column("usecase", sa.String(64), primary_key=True),
            sa.Column("wave", sa.String(64), primary_key=True),
            sa.Column("is_open", sa.Boolean(), nullable=False),
            sa.Column("opened_at", TS, nullable=True),
            sa.Column("opened_by", sa.String(64), nullable=True),
            sa.Column("override", sa.Text(), nullable=True),
            sa.Column("closed_at", TS, nullable=True),
            sa.Column("closed_by", sa.String(64), nullable=True),
            sa.Column("close_reason", sa.Text(), nullable=True),
        )
        op.create_index("ix_rollout_waves_is_open", "rollout_waves", ["is_open"])


def downgrade() -> None:
    op.drop_table("rollout_waves")
