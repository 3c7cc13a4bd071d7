"""What an asker outside the organisation sees of a masked value: its kind, not its number.

Tokens are stable across the whole store (``<CARD_6>`` is the same card wherever it was typed
or ingested), which staff need to follow one customer through tickets and audit rows. Shown
to a customer, that number is an oracle: typing someone else's card or e-mail and seeing an
existing number (rather than a new one) tells them the value is known here (the outside
review's finding). Customers therefore see ``<CARD>``; staff see the numbered token.
"""

from __future__ import annotations

import re
from typing import Any

from steward.identity.auth import Principal

TOKEN = re.compile(r"<([A-Z][A-Z_]*)_\d+>")
# What an asker outside the organisation is told of a decision: the action, not the signal.
# Told "reason: mule" or "reports activity the customer did not make", a customer is tipped off
# about a suspicion the bank may not disclose; staff, tickets and the audit row keep the reason.
_PUBLIC_REASON = {
    "answer": "answered from the cited sources",
    "abstain": "no answer could be given from the sources available to you",
    "escalate": "handed to a person",
    "refuse": "the request cannot be served",
}


def shown_to(who: Principal, text: str) -> str:
    """``text`` as ``who`` may see it: masked values without their numbers for externals."""
    return TOKEN.sub(r"<\1>", text) if who.external else text


def escalation_reason_shown_to(who: Principal, reason: str | None) -> str | None:
    """An escalation reason as ``who`` may see it: none for askers outside the organisation."""
    return None if who.external else reason


def decision_shown_to(who: Principal, out: dict[str, Any]) -> dict[str, Any]:
    """A response's ``escalation_reason`` and ``reason`` as ``who`` may see them: for askers
    outside the organisation, no escalation reason and the action's plain wording."""
    if not who.external:
        return out
    action = str(out.get("action", ""))
    return out | {
        "escalation_reason": escalation_reason_shown_to(who, out.get("escalation_reason")),
        "reason": _PUBLIC_REASON.get(action, action),
    }
