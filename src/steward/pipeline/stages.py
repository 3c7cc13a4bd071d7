"""The stages of one question, in order (DESIGN.md, "One question, end to end").

Each stage reads and fills in the request's :class:`~steward.pipeline.turn.Turn` and returns a
:class:`Decision` when the request is decided before an answer is written (a refusal, a hand-off,
a cached answer, nothing to answer from), or None to go on. The last stage, :func:`answer`, is a
generator: it yields the verified sentences it streams (none when the answer is written whole).
Stages never call each other; :mod:`steward.pipeline.runner` drives them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from steward import __version__ as steward_version
from steward.answering.answer import Answerer, AnswerResult, load_passages
from steward.answering.providers.base import AnswerRequest, Passage
from steward.core import channels, reasons
from steward.core.errors import QuestionError
from steward.guard.hidden import (
    COMMENT,
    INVISIBLE,
    Revealed,
    defang_tokens,
    invisible,
    join_split_values,
    latin_look_alikes,
    reveal,
    strip_invisible,
)
from steward.guard.kinds import SECRET_REPLY_WORDS, secret_reply
from steward.guard.pii import Span
from steward.identity.auth import Principal
from steward.models.risk import strongest, windows
from steward.observability import metrics
from steward.pipeline.cache import fingerprint
from steward.pipeline.conversations import is_follow_up, rewrite
from steward.pipeline.decide import Decision, after_answer, before_retrieval
from steward.pipeline.turn import Turn
from steward.pipeline.understand import Signal, courtesy_stripped
from steward.pipeline.understand import understand as read_signals
from steward.retrieval.search import Filter, TermStats, query_terms, stem, term_stats
from steward.retrieval.spelling import Correction
from steward.runtime import Runtime
from steward.sponsor.records_answer import annotate

Stage = Callable[[Runtime, Turn], Decision | None]
PRIORITY = {r.name: i for i, r in enumerate(reasons.ALL)}  # the matrix's order of reasons
REASON_TEXT = {r.name: r.description for r in reasons.ALL}


def validate_question(rt: Runtime, question: object) -> str:
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty — ask something.")
    if len(text) > rt.settings.policy.max_question_chars:
        raise QuestionError(
            f"The question is {len(text):,} characters; the limit is "
            f"{rt.settings.policy.max_question_chars:,} (STEWARD_MAX_QUESTION_CHARS)."
        )
    return text.replace("\x00", " ")


def seal_own_values(
    rt: Runtime, text: str, principal: Principal, found: list[Span] | None = None
) -> None:
    """Keep the asker's own personal values, sealed, so that they (and only they, or an
    authorised reviewer) can see them again: the conversation stays readable to its owner.
    ``found``: the masker's spans of ``text``, when already read."""
    assert rt.vault is not None
    for sp in rt.masker.find(text) if found is None else found:
        raw = text[sp.start : sp.end]
        rt.vault.put(sp.kind, raw, rt.masker.tokens.token(sp.kind, raw), principal.user_id)


_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]\s*")


def output_guard(rt: Runtime, text: str, cited: list[Passage]) -> str:
    """Mask personal values in an answer, except text quoted from the cited passages (which
    were masked at ingestion, with their source's allow-list for published contact points)."""
    pieces = [p for p in _MARKERS.split(text) if p.strip()]
    if pieces and all(any(piece.strip() in p.text for p in cited) for piece in pieces):
        return text  # every sentence is quoted whole: nothing in it would be masked
    spans = [
        sp
        for sp in rt.masker.find(text)
        if not any(text[sp.start : sp.end] in p.text for p in cited)
    ]
    for sp in sorted(spans, key=lambda sp: -sp.start):
        text = (
            text[: sp.start]
            + rt.masker.tokens.token(sp.kind, text[sp.start : sp.end])
            + text[sp.end :]
        )
    return text


# ------------------------------------------------------------------ stages


