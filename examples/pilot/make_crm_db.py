"""Build the SQLite file of the example's sql source from crm.sql.

python examples/pilot/make_crm_db.py [OUT]     (default: crm.db beside this file)
"""

import sqlite3
import sys
from pathlib import Path

here = Path(__file__).parent
db = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "crm.db"
db.parent.mkdir(parents=True, exist_ok=True)
db.unlink(missing_ok=True)
with sqlite3.connect(db) as conn:
    conn.executescript((here / "crm.sql").read_text(encoding="utf-8"))
print(f"wrote {db}")
