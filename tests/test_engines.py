"""One retrieval contract, two engines: SQLite (FTS5 + NumPy) and PostgreSQL (FTS + pgvector).

Every test runs on both, through the same ingestion and ask paths."""

from __future__ import annotations

from pathlib import Path

from steward.identity.auth import principal_for
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.retrieval.service import search
from tests.kb import DOCS, write_kb


def hits(rt, user: str, query: str, k: int = 20) -> list[str]:
    return [h.doc_id for h in search(rt, principal_for(rt.store, user), query, k)]


def test_engine_answers_from_the_current_permitted_document(engine_rt) -> None:
    r = ask(
        engine_rt,
        principal_for(engine_rt.store, "cara"),
        "How much does an international wire cost?",
    )
    assert r.action == "answer" and "$45" in r.answer
    assert r.citations[0].doc_id == "pub-fees"


def test_permission_filter_applies_in_both_rankers(engine_rt) -> None:
    assert "int-budget" in hits(engine_rt, "fin", "marketing budget Bluefin")
    for user in ("sam", "cara", "nobody"):
        assert "int-budget" not in hits(engine_rt, user, "marketing budget Bluefin", 100)
    total, counts = engine_rt.index.term_counts(
        ["bluefin"], engine_rt.search.filter_for(frozenset({"all_staff"}), None)
    )
    assert counts["bluefin"] == 0 and total > 0  # statistics see permitted chunks only


def test_superseded_and_quarantined_chunks_are_never_returned(engine_rt) -> None:
    found = hits(engine_rt, "cara", "monthly maintenance fee 2023 $15", 100)
    assert "pub-fees-old" not in found and "pub-fees" in found


def test_center_scoping_in_both_rankers(engine_rt) -> None:
    north = hits(engine_rt, "nora", "promised callbacks business hours")
    south = hits(engine_rt, "solo", "promised callbacks business hours")
    assert "int-north" in north and "int-south" not in north
    assert "int-south" in south and "int-north" not in south


def test_deleted_and_edited_documents_change_results_at_once(engine_rt, tmp_path: Path) -> None:
    docs = {k: v for k, v in DOCS.items() if k != "int-north.md"}
    docs["pub-fees.md"] = docs["pub-fees.md"].replace("$45", "$47")
    sync(engine_rt, [s for s in load_sources(write_kb(tmp_path / "kb2", docs)) if s.id == "docs"])
    assert "int-north" not in hits(engine_rt, "nora", "promised callbacks", 100)
    r = ask(
        engine_rt,
        principal_for(engine_rt.store, "cara"),
        "How much does an international wire cost?",
    )
    assert "$47" in r.answer and "$45" not in r.answer


def test_narrow_permission_set_still_finds_its_best_match(engine_rt) -> None:
    """pgvector filters after its index scan; the engine falls back to an exact scan."""
    assert hits(engine_rt, "fin", "confidential marketing budget figures", 1) == ["int-budget"]


def test_every_search_mode_and_the_reranker_keep_the_permission_filter(engine_rt) -> None:
    """Lexical only, dense only, hybrid and hybrid + rerank: the restricted budget document
    reaches the finance analyst and no one else, whichever rankers run."""
    query = "confidential marketing budget Bluefin"
    for mode, rerank in (("lexical", False), ("dense", False), ("hybrid", False), ("hybrid", True)):
        found = [
            h.doc_id
            for h in search(
                engine_rt, principal_for(engine_rt.store, "fin"), query, 5, mode, rerank
            )
        ]
        assert found and found[0] == "int-budget", (mode, rerank, found)
        for user in ("sam", "cara", "nobody"):
            who = principal_for(engine_rt.store, user)
            others = [h.doc_id for h in search(engine_rt, who, query, 100, mode, rerank)]
            assert "int-budget" not in others, (mode, rerank, user)


def test_reranker_only_reorders_what_the_filtered_search_found(engine_rt) -> None:
    who = principal_for(engine_rt.store, "cara")
    query = "How much does an international wire cost?"
    plain = {h.chunk_id for h in search(engine_rt, who, query, 30, "hybrid", False)}
    reranked = [h.chunk_id for h in search(engine_rt, who, query, 30, "hybrid", True)]
    assert set(reranked) == plain and len(reranked) == len(plain)


