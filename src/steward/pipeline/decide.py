"""The final action: answer, abstain, escalate or refuse, and why.

Order matters: a refused request is never searched; a hand-off signal beats a confident answer
(the matrix says the assistant must not try to resolve those conversations); below the
threshold Steward does not guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from steward.answering import answerability
from steward.answering.answer import AnswerResult
from steward.answering.providers.base import AnswerRequest
from steward.core import reasons
from steward.core.language import detect, likely, urgent_reason
from steward.identity.auth import Principal
from steward.pipeline.policy import Policy
from steward.pipeline.understand import Understanding


@dataclass(frozen=True)
class Decision:
    action: str  # answer | abstain | escalate | refuse
    reason: str
    escalation_reason: str | None = None
    rule: str = ""


def before_retrieval(und: Understanding, principal: Principal, policy: Policy) -> Decision | None:
    """Decisions that need no search: refusals, then hand-offs (signals, then intents)."""
    if und.refuse:
        return Decision("refuse", und.refuse, rule="guard.injection")
    tag = f"policy:{policy.name}@{policy.version}"
    if policy.applies_escalation(principal.external):
        spoken = detect(und.question)
        # A report of fraud or self-harm in another language is as urgent as in English, which
        # the learned detector reads; a short one may be too short to route by language.
        guess = spoken or likely(und.question)
        if guess != policy.language:
            urgent = urgent_reason(und.question, guess)
            if urgent is not None and urgent in policy.escalation_reasons:
                return Decision(
                    "escalate",
                    f"the question reads as {guess or 'another language'!r} and reports "
                    f"{urgent} in its words",
                    urgent,
                    rule=f"{tag}:language.{urgent}",
                )
        if spoken is not None and spoken != policy.language:
            return Decision(
                "escalate",
                f"the question is in {spoken!r}; this center answers in {policy.language!r}",
                reasons.LANGUAGE.name,
                rule=f"{tag}:language",
            )
        signals = [sig for sig in und.signals if sig.reason in policy.escalation_reasons]
        if signals:
            first = signals[0]
            return Decision(
                "escalate", first.evidence, first.reason, rule=f"{tag}:escalation.{first.reason}"
            )
        if policy.needs_human(und.intent):
            return Decision(
                "escalate",
                f"intent {und.intent} always goes to a person",
                reasons.POLICY.name,
                rule=f"{tag}:always_human_intents",
            )
        if not policy.auto_answer_allowed(und.intent):
            return Decision(
                "escalate",
                f"intent {und.intent} is not answered automatically",
                reasons.POLICY.name,
                rule=f"{tag}:auto_answer_intents",
            )
    return None


def after_answer(
    result: AnswerResult | None,
    policy: Policy,
    request: AnswerRequest | None = None,
    weights_of: Callable[[str], dict[str, float]] | None = None,
    similar: Callable[[str, str], float] | None = None,
) -> Decision:
    """``request``, ``weights_of`` (IDF of a text's words over the asker's permitted passages)
    and ``similar`` (the cosine of two words' vectors) feed the answerability check; without a
    request it is skipped."""
    if result is None or not result.passages:
        return Decision("abstain", "no permitted source matches the question", rule="no-sources")
    if result.draft.no_answer or not result.draft.claims:
        return Decision(
            "abstain", "the sources found do not answer the question", rule="no-grounded-claims"
        )
    if request is not None:
        parts = request.parts or [request.question]
        failure = answerability.check(
            parts,
            result.cited,
            result.passages,
            [c.text for c in result.draft.claims],
            weights_of,
            frozenset(request.unknown_terms),
            similar,
        )
        if failure is not None:
            return Decision(
                "abstain", failure.reason(len(parts)), rule=f"answerability.{failure.check}"
            )
    if result.confidence < policy.answer_threshold:
        action = policy.low_confidence_action
        return Decision(
            action,
            f"confidence {result.confidence:.2f} is below the threshold "
            f"{policy.answer_threshold:.2f}",
            reasons.LOW_CONFIDENCE.name if action == "escalate" else None,
            rule=f"policy:{policy.name}@{policy.version}:threshold",
        )
    return Decision(
        "answer",
        f"grounded answer with confidence {result.confidence:.2f}",
        rule=f"policy:{policy.name}@{policy.version}:threshold",
    )
