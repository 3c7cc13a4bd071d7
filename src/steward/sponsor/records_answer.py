"""Where the assistant uses a federated record's field: the passages retrieval returns.

A record source's passage holds its own copy of a field ("segment: Standard"), which one
source says and others may contradict. Before the answer is written, each such sentence of a
passage whose item contributes to a record is replaced by the field as merged for this asker
(records_merge.py ``FieldView.statement``): the value with its confidence and the sources that
say it ("segment: Premier (confidence 0.86; core banking, CRM)"), or, below
``STEWARD_RECORDS_MIN_CONFIDENCE``, what each source says ("segment: our records disagree
(confidence 0.42): core banking says Premier (updated 2026-11-20); CRM says Standard (updated
2026-03-01)"). The merge uses only the sources whose items the asker may read, so a source
they may not read gives neither its value nor its name. The provider quotes or paraphrases the
passage as it does any other, and verification checks the answer against this text.

A replaced sentence keeps the vector of the sentence it replaces (the field's name and the
subject are the same), so nothing is embedded on the request path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from steward.answering.providers.base import Passage

if TYPE_CHECKING:
    from steward.sponsor.records import RecordService
    from steward.sponsor.records_merge import FieldView

_LABELLED = re.compile(r"^\s*([A-Za-z0-9_ .-]{1,64}?)\s*:\s*\S")


def annotate(
    records: RecordService, passages: Sequence[Passage], acl_ids: frozenset[int]
) -> list[Passage]:
    """``passages`` with each federated field's sentence stated as merged for this asker."""
    fields = records.fields_for_documents([p.doc_id for p in passages], acl_ids)
    if not fields:
        return list(passages)
    return [_restated(p, fields[p.doc_id], records) if p.doc_id in fields else p for p in passages]


def _restated(p: Passage, fields: dict[str, FieldView], records: RecordService) -> Passage:
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0  # in the old text
    for a, b in p.sentences:
        pieces.append(p.text[pos:a])
        start = sum(len(x) for x in pieces)
        sentence = p.text[a:b]
        m = _LABELLED.match(sentence)
        view = fields.get(m.group(1)) if m else None
        new = view.statement(records.tuning) if view is not None else sentence
        pieces.append(new)
        spans.append((start, start + len(new)))
        pos = b
    pieces.append(p.text[pos:])
    text = "".join(pieces)
    if text == p.text:
        return p
    return replace(p, text=text, sentences=spans)