def guard(rt: Runtime, t: Turn) -> Decision | None:
    """Mask personal data before anything else sees the question."""
    with t.timer.stage("guard"):
        # Zero-width and bidi characters go first: inside a card number they would hide it
        # from the recognizers.
        text, _ = strip_invisible(t.text)
        text = defang_tokens(text)
        # A comment cut into a number would hide it from the recognizers, and the stored
        # question would keep its digits: the comment goes first (its text is still scanned).
        text, split = join_split_values(text)
        t.split_markup = [rt.masker.mask(piece).text for piece in split]
        found = rt.masker.find(text)  # read once: for the masked text and for the vault
        found = _with_secret_reply(rt, t, text, found)
        masked = rt.masker.mask(text, found=found)
        t.masked = masked.text
        if rt.vault is not None and masked.entities:
            seal_own_values(rt, text, t.principal, found)
    return None


def _with_secret_reply(rt: Runtime, t: Turn, text: str, found: list[Span]) -> list[Span]:
    """A short message after the asker's question about a password, a PIN or a security
    answer is dropped as that secret (``secret_reply``), over whatever else was found in it."""
    if len(text.split()) > 2 * SECRET_REPLY_WORDS:
        return found
    previous = previous_question(rt, t)
    extra = secret_reply(text, previous) if previous else []
    if not extra:
        return found
    kept = [sp for sp in found if all(sp.end <= e.start or sp.start >= e.end for e in extra)]
    return sorted(kept + extra, key=lambda sp: sp.start)


def previous_question(rt: Runtime, t: Turn) -> str:
    """The asker's previous question, masked ("" when none): the conversation's last one, or
    the one a client that keeps the history sent. Looked up once a turn (the guard and the
    follow-up rewrite both read it)."""
    if t.previous_masked is None:
        previous = None
        if t.conversation_id is not None:
            previous = rt.conversations.last_question(t.conversation_id)
        if previous is None and t.previous:
            previous = rt.masker.mask(defang_tokens(t.previous)).text
        t.previous_masked = previous or ""
    return t.previous_masked


def visible(rt: Runtime, t: Turn) -> Revealed:
    """The masked question as a reader sees it: hidden content out, masked again when content
    was cut (personal data split around a comment joins up once it is gone)."""
    seen = reveal(t.masked)
    if seen.text != t.masked:
        seen = replace(seen, text=rt.masker.mask(seen.text).text)
    if t.split_markup:
        removed = seen.removed if COMMENT in seen.removed else (*seen.removed, COMMENT)
        seen = Revealed(seen.text, removed, [*seen.hidden, *t.split_markup])
    had_invisible, smuggled = invisible(t.text)
    if had_invisible:
        pieces = [rt.masker.mask(smuggled).text] if smuggled.strip() else []
        seen = Revealed(seen.text, (INVISIBLE, *seen.removed), [*pieces, *seen.hidden])
    return seen


def understand(rt: Runtime, t: Turn) -> Decision | None:
    """Rewrite a follow-up into a standalone question; read intent signals and injection."""
    with t.timer.stage("understand"):
        seen = visible(rt, t)
        # A greeting and a sign-off ask nothing: the question is read without them.
        seen = replace(seen, text=courtesy_stripped(latin_look_alikes(seen.text)))
        t.standalone = seen.text
        if is_follow_up(seen.text):
            previous = previous_question(rt, t)
            if previous:
                t.standalone = rewrite(seen.text, previous)
        seen = replace(seen, text=t.standalone)
        # With the learned risk detector, its phrase lists give way to it (assess_risk).
        t.und = read_signals(
            t.standalone, t.policy.large_amount, rt.injection, seen, phrases=rt.risk is None
        )
    return None


