"""Federated records: entity records (a customer, a product) merged from several sources, each
field with its value, its confidence (freshness, authority, agreement: records_merge.py) and
the sources that say it; conflicts between sources become tasks for the sources' owners.

A record source declares ``entity:`` in the sources config (knowledge/sources.py EntitySpec).
After each sync of such a source (the ``sync-finished`` event) its rows are read again and each
federated field's value is kept masked: a personal field (``personal_fields``) as its token, any
other value as the masker leaves it, and beside it a keyed digest of the normalised value that
agreement is computed on. No raw value is stored. Then every record the source touches is
merged again, and its conflict tasks opened, re-opened or closed, each an audit event.

Who sees what: a value is shown only to a reader who may read the item it came from (its
access list), and a source they may not read is left out of the merge they see, name and all.
Conflict tasks go to the sources' owners and to holders of ``manage-records``; sponsors see
counts and confidence figures only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.core.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    StewardError,
)
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.knowledge.connectors import Item
from steward.knowledge.sources import EntitySpec, SourceSpec, make_connector
from steward.retrieval.search import allowed_acl_ids
from steward.sponsor.records_figures import Summary, figures
from steward.sponsor.records_merge import (
    OWNER,
    Evidence,
    FieldView,
    Tuning,
    aware,
    merge_field,
    parse_updated,
)
from steward.store.db import Event
from steward.store.models import (
    Document,
    Erasure,
    RecordEntity,
    RecordField,
    RecordTask,
    RecordValue,
    Source,
)

if TYPE_CHECKING:
    from steward.runtime import Runtime

log = logging.getLogger(__name__)
KEY_KIND = "KEY"  # the digest kind of a record key no source declares personal
VALUE_KIND = "VALUE"  # the digest kind of a value that is not a personal field
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@dataclass(frozen=True)
class SourceFacts:
    """What the merge needs of one registered source with an entity block."""

    id: str
    entity: EntitySpec
    authority: float
    personal: dict[str, str]  # field -> token kind

    @property
    def label(self) -> str:
        return self.entity.label or self.id


@dataclass(frozen=True)
class _Row:
    """One value of one field of one record, ready to store (masked)."""

    entity: str
    key_digest: str
    key_label: str
    field: str
    value: str
    value_key: str
    kind: str | None
    updated: datetime
    document_id: int


@dataclass
class MergeReport:
    source_id: str
    records: int = 0
    values: int = 0
    skipped: int = 0  # rows without a key, not stored, or of an erased subject
    opened: int = 0
    reopened: int = 0
    closed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RecordView:
    """A record as one reader may see it."""

    entity: str
    key: str  # masked
    fields: list[FieldView]
    sources: list[str]  # labels of the sources the reader may read that contribute

    def as_dict(self, tuning: Tuning) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "key": self.key,
            "sources": self.sources,
            "fields": [f.as_dict(tuning) for f in self.fields],
        }


@dataclass(frozen=True)
class TaskView:
    """A conflict task as its owners and records managers see it: a source's value only where
    the viewer may read that source's item."""

    id: str
    entity: str
    key: str  # masked
    field: str
    status: str
    owners: list[str]
    sources: list[dict[str, Any]]
    opened_at: datetime
    updated_at: datetime
    reopened: int
    resolved_by: str | None
    chosen_source: str | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class RecordService:
    """Merges, shows and resolves federated records for one runtime."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        sp = rt.settings.sponsor
        self.tuning = Tuning(
            sp.records_half_life_days, sp.records_min_confidence, sp.records_conflict_share
        )

    # ------------------------------------------------------------------ sources

    def sources(self, session: Session) -> dict[str, SourceFacts]:
        """The registered sources that declare an entity."""
        out = {}
        for sid, config in session.execute(select(Source.id, Source.config)):
            if not (config or {}).get("entity"):
                continue
            spec = SourceSpec.model_validate(config)
            assert spec.entity is not None
            out[sid] = SourceFacts(
                sid,
                spec.entity,
                spec.entity.authority if spec.entity.authority is not None else spec.authority,
                dict(spec.options().get("personal_fields") or {}),
            )
        return out

    def entity_types(self) -> list[str]:
        with self.rt.store.read() as s:
            return sorted({f.entity.type for f in self.sources(s).values()})

    # ------------------------------------------------------------------ merge

    def on_event(self, event: Event) -> None:
        """The store's listener: merge again after each sync of a source (not a failed one)."""
        if event.name != "sync-finished" or event.data.get("status") == "failed":
            return
        source_id = str(event.data.get("source_id", ""))
        try:
            self.merge_source(source_id)
        except StewardError as exc:
            # The sync itself succeeded; the records keep their last merge.
            log.warning("records merge failed", extra={"source": source_id, "detail": exc.message})
        except Exception as exc:  # a listener must not turn a committed sync into an error
            log.error("records merge failed", exc_info=exc, extra={"source": source_id})

    def merge_all(self, who: Principal) -> list[MergeReport]:
        """Merge every entity source again (``steward records merge``)."""
        self.rt.authz.authorize(who, Permission.MANAGE_RECORDS, "records")
        with self.rt.store.read() as s:
            ids = sorted(self.sources(s))
        return [self.merge_source(sid) for sid in ids]

    def merge_source(self, source_id: str) -> MergeReport:
        """Read the source's rows again, store its masked values, merge what it touches."""
        report = MergeReport(source_id)
        with self.rt.store.read() as s:
            config = s.scalar(select(Source.config).where(Source.id == source_id))
            held = s.scalar(
                select(func.count())
                .select_from(RecordValue)
                .where(RecordValue.source_id == source_id)
            )
        if config is None or (not config.get("entity") and not held):
            return report  # nothing to federate, nothing federated before: one cheap look
        spec = SourceSpec.model_validate(config)
        rows = self._rows(spec, report) if spec.entity is not None else []
        with self.rt.store.write() as (s, _):
            touched = self._store_rows(s, source_id, rows)
            # Records whose every value went with its item (an erasure, a removed source).
            touched.update(
                s.scalars(
                    select(RecordEntity.id).where(
                        ~select(RecordValue.id)
                        .where(RecordValue.record_id == RecordEntity.id)
                        .exists()
                    )
                )
            )
            report.records, report.values = len({(r.entity, r.key_digest) for r in rows}), len(rows)
            self._merge_records(s, touched, report)
        return report

    def _rows(self, spec: SourceSpec, report: MergeReport) -> list[_Row]:
        """The source's rows as masked values (tokens are made here, outside any write)."""
        entity = spec.entity
        assert entity is not None
        personal = dict(spec.options().get("personal_fields") or {})
        allow = [re.compile(a) for a in spec.pii_allow]
        with self.rt.store.read() as s:
            erased = set(s.scalars(select(Erasure.digest)))
            docs = {
                d: (pk, at)
                for pk, d, at in s.execute(
                    select(Document.id, Document.doc_id, Document.ingested_at).where(
                        Document.source_id == spec.id
                    )
                )
            }
        masked: dict[str, str] = {}
        rows: list[_Row] = []
        seen: set[str] = set()
        for entry in make_connector(spec, self.rt.settings.plugins).items():
            if not isinstance(entry, Item):
                continue
            seen.update(entry.values)
            stored = docs.get(entry.doc_id)
            key = entry.values.get(entity.key, "")
            if stored is None or not key or erased.intersection(self._subjects(entry)):
                report.skipped += 1
                continue
            rows += self._item_rows(entity, entry, key, personal, allow, stored, masked)
        absent = [f for f in (entity.key, *entity.fields) if seen and f not in seen]
        if absent:
            # A misspelt key or field would federate nothing, silently.
            raise InputError(
                f"Source {spec.id}: its entity names {', '.join(f'`{f}`' for f in absent)}, "
                f"which no row has; the fields are: {', '.join(sorted(seen))}."
            )
        return rows

    def _subjects(self, item: Item) -> set[str]:
        return {self.rt.masker.tokens.digest(k, v) for k, v in item.personal if v.strip()}

    def _item_rows(
        self,
        entity: EntitySpec,
        item: Item,
        key: str,
        personal: dict[str, str],
        allow: Sequence[re.Pattern[str]],
        stored: tuple[int, datetime],
        masked: dict[str, str],
    ) -> list[_Row]:
        tokens = self.rt.masker.tokens

        def mask(text: str) -> str:
            if text not in masked:  # segments and codes repeat: mask each once per merge
                masked[text] = self.rt.masker.mask(text, item.personal, allow).text
            return masked[text]

        key_kind = personal.get(entity.key)
        key_label = tokens.token(key_kind, key) if key_kind else mask(key)
        key_digest = tokens.digest(key_kind or KEY_KIND, key)
        updated = parse_updated(item.updated) or aware(stored[1])
        out = []
        for name in entity.fields:
            raw = item.values.get(name, "")
            if not raw:
                continue
            kind = personal.get(name)
            value = tokens.token(kind, raw) if kind else mask(raw)
            value_key = tokens.digest(kind, raw) if kind else tokens.digest(VALUE_KIND, value)
            out.append(
                _Row(
                    entity.type, key_digest, key_label[:200], name, value, value_key, kind,
                    updated, stored[0],
                )
            )  # fmt: skip
        return out

    def _store_rows(self, s: Session, source_id: str, rows: list[_Row]) -> set[int]:
        """Replace the source's values; the records they belonged to or belong to now."""
        touched = set(
            s.scalars(select(RecordValue.record_id).where(RecordValue.source_id == source_id))
        )
        s.execute(delete(RecordValue).where(RecordValue.source_id == source_id))
        facts = self.sources(s).get(source_id)
        authority = facts.authority if facts is not None else 0.0
        now = datetime.now(UTC)
        ids: dict[tuple[str, str], int] = {}
        for r in rows:
            rid = ids.get((r.entity, r.key_digest))
            if rid is None:
                rid = ids[(r.entity, r.key_digest)] = self._record_id(s, r, now)
            touched.add(rid)
            s.add(
                RecordValue(
                    record_id=rid,
                    field=r.field,
                    source_id=source_id,
                    document_id=r.document_id,
                    value=r.value,
                    value_key=r.value_key,
                    kind=r.kind,
                    updated=r.updated,
                    authority=authority,
                )
            )
        s.flush()
        return touched

    @staticmethod
    def _record_id(s: Session, r: _Row, now: datetime) -> int:
        found = s.scalar(
            select(RecordEntity).where(
                RecordEntity.entity == r.entity, RecordEntity.key_digest == r.key_digest
            )
        )
        if found is None:
            found = RecordEntity(
                entity=r.entity, key_digest=r.key_digest, key_label=r.key_label, merged_at=now
            )
            s.add(found)
            s.flush()
        return found.id

    def _merge_records(self, s: Session, record_ids: Iterable[int], report: MergeReport) -> None:
        facts = self.sources(s)
        now = datetime.now(UTC)
        changed = False
        for rid in sorted(record_ids):
            record = s.get(RecordEntity, rid)
            if record is None:
                continue
            values = list(s.scalars(select(RecordValue).where(RecordValue.record_id == rid)))
            if not values:
                s.delete(record)  # its fields and tasks go with it
                changed = True
                continue
            record.merged_at = now
            changed |= self._merge_fields(s, record, values, facts, now, report)
        if changed:
            # Answers that showed a record's field must not be served from the cache.
            self.rt.store.knowledge_changed(s)

    def _merge_fields(
        self,
        s: Session,
        record: RecordEntity,
        values: list[RecordValue],
        facts: dict[str, SourceFacts],
        now: datetime,
        report: MergeReport,
    ) -> bool:
        by_field: dict[str, list[RecordValue]] = {}
        for v in values:
            by_field.setdefault(v.field, []).append(v)
        held = {
            f.field: f
            for f in s.scalars(select(RecordField).where(RecordField.record_id == record.id))
        }
        tasks = {
            t.field: t
            for t in s.scalars(select(RecordTask).where(RecordTask.record_id == record.id))
        }
        changed = False
        for name in set(held) - set(by_field):
            s.delete(held[name])
            changed = True
            if name in tasks:
                self._close(
                    s, record, tasks[name], now, "no source holds the field any more", report
                )
        for name, rows in sorted(by_field.items()):
            evidence = [self._evidence(v, facts) for v in rows]
            task = tasks.get(name)
            view = merge_field(name, evidence, self.tuning, now, _resolution(task))
            changed |= _store_field(s, record.id, held.get(name), view, now)
            self._track_task(s, record, task, view, rows, facts, now, report)
        return changed

    @staticmethod
    def _evidence(v: RecordValue, facts: dict[str, SourceFacts]) -> Evidence:
        label = facts[v.source_id].label if v.source_id in facts else v.source_id
        return Evidence(v.source_id, label, v.value, v.value_key, aware(v.updated), v.authority)

    def _track_task(
        self,
        s: Session,
        record: RecordEntity,
        task: RecordTask | None,
        view: FieldView,
        rows: list[RecordValue],
        facts: dict[str, SourceFacts],
        now: datetime,
        report: MergeReport,
    ) -> None:
        """Open a task on a new conflict, re-open one on a new disagreement, close one when the
        sources came to agree."""
        signature = _signature(rows)
        sources = sorted({r.source_id for r in rows})
        owners = sorted({o for sid in sources if sid in facts for o in facts[sid].entity.owners})
        if not view.conflict:
            if task is not None and task.status != "closed":
                self._close(s, record, task, now, "the sources agree", report)
            return
        if task is None:
            task = RecordTask(
                id=str(ULID()), record_id=record.id, field=view.field, status="open",
                owners=owners, sources=sources, signature=signature, opened_at=now,
                updated_at=now, reopened=0, note="",
            )  # fmt: skip
            s.add(task)
            s.flush()
            report.opened += 1
            self._audit(
                s, audit.Kind.RECORD_CONFLICT_OPENED, "system", record, task, "sources disagree"
            )
            return
        if task.status == "open" or (task.status == "resolved" and task.signature == signature):
            task.owners, task.sources, task.signature = owners, sources, signature
            return
        # Closed (they had agreed) or resolved on other values: a new disagreement.
        task.status, task.reopened, task.updated_at = "open", task.reopened + 1, now
        task.owners, task.sources, task.signature = owners, sources, signature
        task.chosen_source = task.chosen_key = task.resolved_by = None
        report.reopened += 1
        self._audit(
            s, audit.Kind.RECORD_CONFLICT_REOPENED, "system", record, task, "sources disagree anew"
        )

    def _close(
        self, s: Session, record: RecordEntity, task: RecordTask, now: datetime, why: str,
        report: MergeReport,
    ) -> None:  # fmt: skip
        task.status, task.updated_at = "closed", now
        report.closed += 1
        self._audit(s, audit.Kind.RECORD_CONFLICT_CLOSED, "system", record, task, why)

    def _audit(
        self,
        s: Session,
        kind: audit.Kind,
        actor: str,
        record: RecordEntity,
        task: RecordTask,
        reason: str,
        who: Principal | None = None,
    ) -> None:
        audit.record(
            self.rt.store,
            audit.AuditEvent(
                kind,
                actor=actor,
                target=f"record-task:{task.id}",
                payload={
                    "entity": record.entity,
                    "field": task.field,
                    "sources": list(task.sources),
                    "owners": list(task.owners),
                    "chosen_source": task.chosen_source,
                    "reopened": task.reopened,
                },
                reason=reason,
                groups=tuple(sorted(who.groups)) if who else (),
                center=who.center if who else None,
            ),
            session=s,
        )

    # ------------------------------------------------------------------ reading

    def show(self, who: Principal, entity: str, key: str) -> RecordView:
        """The record as ``who`` may see it: only the sources whose item they may read."""
        self.rt.authz.authorize(who, Permission.SEARCH, f"records:{entity}")
        with self.rt.store.read() as s:
            facts = self.sources(s)
            kinds = self._key_kinds(facts, entity)
            digests = [self.rt.masker.tokens.digest(k, key) for k in kinds]
            record = s.scalar(
                select(RecordEntity).where(
                    RecordEntity.entity == entity, RecordEntity.key_digest.in_(digests)
                )
            )
            views = self._views(
                s, [record.id] if record else [], allowed_acl_ids(s, who.groups), facts
            )
        fields = views.get(record.id, []) if record else []
        if record is None or not fields:
            # The same answer whether the record is absent or hidden: no existence leak.
            raise NotFoundError(f"No {entity} record with that key that you may read.")
        labels = sorted({lb for f in fields for c in f.candidates for lb in c.labels} - {OWNER})
        return RecordView(entity, record.key_label, fields, labels)

    def _key_kinds(self, facts: dict[str, SourceFacts], entity: str) -> list[str]:
        kinds = {
            f.personal.get(f.entity.key) or KEY_KIND
            for f in facts.values()
            if f.entity.type == entity
        }
        if not kinds:
            known = ", ".join(sorted({f.entity.type for f in facts.values()})) or "none"
            raise NotFoundError(
                f"No entity type {entity[:64]!r}: the declared types are {known} (an `entity:` "
                "block on a source, docs/records.md)."
            )
        return sorted(kinds)

    def _views(
        self,
        s: Session,
        record_ids: Sequence[int],
        acl_ids: frozenset[int],
        facts: dict[str, SourceFacts],
    ) -> dict[int, list[FieldView]]:
        """Each record's fields merged from the values whose items are in ``acl_ids``."""
        if not record_ids or not acl_ids:
            return {}
        rows = s.execute(
            select(RecordValue)
            .join(Document, Document.id == RecordValue.document_id)
            .where(
                RecordValue.record_id.in_(list(record_ids)),
                Document.acl_set_id.in_(list(acl_ids)),
                Document.is_current.is_(True),
            )
        ).scalars()
        grouped: dict[int, dict[str, list[RecordValue]]] = {}
        for v in rows:
            grouped.setdefault(v.record_id, {}).setdefault(v.field, []).append(v)
        tasks = {
            (t.record_id, t.field): t
            for t in s.scalars(select(RecordTask).where(RecordTask.record_id.in_(list(record_ids))))
        }
        now = datetime.now(UTC)
        out: dict[int, list[FieldView]] = {}
        for rid, by_field in grouped.items():
            out[rid] = [
                merge_field(
                    name,
                    [self._evidence(v, facts) for v in rows_],
                    self.tuning,
                    now,
                    _resolution(tasks.get((rid, name))),
                )
                for name, rows_ in sorted(by_field.items())
            ]
        return out

    def fields_for_documents(
        self, doc_ids: Iterable[str], acl_ids: frozenset[int]
    ) -> dict[str, dict[str, FieldView]]:
        """doc_id -> {field: the field as the reader of ``acl_ids`` sees it}, for the documents
        that contribute to a record (the assistant's use, records_answer.py). One query when
        none does."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted or not acl_ids:
            return {}
        with self.rt.store.read() as s:
            pairs = s.execute(
                select(Document.doc_id, RecordValue.record_id, RecordValue.field)
                .join(Document, Document.id == RecordValue.document_id)
                .where(Document.doc_id.in_(wanted))
            ).all()
            if not pairs:
                return {}
            views = self._views(s, sorted({p[1] for p in pairs}), acl_ids, self.sources(s))
        out: dict[str, dict[str, FieldView]] = {}
        for doc_id, rid, name in pairs:
            found = next((f for f in views.get(rid, []) if f.field == name), None)
            if found is not None:
                out.setdefault(doc_id, {})[name] = found
        return out

    # ------------------------------------------------------------------ tasks

    def conflicts(self, who: Principal, status: str | None = "open") -> list[TaskView]:
        """Conflict tasks: every one for ``manage-records``, else those naming ``who`` as an
        owner (a reader who owns none is refused, audited)."""
        if status not in (None, "open", "resolved", "closed"):
            raise InputError(f"Unknown status {status!r}: use open, resolved or closed.")
        manager = self.rt.authz.permits(who, Permission.MANAGE_RECORDS)
        if not manager and not self.owns_any(who):
            self.rt.authz.authorize(who, Permission.MANAGE_RECORDS, "records:conflicts")
        q = select(RecordTask, RecordEntity).join(
            RecordEntity, RecordEntity.id == RecordTask.record_id
        )
        if status:
            q = q.where(RecordTask.status == status)
        with self.rt.store.read() as s:
            found = s.execute(q.order_by(RecordTask.opened_at)).all()
            views = [self._task_view(s, who, t, r) for t, r in found if manager or _owns(who, t)]
        # A task whose values all went with their items (an erasure) waits for the next merge
        # to be removed; it is not listed meanwhile.
        return [v for v in views if v.sources]

    def owns_any(self, who: Principal) -> bool:
        """Is ``who`` named as an owner on any conflict task?"""
        with self.rt.store.read() as s:
            return any(_owns(who, t) for t in s.scalars(select(RecordTask)))

    def _task_view(
        self, s: Session, who: Principal, task: RecordTask, record: RecordEntity
    ) -> TaskView:
        facts = self.sources(s)
        acl_ids = allowed_acl_ids(s, who.groups)
        rows = s.execute(
            select(RecordValue, Document.acl_set_id)
            .join(Document, Document.id == RecordValue.document_id)
            .where(RecordValue.record_id == record.id, RecordValue.field == task.field)
        ).all()
        sources = [
            {
                "source": v.source_id,
                "label": facts[v.source_id].label if v.source_id in facts else v.source_id,
                # A value only for a viewer who may read the item it came from.
                "value": v.value if acl in acl_ids else None,
                "updated": aware(v.updated).date().isoformat(),
                "authority": v.authority,
            }
            for v, acl in sorted(rows, key=lambda r: r[0].source_id)
        ]
        return TaskView(
            task.id, record.entity, record.key_label, task.field, task.status, list(task.owners),
            sources, aware(task.opened_at), aware(task.updated_at), task.reopened,
            task.resolved_by, task.chosen_source, task.note,
        )  # fmt: skip

    def _task_for(self, who: Principal, task_id: str) -> RecordTask:
        """The task ``who`` may resolve: 404 for an unknown id, 403 (audited) for a reader who
        is neither one of its owners nor a records manager."""
        wanted = task_id.strip().upper()
        with self.rt.store.read() as s:
            task = s.get(RecordTask, wanted) if _ULID.match(wanted) else None
        if task is None:
            shown = f" {wanted}" if _ULID.match(wanted) else " with that id"
            raise NotFoundError(f"No conflict task{shown}: see `steward records conflicts`.")
        if not (self.rt.authz.permits(who, Permission.MANAGE_RECORDS) or _owns(who, task)):
            self.rt.authz.deny(
                who,
                "records: only the task's owners or a records manager resolve it",
                f"record-task:{wanted}",
                ForbiddenError("Only the task's owners or a records manager may resolve it."),
            )
        return task

    def resolve(
        self, who: Principal, task_id: str, *, source: str | None = None, note: str = ""
    ) -> TaskView:
        """Resolve a conflict task: the value of ``source`` is right (it now counts as the data
        owner's evidence too) and/or a note. Its owners or ``manage-records`` only."""
        found = self._task_for(who, task_id)
        if not source and not note.strip():
            raise InputError("Say how it is resolved: the source whose value is right, or a note.")
        masked_note = self.rt.masker.mask(note.strip()[:2000]).text if note.strip() else ""
        with self.rt.store.write() as (s, _):
            task = s.get(RecordTask, found.id)
            record = s.get(RecordEntity, found.record_id)
            assert task is not None and record is not None
            if task.status == "closed":
                raise ConflictError(f"Task {task.id} is closed: its sources agree now.")
            chosen = _chosen_key(s, task, source) if source else None
            task.status, task.resolved_by, task.updated_at = "resolved", who.user_id, now_utc()
            task.chosen_source, task.chosen_key, task.note = source or None, chosen, masked_note
            self._audit(
                s, audit.Kind.RECORD_CONFLICT_RESOLVED, who.user_id, record, task,
                masked_note or "resolved", who,
            )  # fmt: skip
            self._merge_records(s, [record.id], MergeReport(""))
            s.flush()
            return self._task_view(s, who, task, record)

    # ------------------------------------------------------------------ figures

    def summary(self, who: Principal) -> Summary:
        """Counts and confidence figures per entity type and source: what a sponsor sees."""
        if not self.rt.authz.permits(who, Permission.MANAGE_RECORDS):
            self.rt.authz.authorize(who, Permission.VIEW_SPONSOR, "records:summary")
        with self.rt.store.read() as s:
            return figures(s, self.sources(s), self.tuning.min_confidence)


def _resolution(task: RecordTask | None) -> Evidence | None:
    """An owner's choice as evidence (authority 1, dated when it was made)."""
    if task is None or task.status != "resolved" or not task.chosen_key:
        return None
    return Evidence(OWNER, OWNER, "", task.chosen_key, aware(task.updated_at), 1.0)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _chosen_key(s: Session, task: RecordTask, source: str) -> str:
    """The value key of ``source`` in the task's field, or a 400 naming the task's sources."""
    chosen = s.scalar(
        select(RecordValue.value_key).where(
            RecordValue.record_id == task.record_id,
            RecordValue.field == task.field,
            RecordValue.source_id == source,
        )
    )
    if chosen is None:
        raise InputError(
            f"Source {source[:64]!r} has no value in this task; its sources are "
            f"{', '.join(task.sources)}."
        )
    return str(chosen)


def _signature(rows: Sequence[RecordValue]) -> str:
    said = sorted((r.source_id, r.value_key) for r in rows)
    return hashlib.sha256(repr(said).encode()).hexdigest()


def _owns(who: Principal, task: RecordTask) -> bool:
    owners = set(task.owners or [])
    return who.user_id in owners or any(f"group:{g}" in owners for g in who.groups)


def _shown(merged: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*merged[:2], round(float(merged[2]), 2), *merged[3:])


def _store_field(
    s: Session, record_id: int, row: RecordField | None, view: FieldView, now: datetime
) -> bool:
    """Write the merged field; True when what an answer would show changed."""
    new = (
        view.value,
        view.winner.value_key,
        view.confidence,
        list(view.winner.source_ids),
        view.conflict,
    )
    if row is not None:
        old = (row.value, row.value_key, row.confidence, list(row.sources), row.conflict)
        row.value, row.value_key, row.confidence, row.sources, row.conflict = new
        row.agreement, row.merged_at = view.winner.support, now
        # Confidence drifts a little with every day of age: only a change an answer shows
        # (two decimals) makes cached answers stale.
        return _shown(old) != _shown(new)
    s.add(
        RecordField(
            record_id=record_id, field=view.field, value=new[0], value_key=new[1],
            confidence=new[2], agreement=view.winner.support, sources=new[3], conflict=new[4],
            merged_at=now,
        )
    )  # fmt: skip
    return True
