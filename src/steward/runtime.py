"""The composition root: builds each component once from settings and hands them to callers."""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property, partial
from typing import TYPE_CHECKING

from sqlalchemy import select

from steward import plugins
from steward.config.settings import Settings, load_settings
from steward.core.errors import ConfigError, InputError, VectorSpaceError
from steward.guard.pii import load_or_create_key
from steward.identity.authz import Authorizer, group_grants, role_table
from steward.store import Store, open_store, sealed
from steward.store.models import AclSet

if TYPE_CHECKING:
    from steward.actions.service import ActionService
    from steward.answering.answer import Answerer
    from steward.answering.judge import ModelJudge
    from steward.answering.providers.base import Provider
    from steward.evals.runs import EvalService
    from steward.guard.injection import InjectionDetector
    from steward.guard.pii import Masker
    from steward.guard.vault import Vault
    from steward.identity.auth import TokenVerifier
    from steward.identity.sessions import Sessions
    from steward.models.embeddings import Embedder
    from steward.models.intents import IntentModel
    from steward.models.risk import RiskModel
    from steward.operations.alerts import AlertBook
    from steward.operations.budgets import BudgetService
    from steward.operations.feedback import FeedbackService
    from steward.operations.review import ReviewQueue
    from steward.operations.switches import SwitchBoard
    from steward.pipeline.cache import AnswerCache
    from steward.pipeline.conversations import Conversations
    from steward.pipeline.handoff import HandoffQueue
    from steward.pipeline.policy import Policy, PolicyBook
    from steward.profiles.registry import Profiles
    from steward.retrieval.rerank import Reranker, SentenceReranker
    from steward.retrieval.search import HybridSearch, SearchIndex
    from steward.retrieval.spelling import Speller
    from steward.sponsor.records import RecordService
    from steward.sponsor.rollout import Rollout
    from steward.store.chunks import ChunkRepository

log = logging.getLogger(__name__)


