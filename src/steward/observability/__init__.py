"""Observability: the request context, JSON logs, Prometheus metrics and OpenTelemetry traces
(docs/observability.md)."""
