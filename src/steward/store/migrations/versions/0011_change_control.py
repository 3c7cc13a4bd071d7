"""change control: assistant profile versions, activations, approvals, evaluation runs and
results, budget states

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

The tables of issue #20. Version 1 of the assistant profile (the configuration as it was at the
upgrade) is written by the registry the first time a runtime opens the store
(profiles/registry.py), since the configuration lives in the environment, not in the store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.Column[object]], list[tuple[str, list[str], bool]]]]:
    return [
        (
            "profile_versions",
            [
                sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
                sa.Column("label", sa.String(120), nullable=False),
                sa.Column("body", sa.JSON(), nullable=False),
                sa.Column("snapshot", sa.JSON(), nullable=False),
                sa.Column("digest", sa.String(64), nullable=False),
                sa.Column("source", sa.String(16), nullable=False),
                sa.Column("parent", sa.Integer(), nullable=True),
                sa.Column("author", sa.String(64), nullable=False),
                sa.Column("note", sa.Text(), nullable=False),
                sa.Column("status", sa.String(12), nullable=False),
                sa.Column("created_at", TS, nullable=False),
                sa.Column("published_at", TS, nullable=True),
            ],
            [],
        ),
        (
            "profile_activations",
            [
                sa.Column("scope", sa.String(64), primary_key=True),
                sa.Column("version", sa.Integer(), nullable=False),
                sa.Column("previous", sa.Integer(), nullable=True),
                sa.Column("canary_version", sa.Integer(), nullable=True),
                sa.Column("canary_percent", sa.Integer(), nullable=False),
                sa.Column("canary_since", TS, nullable=True),
                sa.Column("activated_by", sa.String(64), nullable=False),
                sa.Column("activated_at", TS, nullable=False),
                sa.Column("reason", sa.Text(), nullable=False),
            ],
            [],
        ),
        (
            "profile_approvals",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("version", sa.Integer(), nullable=False),
                sa.Column("scope", sa.String(64), nullable=False),
                sa.Column("approver", sa.String(64), nullable=False),
                sa.Column("gate_run_id", sa.String(26), nullable=True),
                sa.Column("note", sa.Text(), nullable=False),
                sa.Column("created_at", TS, nullable=False),
                sa.Column("used_at", TS, nullable=True),
            ],
            [("ix_profile_approvals_version", ["version"], False)],
        ),
        (
            "eval_runs",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("kind", sa.String(12), nullable=False),
                sa.Column("profile_version", sa.Integer(), nullable=True),
                sa.Column("set_name", sa.String(200), nullable=False),
                sa.Column("set_digest", sa.String(64), nullable=False),
                sa.Column("questions", sa.Integer(), nullable=False),
                sa.Column("figures", sa.JSON(), nullable=False),
                sa.Column("baseline_run_id", sa.String(26), nullable=True),
                sa.Column("verdict", sa.String(8), nullable=True),
                sa.Column("comparison", sa.JSON(), nullable=True),
                sa.Column("author", sa.String(64), nullable=False),
                sa.Column("created_at", TS, nullable=False),
            ],
            [
                ("ix_eval_runs_profile_version", ["profile_version"], False),
                ("ix_eval_runs_created_at", ["created_at"], False),
            ],
        ),
        (
            "eval_results",
            [
                sa.Column("run_id", sa.String(26), primary_key=True),
                sa.Column("qid", sa.String(120), primary_key=True),
                sa.Column("kind", sa.String(32), nullable=False),
                sa.Column("expected", sa.String(16), nullable=False),
                sa.Column("action", sa.String(16), nullable=False),
                sa.Column("correct", sa.Boolean(), nullable=False),
                sa.Column("leak", sa.Boolean(), nullable=False),
                sa.Column("audit_id", sa.String(26), nullable=True),
                sa.Column("detail", sa.JSON(), nullable=False),
            ],
            [],
        ),
        (
            "budget_states",
            [
                sa.Column("budget", sa.String(120), primary_key=True),
                sa.Column("month", sa.String(7), primary_key=True),
                sa.Column("level", sa.Integer(), nullable=False),
                sa.Column("spent_usd", sa.Float(), nullable=False),
                sa.Column("updated_at", TS, nullable=False),
            ],
            [],
        ),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, columns, indexes in _tables():
        if inspector.has_table(name):
            continue
        op.create_table(name, *columns)
        for index, cols, unique in indexes:
            op.create_index(index, name, cols, unique=unique)


def downgrade() -> None:
    for name, _columns, _indexes in reversed(_tables()):
        op.drop_table(name)
