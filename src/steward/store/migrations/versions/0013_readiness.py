"""readiness: data readiness runs, their findings and trends (sponsor/readiness.py)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

The tables of issue #22.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("readiness_runs"):
        op.create_table(
            "readiness_runs",
            sa.Column("id", sa.String(26), primary_key=True),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("trigger", sa.String(16), nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("kb_version", sa.Integer(), nullable=False),
            sa.Column("items", sa.Integer(), nullable=False),
            sa.Column("usable", sa.Integer(), nullable=False),
            sa.Column("figures", sa.JSON(), nullable=False),
            sa.Column("duration_ms", sa.Float(), nullable=False),
        )
        op.create_index("ix_readiness_runs_created_at", "readiness_runs", ["created_at"])
    if not inspector.has_table("readiness_findings"):
        op.create_table(
            "readiness_findings",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(26), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("source_id", sa.String(64), nullable=False),
            sa.Column("doc_id", sa.String(300), nullable=False),
            sa.Column("other_doc_id", sa.String(300), nullable=True),
            sa.Column("detail", sa.JSON(), nullable=False),
        )
        op.create_index("ix_readiness_findings_run_id", "readiness_findings", ["run_id"])


def downgrade() -> None:
    op.drop_table("readiness_findings")
    op.drop_table("readiness_runs")
