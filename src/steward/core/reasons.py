"""Escalation reasons: the one list of why a conversation goes to a person.

Every other place reads this module: the risk signals (``pipeline/understand.py``), the policy
files that choose which signals hand off (``pipeline/policy.py``), the decision
(``pipeline/decide.py``), ticket priorities (``pipeline/handoff.py``), the API's response models
and the docs (``docs/conversations.md``, checked by ``tests/test_config.py``). The names are
stored in audit rows and tickets: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Priority = Literal["p1", "p2", "p3"]


@dataclass(frozen=True)
class EscalationReason:
    name: str
    description: str
    priority: Priority  # the ticket's priority, which sets its SLA timer
    signal: bool = False  # a risk signal in the question, which a policy may list


FRAUD = EscalationReason(
    "fraud", "reports activity the customer did not make or authorise", "p1", signal=True
)
LOCATION_MISMATCH = EscalationReason(
    "location_mismatch", "money movement with a location that does not match", "p1", signal=True
)
VULNERABLE = EscalationReason(
    "vulnerable", "signs of vulnerability or third-party pressure", "p2", signal=True
)
LEGAL = EscalationReason("legal", "mentions legal action or legal process", "p2", signal=True)
EMOTIONAL = EscalationReason("emotional", "signs of distress", "p1", signal=True)
MONEY_MOVEMENT = EscalationReason(
    "money_movement", "asks to move a large amount (the policy's large_amount)", "p2", signal=True
)
LANGUAGE = EscalationReason(
    "language", "the question is in another language than the center answers in", "p3"
)
POLICY = EscalationReason(
    "policy", "the intent always goes to a person or is not answered automatically", "p3"
)
LOW_CONFIDENCE = EscalationReason(
    "low_confidence", "confidence below the center's threshold with `escalate` set", "p3"
)
REVIEW = EscalationReason(
    "review", "handed to a person without a more specific reason (the fallback)", "p3"
)

# Risk signals first, in priority order: a conversation is handed off once, with the first
# signal that its policy lists, so this order is part of the behaviour.
ALL: tuple[EscalationReason, ...] = (
    FRAUD,
    LOCATION_MISMATCH,
    VULNERABLE,
    LEGAL,
    EMOTIONAL,
    MONEY_MOVEMENT,
    LANGUAGE,
    POLICY,
    LOW_CONFIDENCE,
    REVIEW,
)
BY_NAME: dict[str, EscalationReason] = {r.name: r for r in ALL}
# The reasons a policy's ``escalation_reasons`` may list (risk signals), in priority order.
SIGNALS: tuple[str, ...] = tuple(r.name for r in ALL if r.signal)
PRIORITY: dict[str, Priority] = {r.name: r.priority for r in ALL}


# The API's description of an ``escalation_reason`` field, so the OpenAPI spec lists them.
FIELD_DESCRIPTION = (
    "Why the conversation goes to a person (set when action is escalate): "
    + ", ".join(f"`{r.name}`" for r in ALL)
    + " (docs/conversations.md). Null for askers outside the organisation (customers), who "
    "are not told why: the ticket and the audit row keep it."
)
