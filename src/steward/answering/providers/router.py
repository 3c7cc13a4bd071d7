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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steward.answering.providers.base import AnswerRequest, Draft, Provider
from steward.config.secrets import resolve_secret
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
        self._local = threading.local()  # the current request's route (one request per thread)

    @property
    def last(self) -> dict[str, Any]:
        """The route, provider, failed tries and cost of this thread's latest request."""
        return dict(getattr(self._local, "last", {}))

    def chain(self, request: AnswerRequest) -> list[Routed]:
        route = complexity(request)
        first = self.routes.get(route) or self.routes.get("simple")
        out = [first] if first else []
        return out + [r for r in self.fallback if r not in out]

    def _call(self, routed: Routed, request: AnswerRequest) -> Draft:
        delay = self.retry.backoff_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                draft = routed.provider.complete(request)
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
        self._local.last = {}
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
            self._local.last = {
                "route": complexity(request),
                "provider": routed.name,
                "tried": tried,
                "cost_usd": routed.price.cost(draft.tokens_in, draft.tokens_out),
            }
            draft.model = f"{routed.name}:{draft.model}"
            draft.prompt_version = routed.provider.prompt_version
            return draft
        raise ProviderError("every provider in the chain failed: " + "; ".join(tried))

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """Stream from the first provider that starts; once text has flowed, a failure ends the
        stream (the caller has verified and shown only whole sentences)."""
        tried: list[str] = []
        self._local.last = {}
        for routed in self.chain(request):
            if not routed.breaker.allow():
                tried.append(f"{routed.name}: circuit open")
                continue
            started = False
            try:
                for piece in routed.provider.stream(request):
                    started = True
                    yield piece
                routed.breaker.success()
                self._local.last = {
                    "route": complexity(request),
                    "provider": routed.name,
                    "tried": tried,
                    "prompt_version": routed.provider.prompt_version,
                }
                return
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
    model_config = ConfigDict(extra="forbid")
    kind: Literal["openai", "anthropic", "extractive"]
    model: str | None = None
    base_url: str | None = None
    api_key: Any = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_tokens: int = 300
    price_in: float = Field(default=0.0, ge=0)
    price_out: float = Field(default=0.0, ge=0)


class RouterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelSpec]
    route: dict[Literal["simple", "complex"], str]
    fallback: list[str] = Field(default_factory=lambda: ["extractive"])
    retries: dict[str, float] = Field(default_factory=dict)
    breaker: dict[str, float] = Field(default_factory=dict)


def _build(name: str, spec: ModelSpec, timeout_s: float) -> Routed:
    from steward.answering.providers.anthropic import AnthropicOptions, AnthropicProvider
    from steward.answering.providers.extractive import ExtractiveProvider
    from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions

    key = resolve_secret(spec.api_key)
    provider: Provider
    if spec.kind == "extractive":
        provider = ExtractiveProvider()
    elif spec.kind == "openai":
        if not (spec.base_url and spec.model):
            raise ConfigError(f"Model {name}: `openai` needs base_url and model.")
        provider = OpenAICompatProvider(
            OpenAIOptions(
                base_url=spec.base_url,
                model=spec.model,
                api_key=key,
                timeout_s=min(spec.timeout_s, timeout_s),
                max_tokens=spec.max_tokens,
            )
        )
    else:
        if not spec.model:
            raise ConfigError(f"Model {name}: `anthropic` needs model.")
        provider = AnthropicProvider(
            AnthropicOptions(
                model=spec.model,
                api_key=key,
                base_url=spec.base_url,
                timeout_s=min(spec.timeout_s, timeout_s),
                max_tokens=spec.max_tokens,
            )
        )
    return Routed(name, provider, Price(spec.price_in, spec.price_out))


def load_router(path: Path, timeout_s: float) -> Router:
    """Build the router a providers file describes (unknown keys are errors)."""
    try:
        spec = RouterSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"Cannot read the providers file {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"Providers file {path}: {exc}") from exc
    models = {"extractive": ModelSpec(kind="extractive"), **spec.models}
    built = {n: _build(n, m, timeout_s) for n, m in models.items()}
    for n in [*spec.route.values(), *spec.fallback]:
        if n not in built:
            raise ConfigError(f"Providers file {path}: unknown model {n!r}.")
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