def assess_risk(rt: Runtime, t: Turn) -> Decision | None:
    """The learned risk detector and the center's own escalation rules, beside the built-in
    rules read in :func:`understand` (only where the policy hands conversations off)."""
    assert t.und is not None
    if t.und.refuse or not t.policy.applies_escalation(t.principal.external):
        return None
    text = t.und.question or t.standalone
    found = [
        Signal(rule.reason, f"matches the center's escalation rule for {rule.reason}")
        for rule in t.policy.escalation_rules
        if rule.matches(text)
    ]
    model = rt.risk
    if model is not None:
        with t.timer.stage("risk"):
            pieces = windows(text)
            if t.previous:  # a client that keeps the history (the gateway): its last message too
                pieces.append(rt.masker.mask(defang_tokens(t.previous)).text)
            vectors = None
            if model.embedder_id:
                rest = pieces[1:]  # the first window's vector is the whole question's
                if t.vector is None:  # one batch: the question and its other windows
                    vectors = rt.embedder.embed([text, *rest])
                    t.vector = vectors[0]
                else:
                    vectors = t.vector.reshape(1, -1)
                    if rest:
                        vectors = np.vstack([vectors, rt.embedder.embed(rest)])
            score = strongest(model.score(pieces, vectors, t.policy.risk_threshold))
        t.risk = score
        if score.reason is not None:
            found.append(Signal(score.reason, f"{REASON_TEXT[score.reason]} (risk detector)"))
    if found:
        have = {sig.reason for sig in t.und.signals}
        merged = t.und.signals + [f for f in found if f.reason not in have]
        t.und.signals = sorted(merged, key=lambda sig: PRIORITY.get(sig.reason, len(PRIORITY)))
    return None


def second_opinion(rt: Runtime, t: Turn, decision: Decision) -> Decision:
    """The model judge's verdict on an answer or an abstention (STEWARD_JUDGE): it can turn an
    answer into an abstention and either into a hand-off, never an abstention into an answer."""
    if rt.judge is None or t.und is None or decision.action not in ("answer", "abstain"):
        return decision
    claims = []
    if decision.action == "answer" and t.result is not None:
        claims = [c.text for c in t.result.draft.claims]
    with t.timer.stage("judge"):
        t.judgement = rt.judge.judge(t.und.question or t.standalone, claims)
    risk = t.judgement.risk
    policy = t.policy
    if (
        risk is not None
        and policy.applies_escalation(t.principal.external)
        and risk in policy.escalation_reasons
    ):
        return Decision(
            "escalate",
            f"{REASON_TEXT[risk]} (model judge)",
            risk,
            rule=f"policy:{policy.name}@{policy.version}:judge.{risk}",
        )
    if decision.action == "answer" and t.judgement.answers is False:
        return Decision(
            "abstain",
            "the model judge found that the answer does not address the question",
            rule="answerability.judge",
        )
    return decision


def classify(rt: Runtime, t: Turn) -> Decision | None:
    """The operator's trained intent model, when there is one."""
    assert t.und is not None
    if t.und.refuse or rt.intents is None:
        return None
    with t.timer.stage("intent"):
        t.vector = rt.embedder.embed([t.und.question or t.standalone])[0]
        label, conf = rt.intents.predict([t.und.question], t.vector.reshape(1, -1))[0]
        t.und.intent, t.und.intent_confidence = label, round(conf, 4)
    return None


def screen(rt: Runtime, t: Turn) -> Decision | None:
    """Refusals and hand-offs that need no search."""
    assert t.und is not None
    return before_retrieval(t.und, t.principal, t.policy)


WITH_PERSON = "handoff.with-person"  # the rule of a message that joins a ticket in progress


def with_person(rt: Runtime, t: Turn) -> Decision | None:
    """A conversation a person has (its ticket is still being worked): the message goes to
    that person, joining the ticket, rather than being answered by the assistant beside them."""
    if t.conversation_id is None or rt.conversations.status(t.conversation_id) != "with_human":
        return None
    return Decision(
        "escalate",
        "the conversation is with a person: the message joins its ticket",
        reasons.REVIEW.name,
        rule=WITH_PERSON,
    )


def switches(rt: Runtime, t: Turn) -> Decision | None:
    """The operators' kill switches (operations/switches.py): auto-answers stopped for
    everyone, this center or this intent, or a topic forced to a person. After the refusals
    and the hand-offs with a reason of their own (a fraud report keeps its p1 priority), and
    before the cache, so that no stored answer is served while answers are stopped."""
    assert t.und is not None
    return rt.switches.decide(t.principal, t.und.question or t.standalone, t.und.intent)


