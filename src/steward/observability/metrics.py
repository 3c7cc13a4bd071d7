"""Prometheus metrics of this process: what the code counts and times as it serves.

Every family's labels come from a bounded set: route templates, stage and channel names,
decision actions and rule families, provider and model names from the configuration, cache
results. A label value is never a question, a personal value or a user id: each helper below
maps what it is given onto its bounded set (anything else becomes ``other``), so a caller
cannot widen a label by passing free text.

With ``steward serve --workers N`` every worker writes its samples to files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, chosen when the library is
imported) and a scrape answered by any worker adds them all up (:func:`process_collector`).
The gauges that describe shared state (queues, alerts, switches, ingestion) are read from the
store at scrape time instead (``steward.web.metrics``), so they need no per-process files.
"""

from __future__ import annotations

import os
import re

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from steward.core import reasons

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets in seconds: HTTP requests and stages run from a millisecond to a model call.
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "steward_http_requests",
    "HTTP requests served, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "steward_http_request_duration_seconds",
    "Time to serve an HTTP request (the whole body, streamed ones included).",
    ["method", "route"],
    buckets=LATENCY,
    registry=REGISTRY,
)
QUESTION_DURATION = Histogram(
    "steward_question_duration_seconds",
    "Time from an accepted question to its audited decision (the whole pipeline).",
    ["channel"],
    buckets=LATENCY,
    registry=REGISTRY,
)
STAGE_DURATION = Histogram(
    "steward_stage_duration_seconds",
    "Time spent in one stage of the question pipeline.",
    ["stage"],
    buckets=LATENCY,
    registry=REGISTRY,
)
DECISIONS = Counter(
    "steward_decisions",
    "Questions decided, by action, reason (escalation reason or rule family) and center.",
    ["action", "reason", "center"],
    registry=REGISTRY,
)
CACHE = Counter(
    "steward_cache_requests",
    "Answer-cache lookups, by result (exact, semantic, miss).",
    ["result"],
    registry=REGISTRY,
)
PROVIDER_CALLS = Counter(
    "steward_provider_calls",
    "Calls to an answer provider, by provider, model and outcome (ok, error, timeout, rejected).",
    ["provider", "model", "outcome"],
    registry=REGISTRY,
)
PROVIDER_TOKENS = Counter(
    "steward_provider_tokens",
    "Model tokens billed, by provider, model and direction (input, output).",
    ["provider", "model", "direction"],
    registry=REGISTRY,
)
PROVIDER_DURATION = Histogram(
    "steward_provider_call_duration_seconds",
    "Time one provider call took (failed calls included).",
    ["provider", "model"],
    buckets=LATENCY,
    registry=REGISTRY,
)

OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Names the code chooses (stages, channels, rule families, error codes, provider kinds).
_WORD = re.compile(r"[a-z][a-z0-9_.-]{0,47}")
# Names an operator configures (centers, sources, models, severities): no spaces, bounded.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/()+-]{0,79}")
# What the audit row calls a stage, where the word for it differs.
STAGE_LABELS = {"output_guard": "verify"}
REASONS = frozenset(r.name for r in reasons.ALL)

_enabled = True


def set_enabled(on: bool) -> None:
    """Turn recording off or on for this process (the overhead benchmark compares both)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def word(value: str | None) -> str:
    """A name the code chose, or ``other``."""
    return value if value and _WORD.fullmatch(value) else OTHER


def name(value: str | None) -> str:
    """A name from the configuration, or ``other`` (``none`` when there is none)."""
    if value is None:
        return "none"
    return value if _NAME.fullmatch(value) else OTHER


def decision_reason(rule: str, escalation_reason: str | None) -> str:
    """The escalation reason (from the fixed list), else the rule's family: the rule without
    the policy's name and version (``policy:default@3:threshold`` -> ``threshold``) and without
    the ``+streamed`` suffix."""
    if escalation_reason:
        return escalation_reason if escalation_reason in REASONS else OTHER
    family = rule.split("+", 1)[0]
    if family.startswith("policy:"):
        family = family.rsplit(":", 1)[-1]
    return word(family) if family else "none"


# ------------------------------------------------------------------ recording


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    if not _enabled:
        return
    method = method if method in METHODS else OTHER
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def stage(stage_name: str, seconds: float) -> None:
    if _enabled:
        STAGE_DURATION.labels(word(STAGE_LABELS.get(stage_name, stage_name))).observe(seconds)


def decided(
    channel: str,
    action: str,
    rule: str,
    escalation_reason: str | None,
    center: str | None,
    seconds: float,
) -> None:
    """One question's decision (or ``error`` ending) and the time the pipeline took."""
    if not _enabled:
        return
    DECISIONS.labels(word(action), decision_reason(rule, escalation_reason), name(center)).inc()
    QUESTION_DURATION.labels(word(channel)).observe(seconds)


def cache_lookup(result: str) -> None:
    if _enabled:
        CACHE.labels(result if result in ("exact", "semantic", "miss") else OTHER).inc()


def provider_call(
    provider: str, model: str, outcome: str, seconds: float, tokens: tuple[int, int]
) -> None:
    if not _enabled:
        return
    p, m = word(provider), name(model)
    PROVIDER_CALLS.labels(p, m, word(outcome)).inc()
    PROVIDER_DURATION.labels(p, m).observe(seconds)
    if tokens[0]:
        PROVIDER_TOKENS.labels(p, m, "input").inc(tokens[0])
    if tokens[1]:
        PROVIDER_TOKENS.labels(p, m, "output").inc(tokens[1])


# ------------------------------------------------------------------ scraping


def multiprocess_dir() -> str | None:
    """The directory the workers of ``steward serve --workers N`` share, when set."""
    return os.environ.get(MULTIPROC_ENV) or None


def process_collector() -> Collector:
    """What a scrape reads of the counted families: every worker's files in multiprocess mode,
    else this process's own registry."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    from prometheus_client import multiprocess

    return multiprocess.MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]


def mark_dead(pid: int) -> None:
    """Drop a finished worker's live-gauge files (its counters stay: they were counted)."""
    path = multiprocess_dir()
    if path is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
