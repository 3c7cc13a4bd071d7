"""Answers: providers, answer composition and verification, answer types."""
