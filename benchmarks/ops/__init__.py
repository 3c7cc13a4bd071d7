"""Benchmarks of the operations side (issue #19)."""
