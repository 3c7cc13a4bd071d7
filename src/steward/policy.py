"""Per-center rules. For now one policy from settings; per-center YAML files come later.

``escalate_for`` says whose conversations the hand-off rules apply to: a bank's escalation matrix
covers customer conversations, while staff asking how a procedure works get an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from steward.config import Settings


@dataclass(frozen=True)
class Policy:
    name: str = "default"
    version: str = "1"
    answer_threshold: float = 0.55
    low_confidence_action: Literal["abstain", "escalate"] = "abstain"
    escalate_for: Literal["external", "everyone", "nobody"] = "external"
    large_amount: float = 10_000.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            answer_threshold=settings.answer_threshold,
            low_confidence_action=settings.low_confidence_action,
        )

    def applies_escalation(self, external: bool) -> bool:
        return self.escalate_for == "everyone" or (self.escalate_for == "external" and external)