def test_bulk_load_builds_the_same_index_once(engine_rt, tmp_path: Path) -> None:
    """`steward ingest --bulk`: a changed corpus loaded with the indexes deferred answers
    exactly as one loaded row by row; on PostgreSQL the GIN and HNSW indexes are dropped for
    the load and exist again after it."""
    from sqlalchemy import text

    def pg_indexes() -> set[str]:
        with engine_rt.store.read() as s:
            rows = s.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunk_search'")
            ).all()
        return {r[0] for r in rows} - {"chunk_search_pkey"}

    queries = [("cara", "international wire"), ("fin", "marketing budget"), ("nora", "callback")]
    docs = dict(DOCS)
    docs["pub-fees.md"] = docs["pub-fees.md"].replace("$45", "$47")
    sources = [s for s in load_sources(write_kb(tmp_path / "kb2", docs)) if s.id == "docs"]
    postgres = engine_rt.store.dialect == "postgresql"
    with engine_rt.index.bulk():
        if postgres:
            assert pg_indexes() == set()
        sync(engine_rt, sources)
    if postgres:
        assert pg_indexes() == {"ix_chunk_search_tsv", "ix_chunk_search_vec"}
    bulk = [hits(engine_rt, u, q) for u, q in queries]
    assert "int-budget" in bulk[1] and "int-budget" not in bulk[0]
    r = ask(
        engine_rt,
        principal_for(engine_rt.store, "cara"),
        "How much does an international wire cost?",
    )
    assert "$47" in r.answer
    docs["pub-fees.md"] = docs["pub-fees.md"].replace("$47", "$48")
    sync(engine_rt, [s for s in load_sources(write_kb(tmp_path / "kb3", docs)) if s.id == "docs"])
    assert [hits(engine_rt, u, q) for u, q in queries] == bulk  # same ranking, row by row


def test_bulk_load_rejects_a_bad_memory_size(pg_url: str) -> None:
    import pytest
    from sqlalchemy import text

    from steward.retrieval.postgres import PostgresIndex
    from steward.store import open_store

    index = PostgresIndex(open_store(pg_url), dim=384)
    with pytest.raises(ValueError, match="Bad memory size"), index.bulk(memory="1GB'; --"):
        pass
    with index.store.read() as s:  # the table is still there
        assert s.execute(text("SELECT count(*) FROM chunks")).scalar() == 0
    index.store.dispose()


def test_postgres_store_of_another_vector_size_is_a_clear_error(pg_url: str) -> None:
    """A model of another dimension cannot write into the index: said at start, not as a
    database error halfway through a sync."""
    import pytest

    from steward.core.errors import ConfigError
    from steward.retrieval.postgres import PostgresIndex
    from steward.store import open_store

    store = open_store(pg_url)
    try:
        PostgresIndex(store, dim=384)
        with pytest.raises(ConfigError, match="384 dimensions; the configured embedder makes 640"):
            PostgresIndex(store, dim=640)
        PostgresIndex(store, dim=384)  # the store itself is untouched
    finally:
        store.dispose()


def test_postgres_common_words_score_but_do_not_find_rows(pg_rt) -> None:
    """The common-terms cutoff: a word in more than `match_share` of the chunks adds to the
    score of rows that a rarer word finds, but brings in no rows of its own."""
    from sqlalchemy import text

    index = pg_rt.index
    flt = pg_rt.search.filter_for(frozenset({"all_staff", "finance"}), None)

    def df(word: str) -> int:
        with pg_rt.store.read() as s:
            q = text("SELECT count(*) FROM chunk_search WHERE tsv @@ to_tsquery('english', :w)")
            return int(s.execute(q, {"w": word}).scalar_one())

    with pg_rt.store.read() as s:
        total = int(s.execute(text("SELECT count(*) FROM chunk_search")).scalar_one())
    index.match_share = 0.2
    assert df("fee") > 0.2 * total and df("international") == 1  # one common word, one rare
    both = index.lexical("fee international", flt, 20)
    alone = index.lexical("international", flt, 20)
    assert len(both) == len(alone) == 1 and both[0].chunk_id == alone[0].chunk_id
    assert both[0].score > alone[0].score  # "fee" (in the title) still counts
    index.match_share = 1.0  # every word finds rows, as before the cutoff
    every = index.lexical("fee international", flt, 20)
    assert len(every) > 1 and every[0].chunk_id == both[0].chunk_id
    index.match_share = 0.01  # only common words: the rarest two still find the rows
    assert index.lexical("fee", flt, 20)