class Runtime:
    """Settings, store and the stages' components for one data home."""

    # Set on a runtime that answers as one assistant profile version (profiles/registry.py);
    # None on the deployment's own, which picks the version per request.
    profile_version: int | None = None

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        provider: Provider | None = None,
    ) -> None:
        """``embedder`` lets several runtimes share one loaded model (tests, benchmarks);
        ``provider`` plugs in a provider object built by the caller."""
        self.settings = settings or load_settings()
        self.settings.ensure_home()
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        # A new PostgreSQL store sizes its vector column for the embedder (asked only then).
        self.store: Store = open_store(self.settings.db_url, vector_dim=lambda: self.embedder.dim)
        # Display names are encrypted at rest with a key derived from the masking key; names
        # stored before (or by a store without the key) are sealed now.
        # The masking key, read once: token digests, sealed columns, erasure's fresh token book.
        self.masking_key = load_or_create_key(self.settings.key_file)
        sealed.bind(self.store.engine, sealed.Sealer(self.masking_key))
        sealed.seal_plain(self.store.engine)
        # Federated records are merged again after each sync of a source (sponsor/records.py).
        self.store.on_event(lambda event: self.records.on_event(event))
        self._lock = threading.RLock()
        self._every_acl: tuple[int, frozenset[int]] | None = None  # (kb version, every ACL id)
        self._space_checked_until = 0.0
        if provider is not None:
            self.__dict__["provider"] = provider
        # Version 1 of the assistant profile, from this configuration, in a store that has
        # none yet (a new one, or the first start after the upgrade that brings profiles).
        self.profiles.ensure_first()

    @cached_property
    def embedder(self) -> Embedder:
        s = self.settings
        embedder: Embedder = plugins.build("steward.embedders", s.embedding.name, s)
        return embedder

    @cached_property
    def index(self) -> SearchIndex:
        from steward.retrieval.engines import open_index

        return open_index(
            self.store, self.embedder.dim, match_share=self.settings.retrieval.pg_common_word_share
        )

    @cached_property
    def chunks(self) -> ChunkRepository:
        """The one writer of chunks: rows, this engine's index, vectors, knowledge version."""
        from steward.knowledge.pipeline import embed_chunk
        from steward.store.chunks import ChunkRepository

        return ChunkRepository(self.index, partial(embed_chunk, self.embedder))

    @property
    def search(self) -> HybridSearch:
        """The hybrid ranker, once the store's vectors are known to compare with the
        embedder's (``check_vector_space``)."""
        self.check_vector_space()
        return self._search

    @cached_property
    def speller(self) -> Speller:
        """Misspelt question words read as the knowledge base's (STEWARD_SPELLING)."""
        from steward.retrieval.spelling import Speller, WordVectors

        vectors = WordVectors.installed() if self.settings.retrieval.spelling else None
        return Speller(self.store, self.index, vectors)

    @cached_property
    def _search(self) -> HybridSearch:
        from steward.retrieval.search import HybridSearch

        s = self.settings
        weights = {"lexical": s.retrieval.weight_lexical, "dense": s.retrieval.weight_dense}
        return HybridSearch(
            self.store,
            self.index,
            s.retrieval.candidates,
            s.retrieval.rrf_k,
            weights,
            exclude=lambda kb: self.switches.excluded(kb),  # operators' exclude switches
        )

    @property
    def vector_space(self) -> str:
        """The model whose vectors this runtime makes (``embedder_space`` names it, if set)."""
        from steward.models.embeddings import vector_space

        return self.settings.embedding.space or vector_space(self.embedder)

    def check_vector_space(self, *, recheck_after_s: float = 5.0) -> None:
        """Refuse to rank while the store holds vectors of another model than the embedder's
        (a question vector compared with them would rank noise). The store's answer is kept a
        few seconds: another process's sync may finish the re-embedding meanwhile."""
        now = time.monotonic()
        if now < self._space_checked_until:
            return
        stored = self.store.get_meta("vector_space")
        if stored and stored != self.vector_space:
            raise VectorSpaceError(
                f"The store's vectors come from {stored}; the configured embedder makes "
                f"{self.vector_space} vectors, which do not compare with them. Configure the "
                "embedder that built the store, or run `steward ingest` to re-embed every "
                "document with this one (search answers again once every document is done)."
            )
        self._space_checked_until = now + recheck_after_s

    @cached_property
    def sentence_reranker(self) -> SentenceReranker:
        from steward.retrieval.rerank import SentenceReranker

        s = self.settings
        return SentenceReranker(
            self.store, self.embedder.dim, s.retrieval.rerank_depth, s.retrieval.rrf_k
        )

    @property
    def reranker(self) -> Reranker | None:
        """The configured reranker, or None (`STEWARD_RERANKER=none`)."""
        name = self.settings.retrieval.reranker
        if name == "none":
            return None
        if name == "sentences":
            return self.sentence_reranker
        raise ConfigError(f"Unknown reranker {name!r}: use `none` or `sentences`.")

    @cached_property
    def masker(self) -> Masker:
        from steward.guard.pii import Masker, TokenBook, recognizers_for

        try:
            recognizers = recognizers_for(self.settings.privacy.pii_recognizers_file)
        except InputError as exc:
            raise ConfigError(f"STEWARD_PII_RECOGNIZERS_FILE: {exc.message}") from exc
        masker = Masker(
            TokenBook(self.store, self.masking_key),
            recognizers=recognizers,
            # The organisation's published contact points are not personal data: the same
            # allow-list mechanism as a source's `pii_allow`, for every text Steward masks.
            allow=[rx for rx in [self.settings.privacy.published_contacts] if rx],
        )
        masker.vocabulary = self._bank_words
        return masker

    def _bank_words(self, text: str) -> bool:
        """Whether every content word of ``text`` occurs in the knowledge base (any access
        list): the bank's own words, such as a product's name. Records' personal values are
        masked in it, so a customer's name is not among them."""
        from steward.retrieval.search import Filter, query_terms

        terms = query_terms(text)
        if not terms:
            return False
        version = self.store.kb_version()
        cached = self._every_acl
        if cached is None or cached[0] != version:
            with self.store.read() as s:
                cached = self._every_acl = (version, frozenset(s.scalars(select(AclSet.id))))
        if not cached[1]:
            return False
        _, counts = self.index.term_counts(terms, Filter(cached[1], kb_version=version))
        return all(counts.get(t, 0) > 0 for t in terms)

    @cached_property
    def provider(self) -> Provider:
        s = self.settings
        if s.answering.providers_file is not None:
            from steward.answering.providers.router import load_router

            return load_router(s.answering.providers_file, s.answering.timeout_s, s.plugins)
        provider: Provider = plugins.build("steward.providers", s.answering.provider, s)
        return provider

    @cached_property
    def judge(self) -> ModelJudge | None:
        """The model's second opinion, when STEWARD_JUDGE turns it on."""
        from steward.answering.judge import ModelJudge

        return ModelJudge.from_settings(self.settings)

    @cached_property
    def answerer(self) -> Answerer:
        from steward.answering.answer import Answerer

        if self.settings.answering.fallback == "none":
            return Answerer(self.provider, fallback=None)
        return Answerer(self.provider)

    @cached_property
    def verifier(self) -> TokenVerifier | None:
        """Validates OIDC bearer tokens when a JWKS file is configured."""
        from steward.identity.auth import OidcConfig, TokenVerifier

        s = self.settings
        if s.identity.oidc_jwks_file is None:
            return None
        if not (s.identity.oidc_issuer and s.identity.oidc_audience):
            raise ConfigError(
                "OIDC needs STEWARD_OIDC_ISSUER and STEWARD_OIDC_AUDIENCE with "
                "STEWARD_OIDC_JWKS_FILE."
            )
        return TokenVerifier(
            OidcConfig(
                jwks_file=s.identity.oidc_jwks_file,
                issuer=s.identity.oidc_issuer,
                audience=s.identity.oidc_audience,
                user_claim=s.identity.oidc_user_claim,
                groups_claim=s.identity.oidc_groups_claim,
                roles_claim=s.identity.oidc_roles_claim,
                leeway_s=s.identity.oidc_leeway_s,
                group_map=dict(s.identity.oidc_group_map),
            )
        )

    @cached_property
    def authz(self) -> Authorizer:
        """Who may do what (the role table, with the configured reveal access); audits denials."""
        return Authorizer(
            self.store,
            role_table(self.settings.privacy.reidentify_access),
            group_grants(self.settings.audit.auditor_group, self.settings.sponsor.sponsor_group),
        )

    @cached_property
    def vault(self) -> Vault | None:
        """The encrypted vault of raw personal values, when a vault key is configured."""
        from steward.guard.vault import Vault, load_vault_key

        secret = self.settings.privacy.vault_key
        key_hex = secret.get_secret_value() if secret is not None else None
        key = load_vault_key(key_hex, self.settings.privacy.vault_key_file)
        if key is None:
            return None
        return Vault(self.store, key, self.masker.tokens, self.authz)

    @cached_property
    def conversations(self) -> Conversations:
        from steward.pipeline.conversations import Conversations

        return Conversations(self.store, self.authz)

    @cached_property
    def sessions(self) -> Sessions:
        """Signed-in browser sessions (the chat page's and the console's cookie)."""
        from steward.identity.sessions import Sessions

        return Sessions(self.store, self.settings.session)

    @cached_property
    def switches(self) -> SwitchBoard:
        """Kill switches and overrides, re-read from the store within STEWARD_SWITCH_REFRESH_S."""
        from steward.operations.switches import SwitchBoard

        return SwitchBoard(
            self.store,
            self.authz,
            lambda text: self.masker.mask(text).text,
            refresh_s=self.settings.control.switch_refresh_s,
            answerer=lambda: self.answerer,
        )

    @cached_property
    def rollout(self) -> Rollout:
        """Use cases rolled out in waves (STEWARD_ROLLOUT_FILE): which askers each serves,
        re-read from the store within STEWARD_SWITCH_REFRESH_S (sponsor/rollout.py)."""
        from steward.sponsor.rollout import Rollout

        return Rollout(self, refresh_s=self.settings.control.switch_refresh_s)

    @cached_property
    def profiles(self) -> Profiles:
        """Assistant profile versions: which answers where, and a runtime per version."""
        from steward.profiles.registry import Profiles

        return Profiles(self, refresh_s=self.settings.control.switch_refresh_s)

    @cached_property
    def budgets(self) -> BudgetService:
        """Spend against the monthly budgets (STEWARD_BUDGETS_FILE) and their hard stop."""
        from steward.operations.budgets import service_for

        return service_for(self)

    @cached_property
    def alerts(self) -> AlertBook:
        """Alert rules (STEWARD_ALERTS_FILE), their states and their deliveries."""
        from steward.operations.alerts import AlertBook

        return AlertBook(self)

    @cached_property
    def evals(self) -> EvalService:
        """Stored evaluation runs and release gates (evals/runs.py, evals/gate.py)."""
        from steward.evals.runs import EvalService

        return EvalService(self)

    @cached_property
    def records(self) -> RecordService:
        """Federated entity records, their confidence and conflict tasks (sponsor/records.py)."""
        from steward.sponsor.records import RecordService

        return RecordService(self)

    @cached_property
    def actions(self) -> ActionService:
        """Tool calls on behalf of askers (actions/service.py)."""
        from steward.actions.service import ActionService

        return ActionService(self)

    @cached_property
    def review(self) -> ReviewQueue:
        """Quality monitoring: flagged answers and reviewers' verdicts."""
        from steward.operations.review import ReviewQueue

        return ReviewQueue(self.store, self.masker, self.authz, self.settings.operations)

    @cached_property
    def feedback(self) -> FeedbackService:
        """Askers' feedback on their own answers (negative feedback flags them for review)."""
        from steward.operations.feedback import FeedbackService

        return FeedbackService(self.store, self.masker, self.authz, self.review)

    @cached_property
    def handoff(self) -> HandoffQueue:
        from steward.pipeline.handoff import HandoffQueue

        return HandoffQueue(self.store, self.conversations, self.masker, self.authz)

    @cached_property
    def cache(self) -> AnswerCache:
        from steward.pipeline.cache import AnswerCache

        return AnswerCache(self.store, self.settings.cache.semantic_cache_threshold)

    @cached_property
    def policies(self) -> PolicyBook:
        from steward.pipeline.policy import Policy, PolicyBook

        return PolicyBook(
            self.settings.policy.policy_dir, Policy.from_settings(self.settings), self.store
        )

    @property
    def policy(self) -> Policy:
        """The default policy (no center)."""
        return self.policies.for_center(None)

    @cached_property
    def injection(self) -> InjectionDetector:
        """Injection rules, plus the operator's trained model if there is one."""
        from steward.guard.injection import InjectionDetector, InjectionModel

        path = self.settings.policy.injection_model or self.settings.home / "guard" / "injection"
        if not path.with_suffix(".json").exists():
            if self.settings.policy.injection_model is not None:
                raise ConfigError(f"No injection model at {path} (STEWARD_INJECTION_MODEL).")
            return InjectionDetector()
        return InjectionDetector(InjectionModel.load(path))

    @cached_property
    def risk(self) -> RiskModel | None:
        """The learned risk detector: the operator's, else the one that ships with Steward. A
        model that reads another embedder's vectors is replaced by its text-only companion."""
        from steward.models.embeddings import vector_space
        from steward.models.risk import RiskModel
        from steward.models.risk import shipped as shipped_risk

        if not self.settings.policy.risk_detector:
            return None
        path = self.settings.policy.risk_model or self.settings.home / "guard" / "risk"
        model: RiskModel | None
        if path.with_suffix(".json").exists():
            model = RiskModel.load(path)
        elif self.settings.policy.risk_model is not None:
            raise ConfigError(f"No risk model at {path} (STEWARD_RISK_MODEL).")
        else:
            model = shipped_risk()
        if model is None:
            return None
        if model.embedder_id and model.embedder_id != vector_space(self.embedder):
            companion = path.with_name(path.name + "-text")
            if companion.with_suffix(".json").exists():
                return RiskModel.load(companion)
            if model is shipped_risk():
                return shipped_risk(text_only=True)
            raise ConfigError(
                f"The risk model {path} reads {model.embedder_id} vectors; this deployment embeds "
                f"with {vector_space(self.embedder)}. Retrain it (steward guard train-risk)."
            )
        return model

    @cached_property
    def intents(self) -> IntentModel | None:
        """The operator's trained intent model, if there is one."""
        from steward.models.intents import IntentModel

        path = self.settings.policy.intent_model or self.settings.home / "intents" / "model"
        if not path.with_suffix(".json").exists():
            if self.settings.policy.intent_model is not None:
                raise ConfigError(f"No intent model at {path} (STEWARD_INTENT_MODEL).")
            return None
        return IntentModel.load(path)

    def warm(self) -> None:
        """Build every component now (and load the model), not on the first request."""
        from steward.retrieval.search import Filter

        with self._lock:
            _ = self._search, self.masker, self.answerer, self.policies, self.verifier, self.vault
            _ = self.intents, self.cache, self.handoff, self.injection, self.risk, self.judge
            from steward.profiles.registry import SHARED

            for name in SHARED:  # what every profile version's runtime shares (the rollout...)
                getattr(self, name)
            vector = self.embedder.embed(["warm up"])[0]
            if self.risk is not None:  # its first reading builds its tables (about a second)
                self.risk.score(
                    ["warm up"], vector.reshape(1, -1) if self.risk.embedder_id else None
                )
            # Every recognizer once (the e-mail one loads its domain-suffix list on first use),
            # and the names model, which the masker may skip on this text, directly (its weights).
            sample = (
                "warm up 4111 1111 1111 1111 jane@example.com +1-206-555-0100 "
                "DE89 3704 0044 0532 0130 00 192.0.2.1 https://example.com 1980-01-31 "
                "Jane Doe called from 12 High Street"
            )
            self.masker.find(sample)
            for recognizer in self.masker.recognizers:
                if getattr(recognizer, "statistical", False):
                    recognizer.find(sample)
            # One search over every access list (results discarded): loads the vectors and
            # the index pages before the first asker waits for them.
            with self.store.read() as s:
                every = frozenset(s.scalars(select(AclSet.id)))
            if every:
                try:
                    self.check_vector_space()
                except VectorSpaceError as exc:  # serve anyway: questions answer 503 with this
                    log.error("%s", exc.message)
                    return
                self._search.search(
                    "warm up", vector, Filter(every, None, self.store.kb_version()), 5
                )
                if self.speller.vectors is not None:  # its words, read once per version
                    self.speller.vocabulary(self.store.kb_version())

    def close(self) -> None:
        self.store.dispose()
