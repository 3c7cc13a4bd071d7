"""Sync runs: connector items in, masked chunks with vectors out, incrementally.

An unchanged item (same content hash, same metadata) costs one hash. Changed permissions update
the ACL of the document and its chunks without re-embedding. Items missing from a complete
listing are removed. An item that fails keeps its last good version: a sync loses nothing.

Each document records the recipe its chunks were built with (embedder space and truncation,
``chunk_words``, ``sentence_vectors``, ``pii_allow``): when the source's settings or the
embedder change, its next sync rebuilds the documents built otherwise, unchanged or not. The
store records the space of its vectors (meta ``vector_space``); after a change of embedder
model it takes the new one once no document holds vectors of the old (until then search
refuses: ``Runtime.check_vector_space``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session
from ulid import ULID

from steward.core.errors import GuardError, SourceError, StewardError
from steward.knowledge.chunking import (
    ChunkDraft,
    chunk_faq,
    chunk_markdown,
    chunk_record,
    split_sentences,
)
from steward.knowledge.connectors import Failed, Item
from steward.knowledge.sources import SourceSpec, make_connector
from steward.models.embeddings import Embedder, embed_with_spans
from steward.store.chunks import ChunkVectors, NewChunk
from steward.store.db import Event
from steward.store.models import AclSet, Document, Erasure, Meta, Source, SyncRun

if TYPE_CHECKING:
    from steward.runtime import Runtime

log = logging.getLogger(__name__)
BATCH_CHUNKS = 64
Progress = Callable[[int, str], None]


class _Stored(NamedTuple):
    """What a sync needs to know of a document already in the store."""

    pk: int
    version: str  # content hash
    meta_hash: str
    ref: str
    recipe: str  # "" for documents from before recipes were recorded
    authority: float


@dataclass
class SyncReport:
    source_id: str
    run_id: str
    status: str = "running"
    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    quarantined: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Prepared:
    item: Item
    content_hash: str
    meta_hash: str
    title: str
    drafts: list[ChunkDraft]
    is_new: bool


def _acl_set(session: Session, groups: Sequence[str]) -> int:
    clean = sorted({g for g in groups if g})
    key = ",".join(clean)
    found = session.scalars(select(AclSet.id).where(AclSet.groups_key == key)).first()
    if found is not None:
        return int(found)
    row = AclSet(groups_key=key, groups=clean)
    session.add(row)
    session.flush()
    return row.id


class Syncer:
    """Runs one source's sync with the runtime's masker, embedder and index."""

    def __init__(self, rt: Runtime, spec: SourceSpec, progress: Progress | None = None) -> None:
        self.rt = rt
        self.spec = spec
        self.progress = progress or (lambda _n, _d: None)
        self.allow = [re.compile(a) for a in spec.pii_allow]
        self.report = SyncReport(spec.id, str(ULID()))
        self._queue: list[_Prepared] = []
        self._changed_any = False
        self._failed_refs: set[str] = set()
        self._pool: ThreadPoolExecutor
        self._pending: tuple[list[_Prepared], Future[Any]] | None = None

    def run(self) -> SyncReport:
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        connector = make_connector(self.spec, self.rt.settings.plugins)
        _ = self.rt.chunks, self.rt.embedder  # build them before any write transaction opens
        self._space = self.rt.vector_space
        self._recipe = recipe(self.rt, self.spec)
        # A document from before recipes were recorded was built like today's unless the
        # embedder's model changed since.
        self._legacy_alike = self.rt.store.get_meta("vector_space") in ("", self._space)
        self._refuse_personal_data_in_sandbox()
        with self.rt.store.read() as s:
            self._erased = set(s.scalars(select(Erasure.digest)))
        self._register()
        existing = self._existing()
        seen: set[str] = set()
        complete = True
        with ThreadPoolExecutor(1, thread_name_prefix="embed") as self._pool:
            try:
                for entry in connector.items():
                    self._one(entry, existing, seen)
            except SourceError as exc:
                complete = False
                self.report.errors.append({"ref": self.spec.id, "message": exc.message})
            self._flush()
            self._drain()
        if complete:
            self._remove(existing, seen)
        self._finish(started, started_at, complete)
        return self.report

    def _refuse_personal_data_in_sandbox(self) -> None:
        if (
            self.rt.store.get_meta("environment") == "non-production"
            and self.spec.options().get("personal_fields")
            and not self.spec.already_masked
        ):
            raise SourceError(
                f"Source {self.spec.id} declares personal fields, and this store is "
                "non-production (a masked copy): it takes no real personal data. Mark the source "
                "`already_masked: true` if its values are synthetic or masked."
            )

    def subjects(self, item: Item) -> list[str]:
        """Keyed digests of the item's declared personal values (for erasure), never values."""
        return sorted({self.rt.masker.tokens.digest(k, v) for k, v in item.personal if v.strip()})

    def _register(self) -> None:
        with self.rt.store.write() as (s, _):
            src = s.get(Source, self.spec.id)
            config = self.spec.model_dump()
            if src is None:
                s.add(
                    Source(
                        id=self.spec.id,
                        kind=self.spec.connector,
                        config=config,
                        created_at=datetime.now(UTC),
                    )
                )
            else:
                src.kind, src.config = self.spec.connector, config

    def _existing(self) -> dict[str, _Stored]:
        """doc_id -> what the store holds of it."""
        with self.rt.store.read() as s:
            rows = s.execute(
                select(Document.id, Document.doc_id, Document.version, Document.meta).where(
                    Document.source_id == self.spec.id
                )
            ).all()
        return {
            r[1]: _Stored(
                r[0],
                r[2],
                (r[3] or {}).get("meta_hash", ""),
                (r[3] or {}).get("ref", ""),
                (r[3] or {}).get("recipe", ""),
                float((r[3] or {}).get("authority", 1.0)),
            )
            for r in rows
        }

    def _fail(self, ref: str, message: str) -> None:
        self.report.failed += 1
        self.report.errors.append({"ref": ref, "message": message})
        log.info(  # the run's report carries it (and the CLI prints it): no second stderr line
            "sync item failed", extra={"source": self.spec.id, "ref": ref, "detail": message}
        )

    def _one(self, entry: Item | Failed, existing: dict[str, _Stored], seen: set[str]) -> None:
        self.report.seen += 1
        self.progress(1, entry.ref)
        if isinstance(entry, Failed):
            self._fail(entry.ref, entry.message)
            # A failed item keeps its last good version: its ref protects it from removal.
            self._failed_refs.add(entry.ref)
            return
        item = entry
        if item.doc_id in seen:
            self._fail(item.ref, f"duplicate id {item.doc_id!r} in this source; first one kept")
            return
        seen.add(item.doc_id)
        if self._erased.intersection(self.subjects(item)):
            # The data subject was erased on request: never bring the record back.
            self.report.errors.append({"ref": item.ref, "message": "skipped: subject erased"})
            seen.discard(item.doc_id)
            return
        content_hash, meta_hash = item.content_hash(), item.meta_hash()
        old = existing.get(item.doc_id)
        if old is not None and old.version == content_hash and self._built_alike(old):
            # The source's authority lives on its documents: a new one updates them in place.
            if old.meta_hash == meta_hash and old.authority == self.spec.authority:
                self.report.unchanged += 1
            else:
                self._update_meta(old.pk, item, meta_hash)
                self.report.changed += 1
            return
        try:
            prepared = self._prepare(item, content_hash, meta_hash, old is None)
        except GuardError as exc:
            self._fail(item.ref, exc.message)
            return
        self._queue.append(prepared)
        if sum(len(p.drafts) for p in self._queue) >= BATCH_CHUNKS:
            self._flush()

    def _prepare(self, item: Item, content_hash: str, meta_hash: str, is_new: bool) -> _Prepared:
        masker = self.rt.masker

        # People write records (tickets, case notes): names there are found by the model too.
        # The bank's documents and FAQ name products and headings in Title Case, which the
        # model reads as people; their personal data is found by patterns, cues and known values.
        by_model = item.kind == "record"

        def m(text: str) -> str:
            return masker.mask(text, item.personal, self.allow, names_by_model=by_model).text

        masker.remember(item.personal)  # typed into a question later, it becomes this token

        if self.spec.vault and self.rt.vault is not None:
            # A business need to keep the raw values: sealed, never in the clear.
            for kind, value in item.personal:
                token = masker.tokens.token(kind, value)
                self.rt.vault.put(kind, value, token, None, self.spec.id)
        title = m(item.title)
        detector = self.rt.injection
        words = self.spec.chunk_words
        if item.kind == "faq":
            drafts = chunk_faq(m(item.fields[0][1]), m(item.fields[1][1]), detector)
        elif item.kind == "record":
            drafts = chunk_record(
                title, [(label, m(v)) for label, v in item.fields], words, detector=detector
            )
        else:
            drafts = chunk_markdown(title, m(item.body), words, detector=detector)
        return _Prepared(item, content_hash, meta_hash, title, drafts, is_new)

    def _built_alike(self, old: _Stored) -> bool:
        """The stored document was built with today's recipe: nothing to redo."""
        return old.recipe == self._recipe or (not old.recipe and self._legacy_alike)

    def _sentence_vectors(self, d: ChunkDraft) -> bool:
        return not d.quarantine and self.spec.sentence_vectors != "none"

    def _flush(self) -> None:
        """Embed the queued items in the background and write the batch queued before them:
        the next items are read, masked and chunked while this batch is embedded."""
        if not self._queue:
            return
        batch, self._queue = self._queue, []
        job = self._pool.submit(self._vectors, batch)
        self._drain()
        self._pending = (batch, job)

    def _drain(self) -> None:
        """Write the batch whose vectors are being computed, once they are."""
        if self._pending is not None:
            batch, job = self._pending
            self._pending = None
            self._write(batch, *job.result())

    def _vectors(
        self, batch: list[_Prepared]
    ) -> tuple[
        npt.NDArray[np.float16], list[npt.NDArray[np.float16]], dict[str, npt.NDArray[np.float16]]
    ]:
        drafts = [d for p in batch for d in p.drafts]
        headings = list(dict.fromkeys(d.heading for d in drafts))
        chunk_vecs, sent_vecs = chunk_vectors(
            self.rt.embedder,
            [(d.heading, d.text, d.sentences if self._sentence_vectors(d) else []) for d in drafts],
            pooled=self.spec.sentence_vectors == "pooled",
        )
        heading_vecs = self.rt.embedder.embed(headings).astype(np.float16)
        return chunk_vecs, sent_vecs, dict(zip(headings, heading_vecs, strict=True))

    def _write(
        self,
        batch: list[_Prepared],
        chunk_vecs: npt.NDArray[np.float16],
        sent_vecs: list[npt.NDArray[np.float16]],
        heading_vecs: dict[str, npt.NDArray[np.float16]],
    ) -> None:
        chunks = self.rt.chunks
        with self.rt.store.write() as (s, events):
            ci = 0
            for p in batch:
                doc = self._upsert_document(s, p)
                new = []
                for d in p.drafts:
                    vectors = ChunkVectors(
                        chunk_vecs[ci].tobytes(),
                        heading_vecs[d.heading].tobytes(),
                        [list(x) for x in d.sentences],
                        sent_vecs[ci].tobytes(),
                    )
                    ci += 1
                    new.append(NewChunk(d.heading, d.text, vectors, d.quarantine))
                    self.report.quarantined += int(bool(d.quarantine))
                chunks.replace(s, doc, p.title, new)
                if p.is_new:
                    self.report.added += 1
                else:
                    self.report.changed += 1
                events.append(Event("document-ingested", {"doc_id": p.item.doc_id}))
        self._changed_any = True

    def _upsert_document(self, s: Session, p: _Prepared) -> Document:
        item = p.item
        doc = s.scalars(select(Document).where(Document.doc_id == item.doc_id)).first()
        if doc is None:
            doc = Document(doc_id=item.doc_id, source_id=self.spec.id, is_current=True)
        elif doc.source_id != self.spec.id:
            raise SourceError(f"{item.doc_id} already belongs to source {doc.source_id}")
        with s.no_autoflush:
            self._apply_meta(s, doc, item, p.meta_hash)
        doc.title, doc.version = p.title, p.content_hash
        doc.meta = {**(doc.meta or {}), "recipe": self._recipe, "space": self._space}
        doc.ingested_at = datetime.now(UTC)
        s.add(doc)
        s.flush()
        return doc

    def _apply_meta(self, s: Session, doc: Document, item: Item, meta_hash: str) -> None:
        doc.acl_set_id = _acl_set(s, item.acl or [])
        doc.updated, doc.owner, doc.sensitivity = item.updated, item.owner, item.sensitivity
        doc.supersedes, doc.center = item.supersedes, item.center
        doc.meta = {
            **(doc.meta or {}),
            "meta_hash": meta_hash,
            "ref": item.ref,
            "authority": self.spec.authority,
            "subjects": self.subjects(item),
        }

    def _update_meta(self, doc_pk: int, item: Item, meta_hash: str) -> None:
        with self.rt.store.write() as (s, events):
            doc = s.get(Document, doc_pk)
            assert doc is not None
            self._apply_meta(s, doc, item, meta_hash)
            s.flush()
            self.rt.chunks.set_access(s, doc)
            events.append(Event("document-permissions-changed", {"doc_id": item.doc_id}))
        self._changed_any = True

    def _remove(self, existing: dict[str, _Stored], seen: set[str]) -> None:
        gone = [
            (old.pk, doc_id)
            for doc_id, old in existing.items()
            if doc_id not in seen and old.ref not in self._failed_refs
        ]
        if not gone:
            return
        with self.rt.store.write() as (s, events):
            for pk, doc_id in gone:
                self.rt.chunks.delete_documents(s, [pk])
                events.append(Event("document-removed", {"doc_id": doc_id}))
        self.report.removed = len(gone)
        self._changed_any = True

    def _finish(self, started: float, started_at: datetime, complete: bool) -> None:
        r = self.report
        r.status = "failed" if not complete else ("partial" if r.failed else "ok")
        r.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        with self.rt.store.write() as (s, events):
            if self._changed_any:
                # Each batch moved the knowledge version as it committed; this moves it once
                # more only if a document's currency changes now.
                self.rt.chunks.refresh_currency(s)
            self._settle_space(s, events)
            s.add(
                SyncRun(
                    id=r.run_id,
                    source_id=r.source_id,
                    started_at=started_at,
                    finished_at=datetime.now(UTC),
                    status=r.status,
                    seen=r.seen,
                    added=r.added,
                    changed=r.changed,
                    unchanged=r.unchanged,
                    removed=r.removed,
                    failed=r.failed,
                    quarantined=r.quarantined,
                    errors=r.errors[:200],
                    duration_ms=r.duration_ms,
                )
            )
            events.append(Event("sync-finished", r.as_dict()))

    def _settle_space(self, s: Session, events: list[Event]) -> None:
        """Record the space of the store's vectors: the first sync's, or after a change of
        embedder model the new one, once no document holds vectors of the old."""
        row = s.get(Meta, "vector_space")
        if row is not None and row.value == self._space:
            return
        if row is not None and row.value:
            for meta in s.scalars(select(Document.meta)):
                if (meta or {}).get("space") != self._space:
                    return  # still being re-embedded (or a document failed): search refuses
            log.info("every document re-embedded: the store's vectors are now %s", self._space)
            events.append(Event("vector-space-changed", {"from": row.value, "to": self._space}))
            self.rt.store.knowledge_changed(s)
        self.rt.store.set_meta(s, "vector_space", self._space)


