"""Settings and secrets: one typed settings object, credentials resolved by the core."""
