"""Sources in: connectors, chunking, the sync pipeline and quarantine."""
