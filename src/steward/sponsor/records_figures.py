"""Figures of federated records for sponsors and the console: counts and confidence per
entity type and per contributing source. No key and no value ever leaves this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from steward.store.models import RecordEntity, RecordField, RecordTask, RecordValue

if TYPE_CHECKING:
    from steward.sponsor.records import SourceFacts


@dataclass
class Summary:
    """Figures only (for sponsors): no key, no value."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"entities": self.entities, "sources": self.sources}


def figures(s: Session, facts: dict[str, SourceFacts], low: float) -> Summary:
    """Per entity type: records, fields, mean confidence, fields below ``low``, conflicting
    fields and tasks by status; per source: its label, authority, records and values."""
    out = Summary()
    for entity, records, fields, mean, below, conflicts in s.execute(
        select(
            RecordEntity.entity,
            func.count(func.distinct(RecordEntity.id)),
            func.count(),
            func.avg(RecordField.confidence),
            func.sum(case((RecordField.confidence < low, 1), else_=0)),
            func.sum(case((RecordField.conflict.is_(True), 1), else_=0)),
        )
        .join(RecordField, RecordField.record_id == RecordEntity.id)
        .group_by(RecordEntity.entity)
        .order_by(RecordEntity.entity)
    ).all():
        tasks = dict(
            s.execute(
                select(RecordTask.status, func.count())
                .join(RecordEntity, RecordEntity.id == RecordTask.record_id)
                .where(RecordEntity.entity == entity)
                .group_by(RecordTask.status)
            ).all()
        )
        out.entities.append(
            {
                "entity": entity,
                "records": int(records),
                "fields": int(fields),
                "mean_confidence": round(float(mean or 0.0), 3),
                "below_threshold": int(below or 0),
                "conflicting_fields": int(conflicts or 0),
                "tasks": {k: int(tasks.get(k, 0)) for k in ("open", "resolved", "closed")},
            }
        )
    for sid, values, records in s.execute(
        select(
            RecordValue.source_id,
            func.count(),
            func.count(func.distinct(RecordValue.record_id)),
        )
        .group_by(RecordValue.source_id)
        .order_by(RecordValue.source_id)
    ).all():
        f = facts.get(sid)
        out.sources.append(
            {
                "source": sid,
                "label": f.label if f else sid,
                "entity": f.entity.type if f else "",
                "authority": f.authority if f else 0.0,
                "records": int(records),
                "values": int(values),
            }
        )

    return out