def rollout(rt: Runtime, t: Turn) -> Decision | None:
    """Use cases rolled out in waves (sponsor/rollout.py): a question of one from an asker
    outside every open wave gets the previous behaviour (reason ``not_rolled_out``). After
    the kill switches, before the pinned answers and the cache, so that no stored answer
    reaches an asker the use case is not open to. An evaluation measures the assistant itself:
    not gated; a shadow replay is, as its asker would be now."""
    assert t.und is not None
    if t.channel == channels.EVAL:
        return None
    t.rollout, decision = rt.rollout.decide(t.principal, t.und.intent)
    return decision


def pinned(rt: Runtime, t: Turn) -> Decision | None:
    """An operator's approved answer pinned to a pattern of the (masked) question."""
    assert t.und is not None
    sw = rt.switches.pinned(t.principal, t.und.question or t.standalone)
    if sw is None:
        return None
    flt = rt.search.filter_for(t.principal.groups, t.principal.center)
    t.cached = rt.switches.pinned_reply(sw, flt)  # recorded as given, never cached again
    return Decision(
        "answer", f"switch {sw.id}: the operators' approved answer", rule="switch.pin-answer"
    )


def cache_key(rt: Runtime, t: Turn, acl_ids: frozenset[int]) -> tuple[str, str]:
    assert t.und is not None
    # The prompt and the profile version are part of the partition the semantic look-up
    # searches, not only of the exact key: no version ever serves another's answers. Nor does
    # an earlier release of Steward, whose checks may have decided otherwise.
    prompt = (
        f"{rt.answerer.provider.prompt_version}|profile:{rt.profile_version}"
        f"|steward:{steward_version}"
    )
    fp = fingerprint(acl_ids, t.principal.center, f"{t.policy.version}|{prompt}")
    return rt.cache.key(t.und.question, fp, prompt), fp


def look_up(rt: Runtime, t: Turn) -> Decision | None:
    """The asker's permission filter, then the answer cache scoped to it (not for an
    evaluation, which measures retrieval and answering as they are, not a stored reply)."""
    flt = t.flt = rt.search.filter_for(t.principal.groups, t.principal.center)
    if t.channel in channels.OFFLINE:
        return None
    with t.timer.stage("cache"):
        key, fp = cache_key(rt, t, flt.acl_ids)
        hit = rt.cache.get(key, flt.acl_ids, flt.kb_version)
        if hit is None:
            assert t.und is not None
            if t.vector is None:
                t.vector = rt.embedder.embed([t.und.question])[0]
            hit = rt.cache.get_semantic(fp, t.vector, flt.acl_ids, flt.kb_version, t.und.question)
        if hit is not None and not rt.switches.serves_cached(hit.response, flt.kb_version):
            hit = None  # it cites a document switched out, or the provider was switched
        if hit is None:
            rt.cache.record_miss()
            metrics.cache_lookup("miss")
            t.cache_missed = True
            return None
        t.cached, t.cache_kind = hit.response, hit.kind
        rt.cache.record_hit(key, hit.kind, float(hit.response.get("latency_ms", 0.0)))
        metrics.cache_lookup(hit.kind)
    return Decision(
        hit.response["action"],
        hit.response["reason"],
        hit.response.get("escalation_reason"),
        rule=f"cache.{hit.kind}",
    )


def retrieve(rt: Runtime, t: Turn) -> Decision | None:
    """Embed the question (and its parts) and gather the permitted passages."""
    assert t.und is not None and t.flt is not None
    question, parts, t.spelling = spelled(rt, t.und.question, t.und.parts, t.flt)
    if t.spelling:
        t.vector = None  # the question as typed was embedded for the semantic cache
    with t.timer.stage("embed"):
        extra = parts if len(parts) > 1 else []
        if t.vector is None:
            vecs = rt.embedder.embed([question, *extra])
        else:  # the question was embedded for the semantic cache already
            vecs = t.vector.reshape(1, -1)
            if extra:
                vecs = np.vstack([vecs, rt.embedder.embed(extra)])
    qvec = t.vector = vecs[0]
    part_vecs = vecs[1:] if len(parts) > 1 else vecs[:1]
    with t.timer.stage("retrieve"):
        passages, terms = gather(rt, question, parts, qvec, part_vecs, t.flt, t.principal.center)
        # A federated record's field is stated as merged for this asker, with its confidence
        # (or as uncertain), never as one source's word (sponsor/records_answer.py).
        passages = annotate(rt.records, passages, t.flt.acl_ids)
    t.passages = passages
    if not passages:
        return second_opinion(rt, t, after_answer(None, t.policy))
    t.request = rt.answerer.request(question, parts, qvec, np.asarray(part_vecs), passages, terms)
    return None


