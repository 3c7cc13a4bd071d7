"""Embedders and learned text models (intents, injection)."""
