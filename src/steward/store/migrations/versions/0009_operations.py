"""operations: feedback, review items, switches, alerts, leases, metric rollups, askers, web
sessions, and the trace id on audit rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

The tables of the operations side (issue #19). Rollups and askers are derived from the audit
trail (operations/rollup.py folds new rows into them); everything else is state of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.Column[object]], list[tuple[str, list[str], bool]]]]:
    """(table, columns, indexes as (name, columns, unique))."""
    return [
        (
            "feedback",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("audit_id", sa.String(26), nullable=False),
                sa.Column("user_id", sa.String(64), nullable=False),
                sa.Column("center", sa.String(64), nullable=True),
                sa.Column("thumb", sa.Integer(), nullable=True),
                sa.Column("rating", sa.Integer(), nullable=True),
                sa.Column("comment", sa.Text(), nullable=False),
                sa.Column("created_at", TS, nullable=False),
            ],
            [
                ("ix_feedback_audit_id", ["audit_id"], False),
                ("ix_feedback_user_id", ["user_id"], False),
                ("ix_feedback_created_at", ["created_at"], False),
            ],
        ),
        (
            "review_items",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("audit_id", sa.String(26), nullable=False, unique=True),
                sa.Column("conversation_id", sa.String(26), nullable=True),
                sa.Column("user_id", sa.String(64), nullable=False),
                sa.Column("center", sa.String(64), nullable=True),
                sa.Column("flags", sa.JSON(), nullable=False),
                sa.Column("status", sa.String(16), nullable=False),
                sa.Column("assignee", sa.String(64), nullable=True),
                sa.Column("verdict", sa.String(8), nullable=True),
                sa.Column("note", sa.Text(), nullable=False),
                sa.Column("created_at", TS, nullable=False),
                sa.Column("reviewed_at", TS, nullable=True),
            ],
            [
                ("ix_review_items_center", ["center"], False),
                ("ix_review_items_status", ["status"], False),
                ("ix_review_items_created_at", ["created_at"], False),
            ],
        ),
        (
            "switches",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("kind", sa.String(32), nullable=False),
                sa.Column("center", sa.String(64), nullable=True),
                sa.Column("intent", sa.String(100), nullable=True),
                sa.Column("pattern", sa.Text(), nullable=True),
                sa.Column("value", sa.JSON(), nullable=False),
                sa.Column("reason", sa.Text(), nullable=False),
                sa.Column("actor", sa.String(64), nullable=False),
                sa.Column("active", sa.Boolean(), nullable=False),
                sa.Column("created_at", TS, nullable=False),
                sa.Column("cleared_by", sa.String(64), nullable=True),
                sa.Column("cleared_at", TS, nullable=True),
            ],
            [("ix_switches_active", ["active"], False)],
        ),
        (
            "alert_states",
            [
                sa.Column("rule", sa.String(100), primary_key=True),
                sa.Column("state", sa.String(16), nullable=False),
                sa.Column("value", sa.Float(), nullable=True),
                sa.Column("since", TS, nullable=True),
                sa.Column("updated_at", TS, nullable=False),
            ],
            [],
        ),
        (
            "alert_events",
            [
                sa.Column("id", sa.String(26), primary_key=True),
                sa.Column("rule", sa.String(100), nullable=False),
                sa.Column("state", sa.String(16), nullable=False),
                sa.Column("severity", sa.String(16), nullable=False),
                sa.Column("value", sa.Float(), nullable=True),
                sa.Column("threshold", sa.Float(), nullable=False),
                sa.Column("message", sa.Text(), nullable=False),
                sa.Column("ts", TS, nullable=False),
                sa.Column("delivered", sa.Boolean(), nullable=False),
                sa.Column("attempts", sa.Integer(), nullable=False),
                sa.Column("last_error", sa.Text(), nullable=True),
            ],
            [("ix_alert_events_rule", ["rule"], False), ("ix_alert_events_ts", ["ts"], False)],
        ),
        (
            "leases",
            [
                sa.Column("name", sa.String(64), primary_key=True),
                sa.Column("holder", sa.String(64), nullable=False),
                sa.Column("expires_at", TS, nullable=False),
            ],
            [],
        ),
        (
            "metric_rollups",
            [
                sa.Column("hour", TS, primary_key=True),
                sa.Column("center", sa.String(64), primary_key=True),
                sa.Column("counts", sa.JSON(), nullable=False),
                sa.Column("latency_buckets", sa.JSON(), nullable=False),
                sa.Column("marks", sa.JSON(), nullable=False),
                sa.Column("seq", sa.Integer(), nullable=False),
            ],
            [("ix_metric_rollups_seq", ["seq"], False)],
        ),
        (
            "askers",
            [
                sa.Column("user_id", sa.String(64), primary_key=True),
                sa.Column("center", sa.String(64), primary_key=True),
                sa.Column("first_seen", TS, nullable=False),
                sa.Column("last_seen", TS, nullable=False),
                sa.Column("days_active", sa.Integer(), nullable=False),
                sa.Column("seq", sa.Integer(), nullable=False),
            ],
            [
                ("ix_askers_seq", ["seq"], False),
                ("ix_askers_first_seen", ["first_seen"], False),
                ("ix_askers_last_seen", ["last_seen"], False),
            ],
        ),
        (
            "web_sessions",
            [
                sa.Column("id", sa.String(64), primary_key=True),
                sa.Column("user_id", sa.String(64), nullable=False),
                sa.Column("csrf", sa.String(64), nullable=False),
                sa.Column("created_at", TS, nullable=False),
                sa.Column("expires_at", TS, nullable=False),
                sa.Column("revoked_at", TS, nullable=True),
                sa.Column("last_seen_at", TS, nullable=False),
                sa.Column("via", sa.String(16), nullable=False),
                sa.Column("key_id", sa.String(26), nullable=True),
                sa.Column("snapshot", sa.JSON(), nullable=True),
            ],
            [
                ("ix_web_sessions_user_id", ["user_id"], False),
                ("ix_web_sessions_expires_at", ["expires_at"], False),
                ("ix_web_sessions_key_id", ["key_id"], False),
            ],
        ),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # Idempotent: a store stamped back to an older revision already has them.
    for name, columns, indexes in _tables():
        if inspector.has_table(name):
            continue
        op.create_table(name, *columns)
        for index, cols, unique in indexes:
            op.create_index(index, name, cols, unique=unique)
    if "trace_id" not in {c["name"] for c in inspector.get_columns("audit")}:
        with op.batch_alter_table("audit", schema=None) as batch_op:
            batch_op.add_column(sa.Column("trace_id", sa.String(32), nullable=True))
        op.create_index("ix_audit_trace_id", "audit", ["trace_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_trace_id", table_name="audit")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_column("trace_id")
    for name, _columns, _indexes in reversed(_tables()):
        op.drop_table(name)
