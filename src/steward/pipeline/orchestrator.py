"""One question, end to end (DESIGN.md): the entry points every channel calls.

identity (done by the caller) -> guard -> understand -> decide (pre) -> cache -> retrieve ->
answer -> verify -> decide -> audit. The stages live in :mod:`~steward.pipeline.stages`, the
runner that drives them (the same for whole and streamed answers) in
:mod:`~steward.pipeline.runner`, and the recording of a decision in
:mod:`~steward.pipeline.record`. Every accepted question, including refusals and failures, ends
in exactly one audit row.
"""

from __future__ import annotations

from collections.abc import Iterator

from steward.identity.auth import Principal
from steward.pipeline.runner import in_request, run, sent_in_pieces
from steward.pipeline.stages import gather, output_guard, seal_own_values, validate_question
from steward.pipeline.turn import Citation, Response
from steward.runtime import Runtime

__all__ = [
    "Citation",
    "Response",
    "ask",
    "ask_stream",
    "gather",
    "output_guard",
    "seal_own_values",
    "validate_question",
]


def ask(
    rt: Runtime,
    principal: Principal,
    question: str,
    channel: str = "api",
    conversation_id: str | None = None,
    previous: str | None = None,
    profile: str | None = None,
) -> Response:
    """Answer one question for ``principal``; always returns a Response with an audit id.

    With ``conversation_id`` (the asker's own), a follow-up is rewritten into a standalone
    question first; permissions are those of this moment, never of earlier turns. ``profile``
    names an assistant profile (a policy overlay, see policy.py).
    """
    steps = run(
        rt,
        principal,
        question,
        channel=channel,
        conversation_id=conversation_id,
        previous=previous,
        profile=profile,
        streaming=False,
    )
    *_, response = in_request(channel, steps)
    assert isinstance(response, Response)
    return response


def ask_stream(
    rt: Runtime,
    principal: Principal,
    question: str,
    channel: str = "api",
    conversation_id: str | None = None,
    previous: str | None = None,
    profile: str | None = None,
) -> Iterator[str | Response]:
    """Like :func:`ask`, but yields the answer as it is verified, then the Response.

    With a model that streams, each sentence is released only once it is complete, cites a
    permitted passage, is supported by it and has passed the output guard. Refusals, hand-offs,
    cached answers, providers that cannot stream and abstentions are decided first and then
    sent in pieces, so nothing reaches the asker that a whole answer would not have shown.
    """
    steps = run(
        rt,
        principal,
        question,
        channel=channel,
        conversation_id=conversation_id,
        previous=previous,
        profile=profile,
        streaming=rt.answerer.can_stream,
    )
    yield from sent_in_pieces(in_request(channel, steps))
