"""What the readiness audit reads of the store, in one pass: each document's metadata, and from
its (masked) chunks the figures the audit needs: characters, personal tokens by kind, held
chunks and why, the exact-duplicate key, the MinHash signature and the sentences that state
quantities. Chunks stream document by document; no text is kept once read.

Chunk text in the store is masked: a personal value the guard found is a token such as
``<EMAIL_3>``. Counting the tokens counts the personal values without reading one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.guard.pii import DROPPED_KINDS
from steward.knowledge.chunking import split_sentences
from steward.sponsor.readiness import contradictions, duplicates
from steward.store.models import AclSet, Chunk, Document, Group, Source, User

_PII = re.compile(r"<([A-Z][A-Z_]*?)_\d+>|<(" + "|".join(sorted(DROPPED_KINDS)) + r")>")


@dataclass
class Doc:
    """One item of a source, as the audit sees it."""

    doc_id: str
    source_id: str
    version: str
    updated: str | None
    owner: str | None
    center: str | None
    acl_set_id: int
    current: bool
    supersedes: str | None
    record: bool  # names data subjects (a case record such as a ticket), not reference text
    authority: float
    subjects: int = 0  # declared personal values (keyed digests in the store, never values)
    chars: int = 0
    pii: Counter[str] = field(default_factory=Counter)
    held: int = 0
    held_reasons: set[str] = field(default_factory=set)
    exact: str = ""
    signature: duplicates.Signature | None = None

    def day(self) -> date | None:
        """The item's date (its first ten characters as an ISO date), or None."""
        try:
            return date.fromisoformat((self.updated or "")[:10])
        except ValueError:
            return None


@dataclass
class Corpus:
    docs: list[Doc]
    acls: dict[int, frozenset[str]]  # acl set id -> groups
    defaults: dict[str, frozenset[str]]  # source id -> its acl_default, where it has one
    groups: frozenset[str]  # the directory's groups
    readers: dict[str, frozenset[str]]  # group -> active users in it
    facts: list[contradictions.Fact]
    names: frozenset[str]


def scan(session: Session) -> Corpus:
    acls = {int(i): frozenset(g) for i, g in session.execute(select(AclSet.id, AclSet.groups))}
    defaults = {}
    for sid, config in session.execute(select(Source.id, Source.config)):
        default = (config or {}).get("acl_default")
        if default:
            defaults[str(sid)] = frozenset(str(g) for g in default)
    readers: dict[str, set[str]] = {}
    for user in session.scalars(select(User).where(User.active.is_(True))):
        for g in user.groups:
            readers.setdefault(g.id, set()).add(user.id)
    docs: list[Doc] = []
    pks: dict[int, int] = {}
    for row in session.scalars(select(Document).order_by(Document.id)):
        pks[row.id] = len(docs)
        docs.append(_doc(row))
    facts: list[contradictions.Fact] = []
    names = contradictions.Names()
    titles = {int(i): str(t) for i, t in session.execute(select(Document.id, Document.title))}
    for pk, chunks in _chunks(session):
        i = pks[pk]
        _read(docs[i], i, titles.get(pk, ""), chunks, facts, names)
    return Corpus(
        docs,
        acls,
        defaults,
        frozenset(session.scalars(select(Group.id))),
        {g: frozenset(u) for g, u in readers.items()},
        facts,
        names.names(),
    )


def _doc(row: Document) -> Doc:
    meta: dict[str, Any] = row.meta or {}
    return Doc(
        doc_id=row.doc_id,
        source_id=row.source_id,
        version=row.version,
        updated=row.updated,
        owner=(row.owner or "").strip() or None,
        center=row.center,
        acl_set_id=row.acl_set_id,
        current=row.is_current,
        supersedes=row.supersedes,
        record=bool(meta.get("subjects")),
        authority=float(meta.get("authority", 1.0)),
        subjects=len(meta.get("subjects") or []),
    )


Piece = tuple[str, str, bool, str | None]  # heading, text, quarantined, reason


def _chunks(session: Session) -> Iterator[tuple[int, list[Piece]]]:
    """Each document's chunks, in order, one document at a time."""
    rows = session.execute(
        select(
            Chunk.document_id, Chunk.heading, Chunk.text, Chunk.quarantined, Chunk.quarantine_reason
        )
        .order_by(Chunk.document_id, Chunk.ordinal)
        .execution_options(yield_per=500)
    )
    pk: int | None = None
    pieces: list[Piece] = []
    for doc_pk, heading, text, held, reason in rows:
        if doc_pk != pk and pk is not None:
            yield pk, pieces
            pieces = []
        pk = doc_pk
        pieces.append((heading, text, bool(held), reason))
    if pk is not None:
        yield pk, pieces


def _read(
    doc: Doc,
    index: int,
    title: str,
    pieces: list[Piece],
    facts: list[contradictions.Fact],
    names: contradictions.Names,
) -> None:
    texts = []
    for heading, text, held, reason in pieces:
        texts.append(text)
        for m in _PII.finditer(text):
            doc.pii[m.group(1) or m.group(2)] += 1
        if held:
            doc.held += 1
            doc.held_reasons.add(reason or "held")
            continue  # instruction-like text: no fact is taken from it
        if doc.current and not doc.record:
            for a, b in split_sentences(text):
                sentence = text[a:b]
                names.feed(sentence)
                fact = contradictions.facts_in(index, title, heading, sentence)
                if fact is not None:
                    facts.append(fact)
    body = "\n".join(texts)
    doc.chars = len(body)
    doc.exact = duplicates.exact_key(body) if body.strip() else ""
    doc.signature = duplicates.signature(body)
