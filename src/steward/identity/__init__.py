"""Who is asking: authentication (API keys, OIDC/JWT) and the directory."""
