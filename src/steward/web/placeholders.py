"""What an asker outside the organisation sees of a masked value: its kind, not its number.

Tokens are stable across the whole store (``<CARD_6>`` is the same card wherever it was typed
or ingested), which staff need to follow one customer through tickets and audit rows. Shown
to a customer, that number is an oracle: typing someone else's card or e-mail and seeing an
existing number (rather than a new one) tells them the value is known here (the outside
review's finding). Customers therefore see ``<CARD>``; staff see the numbered token.
"""

from __future__ import annotations

import re

from steward.identity.auth import Principal

TOKEN = re.compile(r"<([A-Z][A-Z_]*)_\d+>")


def shown_to(who: Principal, text: str) -> str:
    """``text`` as ``who`` may see it: masked values without their numbers for externals."""
    return TOKEN.sub(r"<\1>", text) if who.external else text
