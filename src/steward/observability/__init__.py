"""Logs now; traces and metrics come with the operations work."""
