"""Routing between providers: simple questions to a small model, complex ones to a strong one,
with retries, a circuit breaker per provider and a fallback chain that ends at a grounded answer.

The router is itself a Provider, so the rest of Steward does not know whether one model or five
stand behind it. It never produces text on its own: every draft comes from a provider, and the
answer stage still checks every claim against the cited passages.

Configured in a YAML file (``STEWARD_PROVIDERS_FILE``)::

    models:
      small:  {kind: openai, base_url: http://127.0.0.1:8080/v1, model: gemma-3-270m,
               price_in: 0.0, price_out: 0.0}          # USD per 1,000 tokens
      strong: {kind: anthropic, model: claude-sonnet, api_key: {$env: ANTHROPIC_API_KEY},
               price_in: 0.003, price_out: 0.015}
    route: {simple: small, complex: strong}
    fallback: [small, extractive]                      # tried in order after the route fails
    retries: {attempts: 2, backoff_s: 0.2}
    breaker: {failures: 3, cooldown_s: 30}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steward import plugins
from steward.answering.providers import base
from steward.answering.providers.base import AnswerRequest, Draft, Provider
from steward.config.secrets import resolve_secret
from steward.config.yamlfile import describe, first_error, load_yaml
from steward.core.errors import ConfigError, ProviderError
from steward.retrieval.search import query_terms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 2
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0


@dataclass
class CircuitBreaker:
    """Opens after ``failures`` consecutive errors. After ``cooldown_s`` it is half-open: exactly
    one trial call goes through (every other caller is turned away meanwhile); a success closes
    it, a failure opens it for another cooldown."""

    failures: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _count: int = 0
    _opened_at: float | None = None
    _trial: bool = False  # the half-open trial call is in flight
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half-open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count, self._opened_at, self._trial = 0, None, False

    def release(self) -> None:
        """A call ended without an outcome (its reader went away): let another trial through."""
        with self._lock:
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._trial or self._count >= self.failures:
                self._opened_at = self.clock()
            self._trial = False


@dataclass(frozen=True)
class Price:
    per_1k_in: float = 0.0
    per_1k_out: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return round(tokens_in / 1000 * self.per_1k_in + tokens_out / 1000 * self.per_1k_out, 8)


def complexity(request: AnswerRequest) -> Literal["simple", "complex"]:
    """Compound questions, long questions and answers spread over several documents are
    complex; the rest is simple."""
    docs = {p.doc_id for p in request.passages[:5]}
    if len(request.parts) > 1 or len(query_terms(request.question)) > 14 or len(docs) >= 4:
        return "complex"
    return "simple"


@dataclass
class Routed:
    name: str
    provider: Provider
    price: Price = field(default_factory=Price)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


class Router:
    """A Provider that picks, retries and falls back."""

    name: ClassVar[str] = "router"
    can_stream: ClassVar[bool] = True
    composite: ClassVar[bool] = True  # calls no model itself: each provider's call is observed

    def __init__(
        self,
        routes: dict[str, Routed],
        fallback: list[Routed],
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.routes = routes
        self.fallback = fallback
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        first = routes.get("simple") or next(iter(routes.values()))
        self.model = f"router({first.provider.model})"
        # One version for the whole configuration (it keys the answer cache): fixed at start,
        # never changed by a request. The draft carries the version of the provider that wrote it.
        versions = sorted({r.provider.prompt_version for r in [*routes.values(), *fallback]})
        self.prompt_version = "router:" + "+".join(versions)
        # For inspection only (tests, a console): the answer path reads the route from the
        # draft or the stream's return value, never from here.
        self._last: ContextVar[dict[str, Any]] = ContextVar(f"router_last_{id(self)}")

    @property
    def last(self) -> dict[str, Any]:
        """The route, provider, failed tries and cost of the latest request in this context."""
        return dict(self._last.get({}))

    def chain(self, request: AnswerRequest) -> list[Routed]:
        route = complexity(request)
        first = self.routes.get(route) or self.routes.get("simple")
        out = [first] if first else []
        return out + [r for r in self.fallback if r not in out]

    def _call(self, routed: Routed, request: AnswerRequest) -> Draft:
        delay = self.retry.backoff_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                draft = base.complete(routed.provider, request)
                routed.breaker.success()
                return draft
            except ProviderError as exc:
                routed.breaker.failure()
                if (
                    not exc.retryable
                    or attempt == self.retry.attempts
                    or not routed.breaker.allow()
                ):
                    raise
                self._sleep(delay)
                delay = min(delay * 2, self.retry.max_backoff_s)
        raise AssertionError("unreachable")

    def complete(self, request: AnswerRequest) -> Draft:
        tried: list[str] = []
        self._last.set({})
        for routed in self.chain(request):
            if not routed.breaker.allow():
                tried.append(f"{routed.name}: circuit open")
                continue
            try:
                draft = self._call(routed, request)
            except ProviderError as exc:
                tried.append(f"{routed.name}: {exc.code}")
                log.warning("provider failed", extra={"provider": routed.name, "err": exc.code})
                continue
            draft.route = {
                "route": complexity(request),
                "provider": routed.name,
                "tried": tried,
                "cost_usd": routed.price.cost(draft.tokens_in, draft.tokens_out),
            }
            self._last.set(dict(draft.route))
            draft.model = f"{routed.name}:{draft.model}"
            draft.prompt_version = routed.provider.prompt_version
            return draft
        raise ProviderError("every provider in the chain failed: " + "; ".join(tried))

    def stream(self, request: AnswerRequest) -> Generator[str, None, dict[str, Any]]:
        """Stream from the first provider that starts; once text has flowed, a failure ends the
        stream (the caller has verified and shown only whole sentences). Returns the route
        taken (the generator's value), which the answer stage records with the result."""
        tried: list[str] = []
        self._last.set({})
        for routed in self.chain(request):
            if not routed.breaker.allow():
                tried.append(f"{routed.name}: circuit open")
                continue
            started = False
            try:
                pieces = base.stream(routed.provider, request)
                while True:
                    try:
                        piece = next(pieces)
                    except StopIteration as end:  # the provider's own return: its usage
                        inner = end.value if isinstance(end.value, dict) else {}
                        break
                    started = True
                    yield piece
                routed.breaker.success()
                tokens = inner.get("tokens")
                if tokens is None and not routed.provider.can_stream:
                    tokens = [0, 0]  # a replayed draft (extractive): no model, no tokens
                usage: dict[str, Any] = (
                    {"tokens": tokens, "cost_usd": routed.price.cost(*map(int, tokens[:2]))}
                    if tokens is not None
                    else {"usage": "unreported"}  # priced as unknown, never as free
                )
                route = {
                    **usage,
                    "route": complexity(request),
                    "provider": routed.name,
                    "tried": tried,
                    "prompt_version": routed.provider.prompt_version,
                    "model": f"{routed.name}:{routed.provider.model}",  # as complete() names it
                }
                self._last.set(dict(route))
                return route
            except ProviderError as exc:
                routed.breaker.failure()
                tried.append(f"{routed.name}: {exc.code}")
                if started:
                    raise
            except GeneratorExit:
                routed.breaker.release()  # the reader left: the call proved nothing
                raise
        raise ProviderError("every provider in the chain failed: " + "; ".join(tried))


# ------------------------------------------------------------------ configuration


class ModelSpec(BaseModel):
    """One model of the providers file: the router's own keys; every other key is the
    provider's option, checked by its ``Options`` model (a typo is an error there)."""

    model_config = ConfigDict(extra="allow")
    kind: str  # a provider plugin: extractive, openai, anthropic or a third party's
    timeout_s: float = Field(default=30.0, gt=0)
    price_in: float = Field(default=0.0, ge=0)
    price_out: float = Field(default=0.0, ge=0)


class RouterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelSpec]
    route: dict[Literal["simple", "complex"], str]
    fallback: list[str] = Field(default_factory=lambda: ["extractive"])
    retries: dict[str, float] = Field(default_factory=dict)
    breaker: dict[str, float] = Field(default_factory=dict)