BEFORE_ANSWER: tuple[Stage, ...] = (
    guard,
    understand,
    assess_risk,
    classify,
    screen,  # a refusal, or a hand-off with its own (more urgent) reason, comes first
    with_person,
    switches,
    rollout,
    pinned,
    look_up,
    retrieve,
)


def answer(rt: Runtime, t: Turn) -> Iterator[str]:
    """Write the answer and verify it. Streaming, each sentence is yielded once verified and
    passed the output guard; otherwise the whole answer is written first and nothing yielded."""
    request = t.request
    assert request is not None
    with t.timer.stage("answer"):
        writer = answerer(rt, t)
        if not t.streaming:
            t.result = _complete(writer, request)
            return
        stream = writer.stream(request)
        for piece in stream:
            piece = output_guard(rt, piece, request.passages)
            t.shown.append(piece)
            yield piece
        t.result = stream.result


def answerer(rt: Runtime, t: Turn) -> Answerer:
    """Who writes: the configured answerer, or the provider a switch names, or the cheaper
    route of a budget whose hard stop holds for this center or intent (docs/costs.md)."""
    chosen = rt.switches.answerer(rt.answerer)
    return rt.budgets.answerer(chosen, t.principal.center, t.und.intent if t.und else None)


def _complete(writer: Answerer, request: AnswerRequest) -> AnswerResult:
    return writer.answer(
        request.question,
        request.parts,
        request.query_vector,
        request.part_vectors,
        request.passages,
        TermStats(request.term_weights, request.unknown_terms, 0, request.missing_weight),
    )


def spelled(
    rt: Runtime, question: str, parts: list[str], flt: Filter
) -> tuple[str, list[str], list[Correction]]:
    """The question and its parts with misspelt words read as the knowledge base's words
    (retrieval/spelling.py), and the corrections made."""
    if rt.speller.vectors is None:
        return question, parts, []
    missing = set(term_stats(rt.index, question, flt).unknown)
    unknown = {w for w in query_terms(question) if stem(w) in missing}
    if not unknown:
        return question, parts, []
    fixed, fixes = rt.speller.correct(question, flt, unknown)
    if not fixes:
        return question, parts, []
    again = {f.typed for f in fixes}
    parts = [rt.speller.correct(p, flt, again)[0] for p in parts]
    return fixed, parts, fixes


def gather(
    rt: Runtime,
    question: str,
    parts: list[str],
    qvec: np.ndarray,
    part_vecs: np.ndarray,
    flt: Filter,
    center: str | None,
) -> tuple[list[Passage], TermStats]:
    """The permitted passages for a question, in rank order, and its word weights: the
    retrieval every answer (and the Meridian benchmarks' replay of it) starts from."""
    k = rt.settings.retrieval.top_k
    hits = rt.search.search(question, qvec, flt, k, reranker=rt.reranker)
    if len(parts) > 1:
        # Each part of a compound question gets its own search, fused after the whole.
        seen = {h.chunk_id for h in hits}
        for i, part in enumerate(parts):
            for h in rt.search.search(part, part_vecs[i], flt, max(3, k // 2)):
                if h.chunk_id not in seen:
                    seen.add(h.chunk_id)
                    hits.append(h)
    passages = load_passages(
        rt.store, hits, rt.embedder.dim, center, flt.acl_ids, rt.embedder.embed
    )
    terms = term_stats(rt.index, question, flt) if passages else TermStats()
    return passages, terms
