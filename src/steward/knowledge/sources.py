"""Source configuration: which connectors to run, with what options.

A source config is YAML::

    sources:
      - id: handbook
        connector: folder            # folder | csv | jsonl | a plugin's name
        path: ${DOCS_DIR}/handbook   # ${VAR} expands from the environment; relative to the file
        acl_default: [all_staff]     # optional; without it, items with no ACL are refused
        pii_allow: ['1-800-555-\\d{4}']   # values that look personal but are not (hotlines)
      - id: tickets
        connector: jsonl
        path: tickets.jsonl
        id_field: id
        title_field: subject
        text_fields: [subject, transcript, resolution]
        personal_fields: {customer_name: NAME, card_number: CARD}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from steward import plugins
from steward.config.secrets import resolve_secret
from steward.config.yamlfile import describe, first_error, load_yaml
from steward.core.errors import ConfigError, InputError
from steward.knowledge.connectors import Connector

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


RECORD_CONNECTORS = ("csv", "jsonl", "sql")


class EntitySpec(BaseModel):
    """A record source's rows as contributions to federated entity records (docs/records.md):
    the entity type, the field holding its key, the fields to federate, how far this source
    is trusted for them and who owns its data (they get its conflict tasks)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    key: str = Field(min_length=1, max_length=64)
    fields: list[str] = Field(min_length=1, max_length=64)
    authority: float | None = Field(default=None, ge=0.0, le=1.0)
    label: str | None = Field(default=None, min_length=1, max_length=80)
    owners: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or any(not f.strip() or len(f) > 64 for f in v):
            raise ValueError("fields must be distinct names of at most 64 characters")
        return v


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    connector: str
    pii_allow: list[str] = Field(default_factory=list)
    vault: bool = Field(
        default=False,
        description="Keep the raw values of declared personal fields in the encrypted vault "
        "(only where a business need exists; needs a vault key).",
    )
    already_masked: bool = Field(
        default=False,
        description="The source's personal fields hold synthetic or masked values; allowed "
        "into a non-production store.",
    )
    authority: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="How far this source is a reference for answers: 1 for policies and FAQs, "
        "lower for records such as past tickets that show examples rather than rules.",
    )
    entity: EntitySpec | None = Field(
        default=None,
        description="Its rows contribute to federated entity records (csv, jsonl and sql "
        "sources; docs/records.md).",
    )
    chunk_words: int = Field(
        default=180,
        ge=20,
        le=2000,
        description="Most words in one chunk; headings and rows always start a new chunk, a "
        "longer paragraph splits between sentences (never inside one). 180 was chosen on "
        "Meridian and SciFact (docs/benchmarks.md).",
    )
    sentence_vectors: Literal["standalone", "pooled", "none"] = Field(
        default="standalone",
        description="How sentences get the vectors that answer composition (and the `sentences` "
        'reranker) compare with the question. `standalone`: each "heading: sentence" is '
        "embedded on its own (best answers; about 3x the embedding work of the chunk alone). "
        "`pooled`: read from the chunk's own pass (late chunking; about 1.6x faster ingestion, "
        "answers slightly weaker: docs/benchmarks.md). `none`: chunks only; sentences are "
        "embedded when a chunk is first used in an answer. `true`/`false` mean standalone/none.",
    )

    @field_validator("sentence_vectors", mode="before")
    @classmethod
    def _sentence_vectors_flag(cls, v: object) -> object:
        if isinstance(v, bool):  # the earlier yes/no form of this setting
            return "standalone" if v else "none"
        return v

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[SourceSpec]


def _expand(value: str, where: Path) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: ${{{name}}} is used but not set in the environment.")
        return os.environ[name]

    return _VAR.sub(sub, value)


def load_sources(path: Path) -> list[SourceSpec]:
    """Parse and validate a source config; paths become absolute."""
    spec = load_yaml(path, SourcesFile, what="Source config", error=InputError)
    ids = [s.id for s in spec.sources]
    if len(set(ids)) != len(ids):
        raise InputError(f"Source config {path}: source ids must be unique.")
    out = []
    for s in spec.sources:
        extra = s.options()
        if "path" in extra:
            p = Path(_expand(str(extra["path"]), path))
            extra["path"] = str(p if p.is_absolute() else (path.parent / p).resolve())
        for rx in s.pii_allow:
            try:
                re.compile(rx)
            except re.error as exc:
                raise InputError(f"Source {s.id}: pii_allow {rx!r} is not a regex: {exc}") from exc
        if s.entity is not None and s.connector not in RECORD_CONNECTORS:
            raise InputError(
                f"Source config {path}: source {s.id} declares an entity, which needs a record "
                f"connector ({', '.join(RECORD_CONNECTORS)}), not {s.connector}."
            )
        out.append(SourceSpec.model_validate({**s.model_dump(), **extra}))
        try:
            make_connector(out[-1])  # validate options now, not halfway through a sync
        except InputError as exc:
            raise InputError(f"Source config {path}: {exc.message}") from exc
    return out


def make_connector(spec: SourceSpec, allowed: str | None = None) -> Connector:
    cls = plugins.load("steward.connectors", spec.connector, allowed)
    try:
        options = cls.Options.model_validate(connector_options(spec))
    except ValidationError as exc:
        # Keys the source entry itself takes are allowed beside the connector's own options.
        detail = describe(first_error(exc), cls.Options, also=tuple(SourceSpec.model_fields))
        raise InputError(f"Source {spec.id} ({spec.connector}): {detail}") from exc
    connector: Connector = cls(options)
    return connector


def connector_options(spec: SourceSpec) -> dict[str, Any]:
    """The connector's options with ``$env``/``$file`` secrets resolved (never stored)."""
    return dict(resolve_secret(spec.options()))
