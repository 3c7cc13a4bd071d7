"""rate limits: rate_counters (fixed-window counters shared by every replica)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14

One row per bucket (``user:ID``, ``key:DIGEST``, ``center:ID``, ``auth-addr:IP``,
``auth-key:PREFIX``) and window start (epoch seconds). The request path upserts its buckets in
one statement; rows of past windows are deleted as new windows begin (identity/limits.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A store stamped back to an earlier revision may hold the table already.
    if sa.inspect(op.get_bind()).has_table("rate_counters"):
        return
    op.create_table(
        "rate_counters",
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start"),
    )
    op.create_index("ix_rate_counters_window_start", "rate_counters", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_counters_window_start", table_name="rate_counters")
    op.drop_table("rate_counters")
