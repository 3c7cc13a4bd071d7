"""Data readiness audit (issue 22, point 4): per source and per use case, how much of the
knowledge is fit to answer from, and what is wrong with the rest.

Figures: items, usable share, exact and near duplicates, missing metadata (owner, date, access
list), stale items, superseded items (and the answers that still cite them), contradictions
between documents, planted instructions held in quarantine, PII density and access-list
coverage. ``steward readiness`` runs it, the console's Data readiness page shows it, and it runs
again after each sync; every run is kept, so each report shows the change against the previous
run. docs/readiness.md says how each figure is computed and what the audit does not catch.

>>> quality_of(rt, ["meridian-docs"])  # doctest: +SKIP
0.72
"""

from steward.sponsor.readiness.figures import USABLE
from steward.sponsor.readiness.service import (
    KINDS,
    after_sync,
    audit_store,
    findings,
    latest,
    load_use_cases,
    quality_of,
    run,
    trend,
)

__all__ = [
    "KINDS",
    "USABLE",
    "after_sync",
    "audit_store",
    "findings",
    "latest",
    "load_use_cases",
    "quality_of",
    "run",
    "trend",
]
