"""Run the readiness audit, keep each run with its figures and findings, read them back.

A run reads the whole store (scan.py), judges every item (figures.py), finds duplicates
(duplicates.py), contradictions (contradictions.py) and the answers that still cite superseded
items or outdated versions (the audit trail's question rows of the last
``STEWARD_READINESS_CITATION_DAYS`` days, and the answer cache), then stores one
``readiness_runs`` row (figures per source, per use case and in total) and its findings
(document ids and figures, no text), and writes a ``readiness-run`` audit event. Runs are kept:
the change against the previous run is the trend.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.core.errors import InputError, NotFoundError, StewardError
from steward.identity.authz import Permission
from steward.sponsor.readiness import contradictions, duplicates
from steward.sponsor.readiness.figures import USABLE, Verdict, change, involved, tally, verdicts
from steward.sponsor.readiness.scan import Corpus, Doc, scan
from steward.store.models import (
    AuditRecord,
    CacheEntry,
    ReadinessFinding,
    ReadinessRun,
    Source,
)

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

log = logging.getLogger(__name__)
FINDINGS_PER_KIND = 500
KINDS = ("superseded", "contradiction", "injection", "exact-duplicate", "near-duplicate")
UseCases = Mapping[str, Sequence[str]]


@dataclass
class Outcome:
    """One audit's figures and findings, before they are stored."""

    figures: dict[str, Any]
    findings: list[dict[str, Any]]
    items: int
    usable: int


def run(
    rt: Runtime,
    who: Principal,
    *,
    use_cases: UseCases | None = None,
    trigger: str = "command",
    today: date | None = None,
) -> dict[str, Any]:
    """Audit the store now (operators: ``sync-sources``) and keep the run; its report."""
    rt.authz.authorize(who, Permission.SYNC_SOURCES, "readiness")
    run_id = _run(rt, who.user_id, trigger, use_cases, today, groups=tuple(who.groups))
    return _report(rt, run_id)


def after_sync(rt: Runtime) -> str | None:
    """The audit again once a sync has finished (``STEWARD_READINESS_AFTER_SYNC``); its run id.
    A failing audit is logged, never a failed sync."""
    if not rt.settings.sponsor.readiness_after_sync:
        return None
    try:
        return _run(rt, "system", "sync", None, None)
    except StewardError as exc:
        log.error("readiness audit after sync failed: %s", exc.message)
    except Exception as exc:  # the sync itself succeeded: record, do not raise
        log.error("readiness audit after sync failed", exc_info=exc)
    return None


def latest(rt: Runtime, who: Principal) -> dict[str, Any] | None:
    """The latest run's report with its change against the one before (``view-sponsor``)."""
    rt.authz.authorize(who, Permission.VIEW_SPONSOR, "readiness")
    with rt.store.read() as s:
        run_id = s.scalars(_newest().limit(1)).first()
    return _report(rt, run_id) if run_id else None


def trend(rt: Runtime, who: Principal, last: int = 12) -> list[dict[str, Any]]:
    """The last ``last`` runs' headline figures, newest first (``view-sponsor``)."""
    rt.authz.authorize(who, Permission.VIEW_SPONSOR, "readiness")
    with rt.store.read() as s:
        rows = list(
            s.scalars(
                select(ReadinessRun)
                .order_by(ReadinessRun.created_at.desc(), ReadinessRun.id.desc())
                .limit(max(1, min(last, 500)))
            )
        )
    out = []
    for row in rows:
        totals = row.figures.get("totals", {})
        out.append(
            {
                "id": row.id,
                "created_at": row.created_at.isoformat(),
                "trigger": row.trigger,
                "kb_version": row.kb_version,
                **{k: totals.get(k) for k in _HEADLINE},
            }
        )
    return out