def _build(name: str, spec: ModelSpec, timeout_s: float, allowed: str | None) -> Routed:
    """A provider from the same entry points as ``STEWARD_PROVIDER`` (and the same
    ``STEWARD_PLUGINS`` limit): built-in and third-party providers alike."""
    cls = plugins.load("steward.providers", spec.kind, allowed)
    options: dict[str, Any] = resolve_secret(dict(spec.model_extra or {}))
    if "timeout_s" in cls.Options.model_fields:  # the global timeout caps each model's
        options["timeout_s"] = min(spec.timeout_s, timeout_s)
    try:
        provider: Provider = cls(cls.Options.model_validate(options))
    except ValidationError as exc:
        detail = describe(first_error(exc), cls.Options, also=tuple(ModelSpec.model_fields))
        raise ConfigError(f"models.{name} ({spec.kind}): {detail}") from exc
    return Routed(name, provider, Price(spec.price_in, spec.price_out))


def load_router(path: Path, timeout_s: float, allowed: str | None = None) -> Router:
    """Build the router a providers file describes (unknown keys are errors); ``allowed`` is
    ``STEWARD_PLUGINS``."""
    spec = load_yaml(path, RouterSpec, what="Providers file", error=ConfigError)
    models = {"extractive": ModelSpec(kind="extractive"), **spec.models}
    used = [*spec.route.values(), *spec.fallback]
    for n in used:
        if n not in models:
            raise ConfigError(f"Providers file {path}: unknown model {n!r}.")
    # The implicit `extractive` is built only where it is used: STEWARD_PLUGINS may leave it out.
    wanted = {n: m for n, m in models.items() if n in spec.models or n in used}
    try:
        built = {n: _build(n, m, timeout_s, allowed) for n, m in wanted.items()}
    except ConfigError as exc:
        raise ConfigError(f"Providers file {path}: {exc.message}") from exc
    breaker = {k: spec.breaker[k] for k in ("failures", "cooldown_s") if k in spec.breaker}
    for r in built.values():
        r.breaker = CircuitBreaker(
            failures=int(breaker.get("failures", 3)),
            cooldown_s=float(breaker.get("cooldown_s", 30.0)),
        )
    retry = RetryPolicy(
        attempts=int(spec.retries.get("attempts", 2)),
        backoff_s=float(spec.retries.get("backoff_s", 0.2)),
    )
    return Router(
        {k: built[v] for k, v in spec.route.items()}, [built[n] for n in spec.fallback], retry
    )
