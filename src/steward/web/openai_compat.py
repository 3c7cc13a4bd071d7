"""OpenAI-compatible gateway: `POST /v1/chat/completions` and `GET /v1/models`.

Existing clients (the official `openai` SDK and anything built on it) get governed, cited
answers: identity comes from the bearer key or token, the `model` field names an assistant
profile, and the last user message is the question (an earlier one is used to rewrite a
follow-up). Answers carry their sources in the text and, in full, in a `steward` field.
Streamed output passes the same checks as whole answers: a sentence is sent only once verified.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from ulid import ULID

from steward.core import reasons
from steward.core.errors import (
    InputError,
    InvalidRequest,
    NotFoundError,
    PayloadTooLarge,
    StewardError,
)
from steward.identity.auth import Principal
from steward.observability.context import request_id
from steward.pipeline.orchestrator import Response, ask, ask_stream
from steward.runtime import Runtime
from steward.web.deps import principal, runtime
from steward.web.errors import error_body, responses
from steward.web.placeholders import escalation_reason_shown_to, shown_to

router = APIRouter(tags=["openai-compatible"])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    # Clients send many optional OpenAI parameters (temperature, top_p, ...): accepted, unused.
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False


class StewardInfo(BaseModel):
    action: str
    citations: list[dict[str, Any]]
    confidence: float
    escalation_reason: str | None = Field(description=reasons.FIELD_DESCRIPTION)
    audit_id: str
    conversation_id: str | None
    ticket_id: str | None


class ChatChoice(BaseModel):
    index: int
    message: dict[str, str]
    finish_reason: str


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    steward: StewardInfo


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# Where a sentence or a line ends: a cut is made there, never inside one.
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)|\n")


def _recent(previous: str, limit: int) -> str | None:
    """At most the last ``limit`` characters of an earlier message, from the start of a
    sentence or a line: cut inside one, a value could lose the word that marks it ("cvv 481"
    cut to "vv 481" is masked as nothing), and the cut is made before masking, since masking
    a long message is what the cut saves. None when no sentence ends in that stretch."""
    if len(previous) <= limit:
        return previous
    piece = previous[-limit:]
    end = _SENTENCE_END.search(piece)
    return piece[end.end() :].strip() or None if end else None


def _question(body: ChatRequest, limit: int) -> tuple[str, str | None]:
    """The last user message, and the one before it as context: only its recent sentences,
    within the question's own limit (``_recent``), so a long earlier message cannot make a
    follow-up cost what no question may (it is masked, rewritten and read for risk)."""
    users = [m.text() for m in body.messages if m.role == "user" and m.text().strip()]
    if not users:
        raise InputError("messages: no user message with text to answer.")
    return users[-1], (_recent(users[-2], limit) if len(users) > 1 else None)


def _content(r: Response) -> str:
    if not r.citations:
        return r.answer
    sources = "\n".join(f"[{i}] {c.title} ({c.doc_id})" for i, c in enumerate(r.citations, 1))
    return f"{r.answer}\n\nSources:\n{sources}"


def _usage(r: Response) -> dict[str, int]:
    """The model tokens this request used, as the audit row records them."""
    return {
        "prompt_tokens": r.tokens[0],
        "completion_tokens": r.tokens[1],
        "total_tokens": sum(r.tokens),
    }


def _info(who: Principal, r: Response) -> StewardInfo:
    return StewardInfo(
        action=r.action,
        citations=[c.as_dict() for c in r.citations],
        confidence=r.confidence,
        escalation_reason=escalation_reason_shown_to(who, r.escalation_reason),
        audit_id=r.audit_id,
        conversation_id=r.conversation_id,
        ticket_id=r.ticket_id,
    )


def _check_size(rt: Runtime, body: ChatRequest) -> None:
    """The gateway's own limits, checked before anything is asked or streamed: the body limit
    bounds bytes, these bound what the runner and the rewrite may be handed."""
    cfg = rt.settings.limits
    if len(body.messages) > cfg.max_chat_messages:
        raise InvalidRequest(
            f"messages: {len(body.messages)} messages; the limit is {cfg.max_chat_messages} "
            "(STEWARD_MAX_CHAT_MESSAGES). Send only the recent turns."
        )
    chars = sum(len(m.text()) for m in body.messages)
    if chars > cfg.max_chat_chars:
        raise PayloadTooLarge(
            f"messages: {chars:,} characters of text; the limit is {cfg.max_chat_chars:,} "
            "(STEWARD_MAX_CHAT_CHARS). Send only the recent turns."
        )


def _profile(rt: Runtime, model: str) -> str:
    if model not in rt.policies.profiles():
        raise NotFoundError(f"No assistant profile {model[:64]!r}; GET /v1/models lists them.")
    return model


@router.get("/v1/models", response_model=ModelList, responses=responses(401, 500))
async def models(
    rt: Annotated[Runtime, Depends(runtime)], _who: Annotated[Principal, Depends(principal)]
) -> ModelList:
    """Assistant profiles, as models."""
    return ModelList(
        data=[ModelCard(id=p, created=0, owned_by="steward") for p in rt.policies.profiles()]
    )


def _sse(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _stream(
    rt: Runtime, who: Principal, question: str, previous: str | None, profile: str
) -> Iterator[str]:
    """The SSE events of one streamed answer. The first step decides (and, unless a model is
    streaming, audits) the question before anything is yielded, so the endpoint can still turn
    an early error into its HTTP status, and a client that hangs up after the headers does not
    leave the request unanswered on the record. A failure after the first event is sent as an
    error event (the OpenAI convention), and the stream then closes cleanly."""
    steps = ask_stream(rt, who, question, "chat", None, previous, profile)
    first = next(steps)
    cid = f"chatcmpl-{ULID()}"  # unique per stream (seconds were shared by two streams)
    base = {"object": "chat.completion.chunk", "created": int(time.time()), "model": profile}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({**base, "id": cid, "choices": [choice], **extra})

    yield event({"role": "assistant"})
    try:
        for item in itertools.chain([first], steps):
            if not isinstance(item, Response):
                yield event({"content": shown_to(who, item)})
                continue
            tail = _content(item)[len(item.answer) :]
            if tail:
                yield event({"content": shown_to(who, tail)})
            yield event({}, "stop", usage=_usage(item), steward=_info(who, item).model_dump())
    except StewardError as exc:
        rid = request_id() or ""
        yield _sse(error_body(exc.code, exc.message, rid))
    yield "data: [DONE]\n\n"


@router.post(
    "/v1/chat/completions",
    response_model=ChatResponse,
    responses=responses(400, 401, 403, 404, 413, 422, 500),
)
async def chat_completions(
    body: ChatRequest,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> ChatResponse | StreamingResponse:
    """Governed answers for OpenAI-compatible clients (streaming with `"stream": true`)."""
    _check_size(rt, body)
    profile = _profile(rt, body.model)
    question, previous = _question(body, rt.settings.policy.max_question_chars)
    if body.stream:
        # Each step runs in a worker thread with a copy of this request's context (its request
        # id); ask_stream then keeps one context for the whole answer (runner.in_request).
        events = _stream(rt, who, question, previous, profile)
        # The first event is made here, before the response starts: an error until then
        # (another asker's conversation, the embedder refused) is an HTTP error, not a cut.
        first = await run_in_threadpool(next, events)
        return StreamingResponse(
            iterate_in_threadpool(itertools.chain([first], events)),
            media_type="text/event-stream",
        )
    r = await run_in_threadpool(ask, rt, who, question, "chat", None, previous, profile)
    return ChatResponse(
        id=f"chatcmpl-{r.audit_id}",
        created=int(time.time()),
        model=profile,
        choices=[
            ChatChoice(
                index=0,
                message={"role": "assistant", "content": shown_to(who, _content(r))},
                finish_reason="stop",
            )
        ],
        usage=_usage(r),
        steward=_info(who, r),
    )
