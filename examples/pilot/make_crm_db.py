"""Build crm.db (SQLite) beside this file from crm.sql, for the sql source of sources.yaml."""

import sqlite3
from pathlib import Path

here = Path(__file__).parent
db = here / "crm.db"
db.unlink(missing_ok=True)
with sqlite3.connect(db) as conn:
    conn.executescript((here / "crm.sql").read_text(encoding="utf-8"))
print(f"wrote {db}")