def recipe(rt: Runtime, spec: SourceSpec) -> str:
    """Digest of what a document's chunks and vectors depend on besides its content."""
    parts = {
        "space": rt.vector_space,
        "max_tokens": getattr(rt.embedder, "max_tokens", None),
        "chunk_words": spec.chunk_words,
        "sentence_vectors": spec.sentence_vectors,
        "pii_allow": spec.pii_allow,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def chunk_vectors(
    embedder: Embedder,
    chunks: Sequence[tuple[str, str, Sequence[tuple[int, int]]]],
    pooled: bool = False,
) -> tuple[npt.NDArray[np.float16], list[npt.NDArray[np.float16]]]:
    """Vectors of chunks given as (heading, text, sentence spans in text): one per chunk (of
    "heading\ntext") and one per listed sentence: of "heading: sentence" on its own, or with
    ``pooled`` read from the chunk's own pass where the embedder can (``embed_with_spans``)."""
    texts = [f"{h}\n{t}" for h, t, _ in chunks]
    alone = [[f"{h}: {t[a:b]}" for a, b in ss] for h, t, ss in chunks]
    if pooled:
        spans = [[(len(h) + 1 + a, len(h) + 1 + b) for a, b in ss] for h, _, ss in chunks]
        vecs, sents = embed_with_spans(embedder, texts, spans, alone)
    else:
        flat = embedder.embed(texts + [x for row in alone for x in row])
        vecs, sents, pos = flat[: len(texts)], [], len(texts)
        for row in alone:
            sents.append(flat[pos : pos + len(row)])
            pos += len(row)
    return vecs.astype(np.float16), [v.astype(np.float16) for v in sents]


def embed_chunk(embedder: Embedder, heading: str, text: str, quarantined: bool) -> ChunkVectors:
    """Vectors for one chunk whose text changed outside a sync (redaction, masked export);
    its sentences are embedded standalone, whatever the source's mode."""
    sentences = split_sentences(text)
    vecs, sents = chunk_vectors(embedder, [(heading, text, [] if quarantined else sentences)])
    head = embedder.embed([heading]).astype(np.float16)
    return ChunkVectors(
        vecs[0].tobytes(), head[0].tobytes(), [list(x) for x in sentences], sents[0].tobytes()
    )


def sync(
    rt: Runtime,
    specs: Sequence[SourceSpec],
    progress: Progress | None = None,
) -> list[SyncReport]:
    """Sync each source in turn; one failing source does not stop the others. The data
    readiness audit runs again once they are done (STEWARD_READINESS_AFTER_SYNC)."""
    reports = []
    for spec in specs:
        try:
            reports.append(Syncer(rt, spec, progress).run())
        except StewardError as exc:
            rep = SyncReport(spec.id, str(ULID()), status="failed")
            rep.errors.append({"ref": spec.id, "message": exc.message})
            reports.append(rep)
    if reports:
        # Imported here: the sponsor's audit reads what the sync wrote, it is not part of it.
        from steward.sponsor.readiness import after_sync

        after_sync(rt)
    return reports
