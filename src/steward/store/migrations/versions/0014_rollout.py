"""rollout: rollout waves, gates and their evaluations (sponsor/rollout.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

The tables of issue #22.
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
