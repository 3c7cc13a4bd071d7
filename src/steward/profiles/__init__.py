"""Assistant profiles: versioned settings that shape answers, activated per center through a
gate and a second person's approval (docs/profiles.md)."""
