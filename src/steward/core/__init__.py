"""Errors, shared types and text basics that every other package may import."""
