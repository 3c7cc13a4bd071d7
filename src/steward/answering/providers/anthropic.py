"""Anthropic provider (official SDK; also Bedrock and Vertex through the SDK's own clients).

Same prompt contract as the OpenAI-compatible provider: numbered, fenced passages, a citation
after every sentence, ``NO_ANSWER`` when the passages do not answer. Vendor exceptions become
Steward's in :func:`map_anthropic_error`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from steward.answering.providers.base import AnswerRequest, Draft
from steward.answering.providers.openai_compat import (
    REJECTED,
    parse,
    prompt_version,
    render_passages,
    system_prompt,
)
from steward.core.errors import ConfigError, ProviderError, ProviderRejected, ProviderTimeout

if TYPE_CHECKING:
    from steward.config.settings import Settings


class AnthropicOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_tokens: int = 300
    instructions: str | None = Field(default=None, max_length=4000)


def map_anthropic_error(exc: Exception, provider: str) -> ProviderError:
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderTimeout(f"{provider} timed out", provider=provider)
    if isinstance(exc, anthropic.APIStatusError):
        kind = ProviderRejected if exc.status_code in REJECTED else ProviderError
        return kind(f"{provider} answered HTTP {exc.status_code}", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(f"{provider} is unreachable", provider=provider)
    return ProviderError(f"{provider} failed: {type(exc).__name__}", provider=provider)


class AnthropicProvider:
    name: ClassVar[str] = "anthropic"
    can_stream: ClassVar[bool] = True
    Options: ClassVar[type[BaseModel]] = AnthropicOptions

    def __init__(self, options: AnthropicOptions, http_client: Any = None) -> None:
        from anthropic import Anthropic

        self.opts = options
        self.model = options.model
        self.prompt_version = prompt_version(options.instructions)
        self._client = Anthropic(
            # Unwrapped only here, where the SDK takes it: settings and options never show it.
            api_key=options.api_key.get_secret_value() if options.api_key else "unused",
            base_url=options.base_url,
            timeout=options.timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicProvider:
        """`STEWARD_PROVIDER=anthropic` with STEWARD_ANTHROPIC_MODEL (and its key)."""
        if not settings.answering.anthropic.model:
            raise ConfigError("The `anthropic` provider needs STEWARD_ANTHROPIC_MODEL.")
        try:
            import anthropic  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "The `anthropic` provider needs its SDK: pip install 'steward[anthropic]'."
            ) from exc
        return cls(
            AnthropicOptions(
                model=settings.answering.anthropic.model,
                api_key=settings.answering.anthropic.api_key,
                base_url=settings.answering.anthropic.base_url,
                timeout_s=settings.answering.timeout_s,
                instructions=settings.answering.prompt_instructions,
            )
        )

    def _args(self, request: AnswerRequest) -> dict[str, Any]:
        return {
            "model": self.opts.model,
            "max_tokens": self.opts.max_tokens,
            "system": system_prompt(self.opts.instructions),
            "messages": [{"role": "user", "content": render_passages(request)}],
        }

    def complete(self, request: AnswerRequest) -> Draft:
        import anthropic

        try:
            msg = self._client.messages.create(**self._args(request))
        except anthropic.AnthropicError as exc:
            raise map_anthropic_error(exc, self.name) from exc
        text = "".join(getattr(b, "text", "") for b in msg.content).strip()
        return parse(text, self.model, msg.usage.input_tokens, msg.usage.output_tokens)

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        import anthropic

        try:
            with self._client.messages.stream(**self._args(request)) as events:
                yield from events.text_stream
        except anthropic.AnthropicError as exc:
            raise map_anthropic_error(exc, self.name) from exc
