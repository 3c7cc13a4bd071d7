"""sealed display names: users.display_name becomes text, encrypted at rest

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

A directory user's display name is shown back as given, so it cannot be masked to a token; from
this revision it is stored sealed (store/sealed.py: AES-256-GCM under a key derived from the
masking key). A sealed value is longer than the 200 characters of the old column, so the column
becomes unbounded text (the 200-character limit stays in the directory's own checks). The
values are sealed by the runtime on its next start, not here: the key never reaches the
migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("users", "display_name", type_=sa.Text())
    # SQLite does not enforce a text column's length: nothing to change.


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("users", "display_name", type_=sa.String(200))