def findings(
    rt: Runtime,
    who: Principal,
    *,
    run_id: str | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """A run's findings (the latest run by default), optionally of one kind (``view-sponsor``)."""
    rt.authz.authorize(who, Permission.VIEW_SPONSOR, "readiness")
    if kind is not None and kind not in KINDS:
        raise InputError(f"Unknown finding kind {kind[:40]!r}: use one of {', '.join(KINDS)}.")
    with rt.store.read() as s:
        rid = run_id or s.scalars(_newest().limit(1)).first()
        if rid is None:
            return []
        if s.get(ReadinessRun, rid) is None:
            raise NotFoundError(
                f"No readiness run {rid[:40]!r}; `steward readiness trend` lists them."
            )
        q = select(ReadinessFinding).where(ReadinessFinding.run_id == rid)
        if kind is not None:
            q = q.where(ReadinessFinding.kind == kind)
        rows = s.scalars(q.order_by(ReadinessFinding.id).limit(max(1, min(limit, 5000))))
        return [_finding_out(f) for f in rows]


def quality_of(rt: Runtime, source_ids: Sequence[str]) -> float | None:
    """The usable share (0-1) of these sources' items in the latest readiness run; None when
    no run covers any of them (sources the run did not see are left out of the share)."""
    with rt.store.read() as s:
        row = s.scalars(select(ReadinessRun).order_by(*_ORDER).limit(1)).first()
    if row is None:
        return None
    per_source = row.figures.get("sources", {})
    covered = [per_source[sid] for sid in dict.fromkeys(source_ids) if sid in per_source]
    items = sum(int(f.get("items", 0)) for f in covered)
    if not covered or items == 0:
        return None
    return sum(int(f.get("usable", 0)) for f in covered) / items


def load_use_cases(path: Path) -> dict[str, list[str]]:
    """The use cases that name their sources in a portfolio file (the one `steward usecases
    score` reads: ``use_cases: [{id, sources: [...]}, ...]``)."""
    from steward.sponsor.usecases import load

    return {u.id: list(u.sources) for u in load(path).use_cases if u.sources}


# ----------------------------------------------------------------------------- the audit


_ORDER = (ReadinessRun.created_at.desc(), ReadinessRun.id.desc())
_HEADLINE = (
    "items",
    "usable",
    "usable_share",
    "superseded",
    "exact_duplicates",
    "near_duplicates",
    "stale",
    "contradictions",
    "injections",
    "pii_per_1k_chars",
    "acl_coverage",
)


def _newest() -> Any:
    return select(ReadinessRun.id).order_by(*_ORDER)


def _run(
    rt: Runtime,
    actor: str,
    trigger: str,
    use_cases: UseCases | None,
    today: date | None,
    groups: tuple[str, ...] = (),
) -> str:
    started = time.perf_counter()
    chosen = _use_cases(rt, use_cases)
    outcome = audit_store(rt, chosen, today or datetime.now(UTC).date())
    run_id = str(ULID())
    totals = outcome.figures["totals"]
    kb_version = rt.store.kb_version()
    with rt.store.write() as (s, _):
        s.add(
            ReadinessRun(
                id=run_id,
                created_at=datetime.now(UTC),
                trigger=trigger,
                actor=actor,
                kb_version=kb_version,
                items=outcome.items,
                usable=outcome.usable,
                figures=outcome.figures,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
        s.add_all(ReadinessFinding(run_id=run_id, **f) for f in outcome.findings)
        if trigger != "sync":
            # A person's run is an audited act; the run after a sync is part of the sync,
            # which its own sync_runs row records (as every sync), not the trail.
            payload = {"run": run_id, "trigger": trigger} | {k: totals.get(k) for k in _HEADLINE}
            event = audit.AuditEvent(
                audit.Kind.READINESS_RUN,
                actor=actor,
                target=f"readiness:{run_id}",
                payload=payload,
                channel="cli" if trigger == "command" else "service",
                groups=groups,
            )
            audit.record(rt.store, event, session=s)
    return run_id


def audit_store(rt: Runtime, use_cases: UseCases, today: date) -> Outcome:
    """Read the store and compute a run's figures and findings (stores nothing)."""
    sp = rt.settings.sponsor
    with rt.store.read() as session:
        corpus = scan(session)
        judged = verdicts(corpus, today, sp.readiness_stale_days)
        _citations(
            session, corpus.docs, judged, datetime.now(UTC) - timedelta(sp.readiness_citation_days)
        )
        sources = sorted(
            set(session.scalars(select(Source.id))) | {d.source_id for d in corpus.docs}
        )
    dups = _duplicates(corpus, judged, sp.readiness_near_duplicate)
    conflicts = contradictions.find(corpus.facts, corpus.names, _scope(corpus))
    for c in conflicts:
        judged[c.a].contradicted = judged[c.b].contradicted = True
    pairs = [(c.a, c.b) for c in conflicts]

    def group(members: set[int]) -> dict[str, Any]:
        docs = [corpus.docs[i] for i in sorted(members)]
        return tally(docs, [judged[i] for i in sorted(members)], involved(pairs, members))

    by_source: dict[str, set[int]] = {sid: set() for sid in sources}
    for i, d in enumerate(corpus.docs):
        by_source[d.source_id].add(i)
    figures: dict[str, Any] = {
        "today": today.isoformat(),
        "usable_means": list(USABLE),
        "thresholds": {
            "stale_days": sp.readiness_stale_days,
            "near_duplicate_jaccard": sp.readiness_near_duplicate,
            "citation_days": sp.readiness_citation_days,
            "contradiction_alignment": contradictions.COVERAGE,
        },
        "totals": group(set(range(len(corpus.docs)))),
        "sources": {sid: group(m) for sid, m in by_source.items()},
        "use_cases": {},
    }
    for uc, named in sorted(use_cases.items()):
        members = {i for sid in named for i in by_source.get(sid, set())}
        figures["use_cases"][uc] = {
            "sources": list(named),
            "missing_sources": [sid for sid in named if sid not in by_source],
            **group(members),
        }
    found = _findings(rt, corpus, judged, dups, conflicts)
    usable = sum(v.usable(d) for d, v in zip(corpus.docs, judged, strict=True))
    return Outcome(figures, found, len(corpus.docs), usable)


def _use_cases(rt: Runtime, given: UseCases | None) -> UseCases:
    """The use cases to report on: those given, else the portfolio file's (STEWARD_USECASES_FILE,
    default HOME/usecases.yaml), else the previous run's."""
    if given is not None:
        return given
    path = rt.settings.sponsor.usecases_file or rt.settings.home / "usecases.yaml"
    if path.is_file():
        try:
            return load_use_cases(path)
        except StewardError as exc:
            log.warning("readiness: use cases not read: %s", exc.message)
    with rt.store.read() as s:
        row = s.scalars(select(ReadinessRun).order_by(*_ORDER).limit(1)).first()
    previous = row.figures.get("use_cases", {}) if row is not None else {}
    return {uc: list(v.get("sources", [])) for uc, v in previous.items()}


def _citations(session: Session, docs: list[Doc], judged: list[Verdict], since: datetime) -> None:
    """Answers since ``since`` (and cached answers) that cite a superseded item, or a version
    of an item that it no longer has."""
    cited: Counter[str] = Counter()
    versions: Counter[tuple[str, str]] = Counter()
    rows = session.execute(
        select(AuditRecord.citations)
        .where(AuditRecord.kind == "question", AuditRecord.ts >= since)
        .execution_options(yield_per=1000)
    )
    for (citations,) in rows:
        seen = {(str(c.get("doc_id")), str(c.get("version"))) for c in citations or []}
        versions.update(seen)
        cited.update({d for d, _ in seen})
    cached: Counter[str] = Counter()
    for (meta,) in session.execute(select(CacheEntry.cited_versions)):
        cached.update(str(d) for d in ((meta or {}).get("docs") or {}))
    by_id = {d.doc_id: i for i, d in enumerate(docs)}
    for (doc_id, version), n in versions.items():
        i = by_id.get(doc_id)
        if i is not None and docs[i].version != version:
            judged[i].outdated += n
    for i, d in enumerate(docs):
        if not d.current:
            judged[i].cited, judged[i].cached = cited[d.doc_id], cached[d.doc_id]


def _duplicates(
    corpus: Corpus, judged: list[Verdict], threshold: float
) -> list[duplicates.Duplicate]:
    """Duplicates among current items (a superseded item is unusable already)."""
    current = [i for i, d in enumerate(corpus.docs) if d.current]
    docs = [corpus.docs[i] for i in current]

    def rank(k: int) -> tuple[object, ...]:
        d = docs[k]
        day = d.day()
        return (-(day.toordinal() if day else 0), -d.authority, d.doc_id)

    found = duplicates.find([d.exact for d in docs], [d.signature for d in docs], rank, threshold)
    out = [
        duplicates.Duplicate(current[x.index], current[x.kept], x.kind, x.similarity) for x in found
    ]
    for x in out:
        judged[x.index].duplicate = x.kind
    return out


def _scope(corpus: Corpus) -> Any:
    """Whether two documents are one body of knowledge: the same center (or neither has one),
    and some directory user reads both (any, with no directory)."""
    readers: dict[int, frozenset[str]] = {}

    def of(acl_set: int) -> frozenset[str]:
        if acl_set not in readers:
            groups = corpus.acls.get(acl_set, frozenset())
            readers[acl_set] = frozenset(u for g in groups for u in corpus.readers.get(g, ()))
        return readers[acl_set]

    def together(i: int, j: int) -> bool:
        a, b = corpus.docs[i], corpus.docs[j]
        if a.center != b.center:
            return False
        return not corpus.readers or bool(of(a.acl_set_id) & of(b.acl_set_id))

    return together


def _findings(
    rt: Runtime,
    corpus: Corpus,
    judged: list[Verdict],
    dups: list[duplicates.Duplicate],
    conflicts: list[contradictions.Conflict],
) -> list[dict[str, Any]]:
    docs = corpus.docs
    shown: dict[int, str] = {}

    def ref(i: int) -> str:
        # A record's id may be a personal value (a customer's e-mail as its key): masked.
        if i not in shown:
            d = docs[i]
            shown[i] = rt.masker.mask(d.doc_id).text if d.record else d.doc_id
        return shown[i]

    successor = {d.supersedes: i for i, d in enumerate(docs) if d.supersedes}
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(docs):
        if not d.current:
            after = successor.get(d.doc_id)
            v = judged[i]
            info: dict[str, Any] = {"citations": v.cited, "cached": v.cached, "updated": d.updated}
            later = ref(after) if after is not None else None
            rows.append(_row("superseded", d, ref(i), later, info))
        if d.held:
            info = {"held_chunks": d.held, "reasons": sorted(d.held_reasons)}
            rows.append(_row("injection", d, ref(i), None, info))
    for c in conflicts:
        a, b = docs[c.a], docs[c.b]
        da, db = a.day(), b.day()
        info = {
            "terms": list(c.terms),
            "values": [list(v) for v in c.values],
            "updated": [a.updated, b.updated],
            "newer": ref(c.a if da > db else c.b) if da and db and da != db else None,
        }
        rows.append(_row("contradiction", a, ref(c.a), ref(c.b), info))
    for x in dups:
        info = {"similarity": x.similarity}
        rows.append(_row(f"{x.kind}-duplicate", docs[x.index], ref(x.index), ref(x.kept), info))
    kept: Counter[str] = Counter()
    out = []
    for r in rows:
        kept[r["kind"]] += 1
        if kept[r["kind"]] <= FINDINGS_PER_KIND:
            out.append(r)
    return out


def _row(
    kind: str, doc: Doc, ref: str, other: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "source_id": doc.source_id,
        "doc_id": ref[:300],
        "other_doc_id": other[:300] if other else None,
        "detail": detail,
    }


def _finding_out(f: ReadinessFinding) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "source_id": f.source_id,
        "doc_id": f.doc_id,
        "other_doc_id": f.other_doc_id,
        "detail": f.detail,
    }


def _report(rt: Runtime, run_id: str) -> dict[str, Any]:
    """A run's figures, its change against the run before it and its findings by kind."""
    with rt.store.read() as s:
        row = s.get(ReadinessRun, run_id)
        assert row is not None
        prev = s.scalars(
            select(ReadinessRun)
            .where(
                (ReadinessRun.created_at < row.created_at)
                | ((ReadinessRun.created_at == row.created_at) & (ReadinessRun.id < row.id))
            )
            .order_by(*_ORDER)
            .limit(1)
        ).first()
        kinds = Counter(
            s.scalars(select(ReadinessFinding.kind).where(ReadinessFinding.run_id == run_id))
        )
    fig = row.figures
    old = prev.figures if prev is not None else {}
    return {
        "run": {
            "id": row.id,
            "created_at": row.created_at.isoformat(),
            "trigger": row.trigger,
            "actor": row.actor,
            "kb_version": row.kb_version,
            "duration_ms": row.duration_ms,
        },
        "previous": {"id": prev.id, "created_at": prev.created_at.isoformat()} if prev else None,
        "figures": fig,
        "change": {
            "totals": change(fig["totals"], old.get("totals") if prev else None),
            "sources": {
                k: change(v, old.get("sources", {}).get(k) if prev else None)
                for k, v in fig["sources"].items()
            },
            "use_cases": {
                k: change(v, old.get("use_cases", {}).get(k) if prev else None)
                for k, v in fig["use_cases"].items()
            },
        },
        "findings": {k: kinds.get(k, 0) for k in KINDS},
    }
