"""Benchmarks of actions (issue #21)."""
