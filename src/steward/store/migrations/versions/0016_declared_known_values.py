"""declared known values: which token digests a record declared personal

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A value typed into a question is masked as a "known value" when its digest matches a token's
(guard/pii.py ``Masker.known_spans``). Until now every NAME and ADDRESS token counted, whatever
made it: one false positive of a recognizer ("Meridian" read as a person once) then masked that
word in every later question. From this revision only tokens that a record declared personal
(``Masker.remember``) are known values. Existing tokens are marked declared: their origin is not
recorded, and masking more is the safe side (a store keeps its behaviour until re-ingested).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pii_tokens")}
    if "declared" in have:
        return
    with op.batch_alter_table("pii_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("declared", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE pii_tokens SET declared = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("pii_tokens", schema=None) as batch_op:
        batch_op.drop_column("declared")
