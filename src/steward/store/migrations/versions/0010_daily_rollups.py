"""daily metric rollups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

One row per day (UTC) and center, the sum of that day's hourly rollups, kept by the fold in the
same transaction as the hourly rows. Filled here from the hourly rows a store already has.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table("metric_rollups_daily"):
        return
    daily = op.create_table(
        "metric_rollups_daily",
        sa.Column("day", TS, primary_key=True),
        sa.Column("center", sa.String(64), primary_key=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("latency_buckets", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    op.create_index("ix_metric_rollups_daily_seq", "metric_rollups_daily", ["seq"])
    sums: dict[tuple[datetime, str], tuple[dict[str, float], list[int], int]] = {}
    rows = bind.execute(
        sa.text("SELECT hour, center, counts, latency_buckets, seq FROM metric_rollups")
    )
    for hour, center, counts, buckets, seq in rows:
        if isinstance(hour, str):
            hour = datetime.fromisoformat(hour)
        hour = hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour.astimezone(UTC)
        key = (hour.replace(hour=0, minute=0, second=0, microsecond=0), center)
        total, hist, mark = sums.get(key, ({}, [], 0))
        for name, n in (_loaded(counts) or {}).items():
            total[name] = total.get(name, 0) + n
        for i, n in enumerate(_loaded(buckets) or []):
            if i >= len(hist):
                hist.append(0)
            hist[i] += n
        sums[key] = (total, hist, max(mark, int(seq)))
    if sums:
        op.bulk_insert(
            daily,
            [
                {"day": d, "center": c, "counts": t, "latency_buckets": h, "seq": m}
                for (d, c), (t, h, m) in sums.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("metric_rollups_daily")
