"""The old flat attribute names of ``Settings``, declared for mypy only.

``settings.py`` makes each of them a read-only property from its table of leaves (the runtime
never imports this module); ``tests/test_config.py`` checks that this list and that table agree,
names and types. Steward's own code reads the nested paths (``settings.embedding.max_tokens``;
a test holds ``src/`` to it); the flat names stay for third-party plugins' ``from_settings`` and
for scripts written against earlier releases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr


class FlatNames:
    """Annotations only: the flat name, its type, and (in the comment) its nested path."""

    # identity
    oidc_jwks_file: Path | None  # identity.oidc_jwks_file
    oidc_issuer: str | None  # identity.oidc_issuer
    oidc_audience: str | None  # identity.oidc_audience
    oidc_user_claim: str  # identity.oidc_user_claim
    oidc_groups_claim: str  # identity.oidc_groups_claim
    oidc_roles_claim: str | None  # identity.oidc_roles_claim
    oidc_leeway_s: int  # identity.oidc_leeway_s
    oidc_group_map: dict[str, str]  # identity.oidc_group_map
    anonymous_group: str | None  # identity.anonymous_group
    # privacy
    secret_key_file: Path | None  # privacy.secret_key_file
    vault_key_file: Path | None  # privacy.vault_key_file
    vault_key: SecretStr | None  # privacy.vault_key
    reidentify_access: Literal["reviewer", "operator", "admin"]  # privacy.reidentify_access
    pii_recognizers_file: Path | None  # privacy.pii_recognizers_file
    published_contacts: str | None  # privacy.published_contacts
    # embedding
    embedder: str  # embedding.name
    embedder_model_dir: Path | None  # embedding.model_dir
    model_cache: Path  # embedding.cache
    embedder_max_tokens: int  # embedding.max_tokens
    embedder_threads: int  # embedding.threads
    embedder_quantize: Literal["int8", "none"]  # embedding.quantize
    embedder_runtime: Literal["auto", "onnxruntime", "openvino"]  # embedding.runtime
    embedder_base_url: str | None  # embedding.base_url
    embedder_model: str | None  # embedding.model
    embedder_api_key: SecretStr | None  # embedding.api_key
    embedder_space: str | None  # embedding.space
    # retrieval
    retrieval_top_k: int  # retrieval.top_k
    retrieval_candidates: int  # retrieval.candidates
    rrf_k: int  # retrieval.rrf_k
    weight_lexical: float  # retrieval.weight_lexical
    weight_dense: float  # retrieval.weight_dense
    pg_common_word_share: float  # retrieval.pg_common_word_share
    reranker: str  # retrieval.reranker
    rerank_depth: int  # retrieval.rerank_depth
    spelling: bool  # retrieval.spelling
    # answering
    provider: str  # answering.provider
    openai_base_url: str | None  # answering.openai.base_url
    openai_model: str | None  # answering.openai.model
    openai_api_key: SecretStr | None  # answering.openai.api_key
    anthropic_base_url: str | None  # answering.anthropic.base_url
    anthropic_model: str | None  # answering.anthropic.model
    anthropic_api_key: SecretStr | None  # answering.anthropic.api_key
    providers_file: Path | None  # answering.providers_file
    provider_timeout_s: float  # answering.timeout_s
    provider_fallback: Literal["extractive", "none"]  # answering.fallback
    prompt_instructions: str | None  # answering.prompt_instructions
    judge: Literal["off", "openai"]  # answering.judge
    judge_format: Literal["json_schema", "json_object"]  # answering.judge_format
    judge_timeout_s: float  # answering.judge_timeout_s
    # policy
    answer_threshold: float  # policy.answer_threshold
    low_confidence_action: Literal["abstain", "escalate"]  # policy.low_confidence_action
    policy_dir: Path | None  # policy.policy_dir
    intent_model: Path | None  # policy.intent_model
    injection_model: Path | None  # policy.injection_model
    risk_model: Path | None  # policy.risk_model
    risk_detector: bool  # policy.risk_detector
    max_question_chars: int  # policy.max_question_chars
    # cache
    cache_answers: bool  # cache.cache_answers
    semantic_cache_threshold: float  # cache.semantic_cache_threshold
    # http
    host: str  # http.host
    port: int  # http.port
    # limits
    max_body_bytes: int  # limits.max_body_bytes
    max_chat_messages: int  # limits.max_chat_messages
    max_chat_chars: int  # limits.max_chat_chars
    rate_window_s: int  # limits.rate_window_s
    rate_per_key: int  # limits.rate_per_key
    rate_per_user: int  # limits.rate_per_user
    rate_per_center: int  # limits.rate_per_center
    auth_failures_max: int  # limits.auth_failures_max
    auth_failure_window_s: int  # limits.auth_failure_window_s
    # audit
    audit_checkpoint_key_file: Path | None  # audit.checkpoint_key_file
    audit_checkpoint_file: Path | None  # audit.checkpoint_file
    audit_checkpoint_syslog: str | None  # audit.checkpoint_syslog
    audit_checkpoint_interval_s: int  # audit.checkpoint_interval_s
    auditor_group: str | None  # audit.auditor_group
    # telemetry
    metrics_bind: str | None  # telemetry.metrics_bind
    otlp_endpoint: str | None  # telemetry.otlp_endpoint
    service_name: str  # telemetry.service_name
    # session
    session_lifetime_s: int  # session.lifetime_s
    session_idle_s: int  # session.idle_s
    session_secure_cookie: bool  # session.secure_cookie
    oidc_authorize_url: str | None  # session.oidc_authorize_url
    oidc_token_url: str | None  # session.oidc_token_url
    oidc_client_id: str | None  # session.oidc_client_id
    oidc_client_secret: SecretStr | None  # session.oidc_client_secret
    oidc_redirect_url: str | None  # session.oidc_redirect_url
    oidc_scopes: str  # session.oidc_scopes
    # operations
    metric_targets: dict[str, str | None]  # operations.metric_targets
    metric_amber_band: float  # operations.metric_amber_band
    reopen_window_h: float  # operations.reopen_window_h
    prices: dict[str, Any]  # operations.prices
    budgets_file: Path | None  # operations.budgets_file
    review_margin: float  # operations.review_margin
    review_grounding: float  # operations.review_grounding
    review_repeat_similarity: float  # operations.review_repeat_similarity
    review_volume_per_hour: int  # operations.review_volume_per_hour
    # control
    switch_refresh_s: float  # control.switch_refresh_s
    profile_endpoints: str | None  # control.profile_endpoints
    canary_check_s: int  # control.canary_check_s
    canary_max_error_rate: float  # control.canary_max_error_rate
    canary_max_wrong_verdicts: int  # control.canary_max_wrong_verdicts
    canary_min_requests: int  # control.canary_min_requests
    alerts_file: Path | None  # control.alerts_file
    alerts_interval_s: int  # control.alerts_interval_s
    alerts_webhook_url: SecretStr | None  # control.alerts_webhook_url
    alerts_webhook_timeout_s: float  # control.alerts_webhook_timeout_s
    alerts_webhook_attempts: int  # control.alerts_webhook_attempts
    alerts_webhook_backoff_s: float  # control.alerts_webhook_backoff_s
    eval_tolerances: Path | None  # control.eval_tolerances
    # sponsor
    sponsor_group: str | None  # sponsor.sponsor_group
    records_half_life_days: float  # sponsor.records_half_life_days
    records_min_confidence: float  # sponsor.records_min_confidence
    records_conflict_share: float  # sponsor.records_conflict_share
    rollout_file: Path | None  # sponsor.rollout_file
    rollout_interval_s: int  # sponsor.rollout_interval_s
    usecases_file: Path | None  # sponsor.usecases_file
    roi_file: Path | None  # sponsor.roi_file
    readiness_after_sync: bool  # sponsor.readiness_after_sync
    readiness_stale_days: int  # sponsor.readiness_stale_days
    readiness_near_duplicate: float  # sponsor.readiness_near_duplicate
    readiness_citation_days: int  # sponsor.readiness_citation_days
    # actions
    tools_file: Path | None  # actions.tools_file
    actions_policy_file: Path | None  # actions.policy_file
    actions_confirm_ttl_s: int  # actions.confirm_ttl_s
    actions_approval_ttl_s: int  # actions.approval_ttl_s
    actions_signing_key_file: Path | None  # actions.signing_key_file
    actions_assertion_ttl_s: int  # actions.assertion_ttl_s
    actions_token_exchange_url: str | None  # actions.token_exchange_url
    actions_token_exchange_client_id: str | None  # actions.token_exchange_client_id
    actions_sweep_s: int  # actions.sweep_s
    actions_token_exchange_client_secret: SecretStr | None  # actions.token_exchange_client_secret
