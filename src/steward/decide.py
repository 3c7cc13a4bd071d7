"""The final action: answer, abstain, escalate or refuse, and why.

Order matters: a refused request is never searched; a hand-off signal beats a confident answer
(the matrix says the assistant must not try to resolve those conversations); below the
threshold Steward does not guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from steward.answer import AnswerResult
from steward.identity import Principal
from steward.policy import Policy
from steward.understand import Understanding


@dataclass(frozen=True)
class Decision:
    action: str  # answer | abstain | escalate | refuse
    reason: str
    escalation_reason: str | None = None
    rule: str = ""


def before_retrieval(und: Understanding, principal: Principal, policy: Policy) -> Decision | None:
    """Decisions that need no search: refusals and hand-offs."""
    if und.refuse:
        return Decision("refuse", und.refuse, rule="guard.injection")
    if und.signals and policy.applies_escalation(principal.external):
        first = und.signals[0]
        return Decision(
            "escalate",
            first.evidence,
            first.reason,
            rule=f"policy:{policy.name}@{policy.version}:escalation.{first.reason}",
        )
    return None


def after_answer(result: AnswerResult | None, policy: Policy) -> Decision:
    if result is None or not result.passages:
        return Decision("abstain", "no permitted source matches the question", rule="no-sources")
    if result.draft.no_answer or not result.draft.claims:
        return Decision(
            "abstain", "the sources found do not answer the question", rule="no-grounded-claims"
        )
    if result.confidence < policy.answer_threshold:
        action = policy.low_confidence_action
        return Decision(
            action,
            f"confidence {result.confidence:.2f} is below the threshold "
            f"{policy.answer_threshold:.2f}",
            "low_confidence" if action == "escalate" else None,
            rule=f"policy:{policy.name}@{policy.version}:threshold",
        )
    return Decision(
        "answer",
        f"grounded answer with confidence {result.confidence:.2f}",
        rule=f"policy:{policy.name}@{policy.version}:threshold",
    )
