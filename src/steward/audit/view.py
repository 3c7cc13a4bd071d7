"""The audit trail as a reader may see it: every row's metadata, content only when entitled.

An operator reads any audit row's metadata (who, when, which decision and why, which documents
and versions, the masked question), but the answer text and the titles of cited documents only
when they may read every document the row cites or retrieved (an abstention names the closest
sources by title): the same permission filter as retrieval (their groups against each
document's current access list, their center against its center; a document gone since is
unreadable, deny by default). Otherwise those fields are replaced by :data:`WITHHELD`,
never dropped silently. The ``auditor`` grant shows them anyway, and each such use is a
``break-glass`` audit event naming the row and how many cited documents it opened.

The masked question stays visible: it is the asker's own words, not document content, and
without it nobody can tell what a row is about.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from steward.audit import trail
from steward.audit.events import AuditEvent, Kind
from steward.identity.auth import Principal
from steward.retrieval.search import allowed_acl_ids
from steward.store import Store
from steward.store.models import AuditRecord, Document

WITHHELD = (
    "[withheld: cites or names documents you may not read; the auditor grant shows it, audited]"
)


def readable(store: Store, who: Principal, doc_ids: set[str]) -> set[str]:
    """The documents among ``doc_ids`` that ``who`` may read now (retrieval's filter)."""
    if not doc_ids:
        return set()
    with store.read() as s:
        acl_ids = allowed_acl_ids(s, who.groups)
        rows = s.execute(
            select(Document.doc_id, Document.acl_set_id, Document.center).where(
                Document.doc_id.in_(sorted(doc_ids))
            )
        ).all()
    return {
        d
        for d, acl, center in rows
        if acl in acl_ids and (who.center is None or center is None or center == who.center)
    }


def _cited(row: AuditRecord) -> set[str]:
    """The documents whose content the row's text may carry: those cited, and those retrieved,
    since an abstention names the closest sources it found by title (the outside review read
    a restricted document's title in such a row)."""
    entries = [*(row.citations or []), *(row.retrieved or [])]
    return {str(c["doc_id"]) for c in entries if isinstance(c, dict) and "doc_id" in c}


def _withheld(
    store: Store, who: Principal, row: AuditRecord, auditor: bool, channel: str
) -> set[str]:
    """Cited documents whose content stays withheld from ``who`` (empty: show all). A use of
    the auditor grant that shows something is recorded as ``break-glass``."""
    cited = _cited(row)
    hidden = cited - readable(store, who, cited)
    if hidden and auditor:
        trail.record(
            store,
            AuditEvent(
                Kind.BREAK_GLASS,
                actor=who.user_id,
                target=f"audit:{row.id}",
                decision="shown",
                payload={"audit_id": row.id, "documents": len(hidden)},
                reason="auditor grant: audit content the reader may not read",
                channel=channel,
                groups=tuple(sorted(who.groups)),
                center=who.center,
            ),
        )
        return set()
    return hidden


def record(
    store: Store, who: Principal, audit_id: str, *, auditor: bool, channel: str = "api"
) -> dict[str, Any]:
    """One audit row as :func:`steward.audit.trail.as_dict`, answer text and cited titles
    replaced by :data:`WITHHELD` where ``who`` may not read a cited document (``auditor``:
    they hold the grant, and seeing is recorded as break-glass)."""
    row = trail.get(store, audit_id)
    out = trail.as_dict(row)
    hidden = _withheld(store, who, row, auditor, channel)
    if hidden:
        out["answer"] = WITHHELD
        out["citations"] = [
            {**c, "title": WITHHELD} if c.get("doc_id") in hidden else c for c in out["citations"]
        ]
    out["withheld"] = sorted(hidden)
    return out


def sources(
    store: Store, who: Principal, audit_id: str, *, auditor: bool, channel: str = "api"
) -> list[dict[str, Any]]:
    """:func:`steward.audit.trail.sources` with the titles of unreadable documents withheld."""
    row = trail.get(store, audit_id)
    hidden = _withheld(store, who, row, auditor, channel)
    return [
        {**r, "title": WITHHELD} if r["doc_id"] in hidden else r
        for r in trail.sources(store, audit_id)
    ]


def review_item(store: Store, who: Principal, item: dict[str, Any]) -> dict[str, Any]:
    """A flagged answer (``ReviewView.as_dict()``) as ``who`` may see it: the answer text and
    the titles of cited documents they may not read are replaced by :data:`WITHHELD`, as in
    :func:`record` (the question is the asker's own words and stays). The API and the console
    both show review items through this, so they withhold alike."""
    cites = [c for c in item.get("citations") or [] if isinstance(c, dict)]
    cited = {str(c["doc_id"]) for c in cites if "doc_id" in c}
    hidden = cited - readable(store, who, cited)
    out = dict(item)
    if hidden:
        out["answer"] = WITHHELD
        out["citations"] = [
            {**c, "title": WITHHELD} if str(c.get("doc_id")) in hidden else c for c in cites
        ]
    return out


def transcript(store: Store, who: Principal, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ticket's transcript as ``who`` may see it: the text of an answer turn whose audit row
    cites or retrieved a document they may not read is replaced by :data:`WITHHELD` (the asker's
    own turns stay). The API and the console's review page both show transcripts through this."""
    ids = {str(t["audit_id"]) for t in turns if t.get("audit_id") and t.get("role") != "asker"}
    if not ids:
        return [dict(t) for t in turns]
    with store.read() as s:
        rows = list(s.scalars(select(AuditRecord).where(AuditRecord.id.in_(sorted(ids)))))
    cited = {r.id: _cited(r) for r in rows}
    open_ = readable(store, who, set().union(*cited.values()))
    out = []
    for t in turns:
        aid = str(t.get("audit_id") or "")
        answer = aid in ids and t.get("role") != "asker"  # a question shares its answer's row
        hidden = answer and (aid not in cited or bool(cited[aid] - open_))  # deny by default
        out.append({**t, "text": WITHHELD} if hidden else dict(t))
    return out
