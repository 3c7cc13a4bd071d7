"""Finding permitted passages: the engines (SQLite, PostgreSQL), hybrid fusion, rerank."""
