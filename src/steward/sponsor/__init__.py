"""The sponsor's view (issue 22): use cases chosen by evidence, rollout in waves behind success
gates, ROI and TCO from live telemetry, data readiness, federated records with confidence."""
