"""audit checkpoints and redaction: a salted digest of each row's redactable text

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-15

Erasure must be able to remove a data subject's values from audit rows without breaking the
hash chain. Rows from this revision on (hash format 3) hash ``content_digest``, the SHA-256 of a
random per-row ``content_salt`` and the row's redactable text (question, answer, reason,
target, payload, citations), instead of that text itself. Erasure rewrites the text, deletes the
salt and keeps the digest: the chain still verifies, and without the salt the digest cannot be
used to confirm a guessed value. Rows written before keep formats 1 and 2 (audit/trail.py).
Checkpoints themselves live outside the database (audit/checkpoint.py): no table for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent: a store stamped back to an older revision (tests re-run 0005 onwards on a
    # current one) already has the columns.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit")}
    with op.batch_alter_table("audit", schema=None) as batch_op:
        if "content_salt" not in have:
            batch_op.add_column(sa.Column("content_salt", sa.String(length=32), nullable=True))
        if "content_digest" not in have:
            batch_op.add_column(sa.Column("content_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_column("content_digest")
        batch_op.drop_column("content_salt")
