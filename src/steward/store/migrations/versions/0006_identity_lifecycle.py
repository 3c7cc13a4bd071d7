"""identity lifecycle: api_keys.last_used_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

When a key last authenticated, for `steward keys list`: written at most once a minute per key
(identity/auth.py), so the request path does not write on every request. Deactivation needs no
column: ``users.active`` exists since 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A store stamped back to an earlier revision (a restore, the index-rebuild test) may
    # have the column already: add it only where it is missing.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("api_keys")}
    if "last_used_at" in have:
        return
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
