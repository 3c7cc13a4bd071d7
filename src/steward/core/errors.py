"""Every error Steward raises on purpose.

```
StewardError
├── ConfigError                  settings or config files are wrong (start-up, CLI exit 2)
├── InputError           400     a request or file is malformed
│   ├── QuestionError    422     empty, too long, not text
│   ├── InvalidRequest   422     well-formed, but over a limit (e.g. too many messages)
│   ├── PayloadTooLarge  413     a request body or chat history over its limit
│   └── SourceError              one source item cannot be read (ingestion continues)
├── AuthError            401     no identity, unknown or revoked key
├── RateLimited          429     too many requests or failed logins (``retry_after`` s)
├── ForbiddenError       403     identity lacks the role
├── NotFoundError        404     unknown user, audit record, document
├── ConflictError        409     the thing is in a state that does not allow it (a resolved ticket)
├── EmbedderError        503     the embedder cannot load or run
│   └── VectorSpaceError         the store's vectors come from another embedder
├── ProviderError        503     an answer provider failed
│   ├── ProviderRejected         it refused the call (bad key, model, request): no retry
│   └── ProviderTimeout  504
└── GuardError                   PII detection failed: the text is not used (fail closed)
```

HTTP-facing errors carry a class-level ``status`` and ``code``; the API turns any of them into
``{"error": {"code", "message", "request_id"}}`` in one place (``api/errors.py``).
"""

from __future__ import annotations


class StewardError(Exception):
    """Root of Steward's errors."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class ConfigError(StewardError):
    status = 500
    code = "config_error"


class InputError(StewardError):
    status = 400
    code = "bad_request"


class QuestionError(InputError):
    status = 422
    code = "invalid_question"


class SourceError(InputError):
    code = "bad_source_item"


class InvalidRequest(InputError):
    status = 422
    code = "invalid_request"  # as a body that fails validation


class PayloadTooLarge(InputError):
    status = 413
    code = "payload_too_large"


class AuthError(StewardError):
    status = 401
    code = "unauthorized"


class RateLimited(StewardError):
    """Over a rate limit; the client may try again after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, **context: object) -> None:
        super().__init__(message, **context)
        self.retry_after = max(1, int(retry_after))


class ForbiddenError(StewardError):
    status = 403
    code = "forbidden"


class NotFoundError(StewardError):
    status = 404
    code = "not_found"


class ConflictError(StewardError):
    """A well-formed request the target's current state refuses (claiming a resolved ticket):
    the same request may succeed on another target, so not a 400."""

    status = 409
    code = "conflict"


class EmbedderError(StewardError):
    status = 503
    code = "embedder_unavailable"


class VectorSpaceError(EmbedderError):
    code = "embedder_mismatch"


class ProviderError(StewardError):
    status = 503
    code = "provider_unavailable"
    #: False when trying again cannot help (the provider rejected the request or the key).
    retryable: bool = True


class ProviderRejected(ProviderError):
    """The provider refused the call (HTTP 400-404, 422): a wrong key, model or request.
    Retrying sends the same call again, so the router goes straight to its fallback."""

    code = "provider_rejected"
    retryable = False


class ProviderTimeout(ProviderError):
    status = 504
    code = "provider_timeout"


class GuardError(StewardError):
    status = 503
    code = "guard_failed"
