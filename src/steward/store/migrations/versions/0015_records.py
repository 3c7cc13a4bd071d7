"""records: federated entity records, their fields and conflict tasks (sponsor/records.py)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

The tables of issue #22, point 5: one row per entity record (its key kept as a keyed digest),
each source's masked value of each field, the merged field, and one conflict task per field.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
CASCADE = "CASCADE"


def _entities() -> None:
    op.create_table(
        "record_entities",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        sa.Column("key_label", sa.String(200), nullable=False),
        sa.Column("merged_at", TS, nullable=False),
        sa.UniqueConstraint("entity", "key_digest", name="uq_record_entities_key"),
    )
    op.create_index("ix_record_entities_entity", "record_entities", ["entity"])


def _values() -> None:
    op.create_table(
        "record_values",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "record_id",
            sa.Integer(),
            sa.ForeignKey("record_entities.id", ondelete=CASCADE),
            nullable=False,
        ),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column(
            "document_id",
            sa.Integer(),
            sa.ForeignKey("documents.id", ondelete=CASCADE),
            nullable=False,
        ),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("updated", TS, nullable=False),
        sa.Column("authority", sa.Float(), nullable=False),
        sa.UniqueConstraint("record_id", "field", "source_id", name="uq_record_values_source"),
    )
    op.create_index("ix_record_values_record_id", "record_values", ["record_id"])
    op.create_index("ix_record_values_source_id", "record_values", ["source_id"])
    op.create_index("ix_record_values_document_id", "record_values", ["document_id"])


def _fields() -> None:
    op.create_table(
        "record_fields",
        sa.Column(
            "record_id",
            sa.Integer(),
            sa.ForeignKey("record_entities.id", ondelete=CASCADE),
            primary_key=True,
        ),
        sa.Column("field", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_key", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("agreement", sa.Float(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=False),
        sa.Column("merged_at", TS, nullable=False),
    )


def _tasks() -> None:
    op.create_table(
        "record_tasks",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column(
            "record_id",
            sa.Integer(),
            sa.ForeignKey("record_entities.id", ondelete=CASCADE),
            nullable=False,
        ),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("chosen_source", sa.String(64), nullable=True),
        sa.Column("chosen_key", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.UniqueConstraint("record_id", "field", name="uq_record_tasks_field"),
    )
    op.create_index("ix_record_tasks_record_id", "record_tasks", ["record_id"])
    op.create_index("ix_record_tasks_status", "record_tasks", ["status"])


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, create in (
        ("record_entities", _entities),
        ("record_values", _values),
        ("record_fields", _fields),
        ("record_tasks", _tasks),
    ):
        if not inspector.has_table(table):
            create()


def downgrade() -> None:
    for table in ("record_tasks", "record_fields", "record_values", "record_entities"):
        op.drop_table(table)
