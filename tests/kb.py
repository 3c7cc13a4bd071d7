"""Builders for small knowledge bases written to disk by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

DIRECTORY = """\
organization: Test Org
centers: [north, south]
groups:
  - {id: customers, name: Customers, external: true, description: Customers}
  - {id: all_staff, name: All staff, external: false, description: Everyone}
  - {id: finance, name: Finance, external: false, description: Finance team}
users:
  - {id: cara, display_name: Cara Customer, groups: [customers], center: north, role: customer}
  - {id: sam, display_name: Sam Staff, groups: [all_staff], center: north, role: agent}
  - {id: fin, display_name: Fin Finance, groups: [all_staff, finance], center: null, role: analyst}
  - {id: nora, display_name: Nora North, groups: [all_staff], center: north, role: agent}
  - {id: solo, display_name: Solo South, groups: [all_staff], center: south, role: agent}
  - {id: ops, display_name: Op Erator, groups: [all_staff], center: null, role: operator,
     access: operator}
  - {id: nobody, display_name: No Groups, groups: [], center: null, role: guest}
"""

DOCS = {
    "pub-fees.md": """\
---
id: pub-fees
title: Account Fees 2025
source: portal
owner: Products
updated: 2025-03-01
acl: [customers, all_staff]
sensitivity: public
supersedes: pub-fees-old
---
# Account Fees 2025

## Monthly fee

The monthly maintenance fee is $12, waived when you keep $2,000 or more in the account.

## Wire transfers

Outgoing domestic wires cost $25 each. International wires cost $45 each.
""",
    "pub-fees-old.md": """\
---
id: pub-fees-old
title: Account Fees 2023
source: portal
owner: Products
updated: 2023-01-01
acl: [customers, all_staff]
sensitivity: public
---
# Account Fees 2023

## Monthly fee

The monthly maintenance fee is $15, waived when you keep $2,500 or more in the account.
""",
    "int-budget.md": """\
---
id: int-budget
title: Finance Budget Memo
source: dms
owner: Finance
updated: 2025-02-01
acl: [finance]
sensitivity: restricted
---
# Finance Budget Memo

## Secret figures

The confidential marketing budget for next year is $7.3 million, code name Bluefin.
""",
    "int-north.md": """\
---
id: int-north
title: North Office Procedures
source: wiki
owner: North
updated: 2025-01-10
acl: [all_staff]
sensitivity: internal
center: north
---
# North Office Procedures

## Callbacks

Callbacks promised to a customer must happen within 3 business hours.
""",
    "int-south.md": """\
---
id: int-south
title: South Office Procedures
source: wiki
owner: South
updated: 2025-01-10
acl: [all_staff]
sensitivity: internal
center: south
---
# South Office Procedures

## Callbacks

Callbacks promised to a customer must happen within 6 business hours.
""",
}

FAQ = (
    "id,question,answer,updated,acl\n"
    'faq-1,How do I reset my card PIN?,"Reset your PIN in the app under Cards > PIN, or at any '
    'branch.",2025-01-01,customers;all_staff\n'
    'faq-2,What is the staff discount?,"Staff get 10% off all account fees.",2025-01-01,'
    "all_staff\n"
)

TICKETS = [
    {
        "id": "T-1",
        "customer_name": "Quentin Marlowe",
        "email": "quentin.marlowe@example.com",
        "phone": "+1-206-555-0199",
        "card": "4111 1111 1111 1111",
        "subject": "Card declined abroad",
        "transcript": "Customer: Hi, this is Quentin Marlowe, my card 4111-1111-1111-1111 was "
        "declined in Paris. Call me on 206-555-0199 or mail quentin.marlowe@example.com.",
        "resolution": "Travel notice added; card working again.",
        "acl": ["all_staff"],
    },
    {
        "id": "T-2",
        "customer_name": "Priscilla Vantongeren",
        "email": "p.vantongeren@example.com",
        "phone": "+1-206-555-0142",
        "card": "5555 5555 5555 4444",
        "subject": "Address change",
        "transcript": "Customer: Priscilla here, card 5555555555554444, please update my address.",
        "resolution": "Address updated after one-time passcode.",
        "acl": ["all_staff"],
    },
]

SOURCES = """\
sources:
  - id: docs
    connector: folder
    path: docs
  - id: faq
    connector: csv
    path: faq.csv
    faq: true
    id_prefix: "faq:"
    text_fields: [question, answer]
    updated_field: updated
  - id: tickets
    connector: jsonl
    path: tickets.jsonl
    id_prefix: "ticket:"
    title_field: subject
    text_fields: [subject, transcript, resolution]
    authority: 0.7
    personal_fields: {customer_name: NAME, email: EMAIL, phone: PHONE, card: CARD}
"""


def write_kb(root: Path, docs: dict[str, str] | None = None) -> Path:
    """Write the test knowledge base under ``root``; returns the sources.yaml path."""
    (root / "docs").mkdir(parents=True, exist_ok=True)
    for name, text in (DOCS if docs is None else docs).items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    (root / "faq.csv").write_text(FAQ, encoding="utf-8")
    (root / "tickets.jsonl").write_text(
        "".join(json.dumps(t) + "\n" for t in TICKETS), encoding="utf-8"
    )
    (root / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    return root / "sources.yaml"


PERSONAL_VALUES = [
    v for t in TICKETS for v in (t["customer_name"], t["email"], t["phone"], t["card"])
]
