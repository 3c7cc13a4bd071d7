"""Connectors turn a source system into :class:`Item` objects.

Every connector has one method, ``items()``, which yields an ``Item`` per readable thing and a
``Failed`` per unreadable one, so one bad file never stops a sync. Options are pydantic models
with ``extra="forbid"``: a typo in a source config is an error at start-up.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html.parser
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field

SENSITIVITIES = ("public", "internal", "confidential", "restricted")
TEXT_EXTS = {".md", ".markdown", ".txt"}
HTML_EXTS = {".html", ".htm"}
DOC_EXTS = TEXT_EXTS | HTML_EXTS | {".pdf", ".docx"}
FOLDER_ACL = ".acl.yaml"  # a folder's access list, inherited by everything below it


@dataclass
class Item:
    """One document or record as the source holds it (before masking)."""

    doc_id: str
    title: str
    kind: str  # markdown | faq | record
    body: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)  # records: (label, value)
    acl: list[str] | None = None
    updated: str | None = None
    owner: str | None = None
    sensitivity: str = "internal"
    supersedes: str | None = None
    center: str | None = None
    personal: list[tuple[str, str]] = field(default_factory=list)  # declared (kind, value)
    ref: str = ""  # where it came from (path, path:line), for error messages
    # A record's fields as read (raw), for the federated records of a source that declares an
    # entity (sponsor/records.py masks what it keeps); never stored as they are.
    values: dict[str, str] = field(default_factory=dict)

    def content_hash(self) -> str:
        """Hash of what gets indexed: changes here mean re-chunking and re-embedding."""
        payload = json.dumps(
            [self.title, self.kind, self.body, self.fields, sorted(self.personal)],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def meta_hash(self) -> str:
        """Hash of metadata that changes no text (permissions, dates, links)."""
        payload = json.dumps(
            [
                sorted(self.acl or []),
                self.updated,
                self.owner,
                self.sensitivity,
                self.supersedes,
                self.center,
            ],
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Failed:
    ref: str
    message: str


class Connector(Protocol):
    """Reads one source system. ``items()`` yields Items and Failed, never raises per item.

    It raises :class:`steward.core.errors.SourceError` only when the source as a whole cannot be
    listed (a missing folder), so that the pipeline never mistakes "unreadable" for "empty"
    and deletes everything.
    """

    Options: ClassVar[type[BaseModel]]

    def items(self) -> Iterator[Item | Failed]: ...


class CommonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path
    id_prefix: str = ""
    acl_default: list[str] | None = Field(
        default=None,
        description="ACL for items that carry none. Unset means such items are refused: "
        "deny by default.",
    )
    sensitivity: str | None = None
    center_pattern: str | None = Field(
        default=None,
        description="Regex with one group applied to the item id; the group names the "
        "center an item is specific to.",
    )


def _as_acl(value: Any, sep: str = ";") -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parts = re.split(rf"[{re.escape(sep)},]", value)
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return None


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _center(opts: CommonOptions, doc_id: str, declared: Any) -> str | None:
    if declared:
        return str(declared)
    if opts.center_pattern and (m := re.search(opts.center_pattern, doc_id)):
        return m.group(1)
    return None


# ------------------------------------------------------------------ readers of one file

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    m = _FRONT.match(text)
    if not m:
        return None, text
    meta = yaml.safe_load(m.group(1))
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a YAML mapping")
    return meta, text[m.end() :]


class _HtmlText(html.parser.HTMLParser):
    """HTML to Markdown-ish text: headings, paragraphs, list items, table rows."""

    BLOCK: ClassVar[frozenset[str]] = frozenset(
        {"p", "div", "section", "article", "br", "tr", "ul", "ol", "table", "blockquote"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._skip = 0
        self._in_title = False
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and a.get("name") and a.get("content") is not None:
            self.meta[str(a["name"]).lower()] = str(a["content"])
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "tr":
            self._cells = []
        elif tag in {"td", "th"} and self._cells is not None:
            self._cells.append("")
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "tr" and self._cells is not None:
            self.out.append("\n| " + " | ".join(c.strip() for c in self._cells) + " |")
            self._cells = None
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
        elif self._cells is not None and self._cells:
            self._cells[-1] += data
        else:
            self.out.append(re.sub(r"\s+", " ", data))

    def markdown(self) -> str:
        text = "".join(self.out)
        # A header row needs a separator for the table reader.
        text = re.sub(
            r"(\n\| [^\n]* \|)(\n\|)", lambda m: m.group(1) + "\n|---|" + m.group(2), text, count=0
        )
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def read_html(raw: str) -> tuple[dict[str, Any], str, str]:
    parser = _HtmlText()
    parser.feed(raw)
    parser.close()
    meta: dict[str, Any] = dict(parser.meta)
    return meta, parser.title.strip(), parser.markdown()


def read_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [p.extract_text() or "" for p in reader.pages]
        meta: dict[str, Any] = dict(reader.metadata or {})
        title = str(meta.get("/Title") or "")
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    text = "\n\n".join(pages).strip()
    if not text:
        raise ValueError("PDF has no extractable text (scanned image?); OCR it first")
    return title, text


def read_docx(path: Path) -> tuple[str, str]:
    import zipfile

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(f"unreadable DOCX ({type(exc).__name__})") from exc
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(block, document)
            style = (para.style.name if para.style is not None else "") or ""
            m = re.match(r"Heading (\d)", style)
            text = para.text.strip()
            if not text:
                continue
            if m:
                lines.append("\n" + "#" * int(m.group(1)) + " " + text + "\n")
            elif style.startswith("List"):
                lines.append("- " + text)
            else:
                lines.append("\n" + text + "\n")
        elif tag == "tbl":
            table = Table(block, document)
            rows = [[c.text.strip() for c in r.cells] for r in table.rows]
            if rows:
                lines.append("\n| " + " | ".join(rows[0]) + " |\n|---|")
                lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
                lines.append("")
    title = document.core_properties.title or ""
    return title, "\n".join(lines).strip()


# ------------------------------------------------------------------ connectors


class FolderConnector:
    """A folder of md/txt/html/pdf/docx files (recursively).

    Markdown and text files carry YAML front matter (id, title, source, owner, updated, acl,
    sensitivity, supersedes, center). HTML may use ``<meta name="acl" content="a;b">``. Any file
    may have a sidecar ``NAME.EXT.yaml`` with the same fields.
    """

    class Options(CommonOptions):
        include: list[str] = Field(default_factory=lambda: ["**/*"])

    def __init__(self, options: Options) -> None:
        self.opts = options

    def items(self) -> Iterator[Item | Failed]:
        from steward.core.errors import SourceError

        root = self.opts.path
        if not root.is_dir():
            raise SourceError(f"Source folder {root} does not exist or is not a folder.")
        seen: set[Path] = set()
        for pattern in self.opts.include:
            for path in sorted(root.glob(pattern)):
                if path in seen or not path.is_file() or path.suffix.lower() not in DOC_EXTS:
                    continue
                seen.add(path)
                try:
                    yield self._read(path, root)
                except (ValueError, OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                    yield Failed(str(path.relative_to(root)), str(exc))

    def _folder_acl(self, folder: Path, root: Path) -> list[str] | None:
        """The ACL of the nearest folder (up to the source root) that has a FOLDER_ACL file."""
        while True:
            marker = folder / FOLDER_ACL
            if marker.exists():
                data = yaml.safe_load(marker.read_text(encoding="utf-8"))
                acl = _as_acl(data.get("acl")) if isinstance(data, dict) else None
                if acl is None:
                    raise ValueError(f"{marker.relative_to(root)} must hold `acl: [groups]`")
                return acl
            if folder == root or root not in folder.parents:
                return None
            folder = folder.parent

    def _read(self, path: Path, root: Path) -> Item:
        ext = path.suffix.lower()
        rel = path.relative_to(root)
        meta: dict[str, Any] | None = None
        title = ""
        if ext in TEXT_EXTS:
            meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        elif ext in HTML_EXTS:
            html_meta, title, body = read_html(path.read_text(encoding="utf-8"))
            meta = html_meta or None
        elif ext == ".pdf":
            title, body = read_pdf(path)
        else:
            title, body = read_docx(path)
        sidecar = path.with_name(path.name + ".yaml")
        if sidecar.exists():
            side = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
            if not isinstance(side, dict):
                raise ValueError(f"sidecar {sidecar.name} is not a YAML mapping")
            meta = {**(meta or {}), **side}
        folder_acl = self._folder_acl(path.parent, root)
        if meta is None and self.opts.acl_default is None and folder_acl is None:
            raise ValueError(
                "missing front matter: add a YAML block with at least `acl` (or a sidecar "
                f"{path.name}.yaml, or a {FOLDER_ACL} in its folder), or set `acl_default` "
                "on the source"
            )
        meta = meta or {}
        # The item's own ACL wins, then its folder's (as on a file share), then the default.
        acl = _as_acl(meta.get("acl"))
        if acl is None:
            acl = folder_acl
        if acl is None:
            acl = self.opts.acl_default
        if acl is None:
            raise ValueError("no `acl` in front matter and no `acl_default` on the source")
        if not body.strip():
            raise ValueError("document has no text")
        heading = re.search(r"^#\s+(.+)$", body, re.MULTILINE)
        doc_id = self.opts.id_prefix + str(meta.get("id") or rel.with_suffix("").as_posix())
        sensitivity = str(meta.get("sensitivity") or self.opts.sensitivity or "internal")
        if sensitivity not in SENSITIVITIES:
            raise ValueError(
                f"sensitivity {sensitivity!r} is not one of {', '.join(SENSITIVITIES)}"
            )
        return Item(
            doc_id=doc_id,
            title=str(meta.get("title") or title or (heading.group(1) if heading else rel.stem)),
            kind="markdown",
            body=body,
            acl=acl,
            updated=_date(meta.get("updated")),
            owner=str(meta["owner"]) if meta.get("owner") else None,
            sensitivity=sensitivity,
            supersedes=(self.opts.id_prefix + str(meta["supersedes"]))
            if meta.get("supersedes")
            else None,
            center=_center(self.opts, doc_id, meta.get("center")),
            ref=str(rel),
        )


class _TabularOptions(CommonOptions):
    id_field: str = "id"
    title_field: str | None = None
    text_fields: list[str] = Field(
        default_factory=list, description="Fields indexed as text, in order."
    )
    acl_field: str | None = "acl"
    acl_separator: str = ";"
    updated_field: str | None = None
    owner_field: str | None = None
    personal_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Declared personal fields: field name -> token kind (NAME, EMAIL, CARD...).",
    )
    faq: bool = Field(default=False, description="Rows are question/answer pairs.")
    field_labels: bool = Field(
        default=True,
        description="Start each text field's block with its name (`resolution: ...`) when "
        "there are several; `false` joins the fields as plain paragraphs. A single text field "
        "is never labelled (its name would open every answer quoted from it).",
    )


def _named_fields(opts: _TabularOptions) -> dict[str, str]:
    """Every field the source's options name, with the option that names it."""
    named = {f: "personal_fields" for f in opts.personal_fields}
    named.update({f: "text_fields" for f in opts.text_fields or []})
    for option in ("title_field", "updated_field", "owner_field"):
        value = getattr(opts, option)
        if value:
            named.setdefault(value, option)
    return named


def missing_fields(opts: _TabularOptions, columns: Iterable[str]) -> str | None:
    """What is wrong when the options name a field the data does not have (a misspelt
    `personal_fields` key would otherwise leave personal values unmasked, a misspelt
    `text_fields` entry leave the rows unsearchable), or None."""
    have = list(columns)
    absent = [f"`{f}` ({option})" for f, option in _named_fields(opts).items() if f not in have]
    if not absent:
        return None
    return f"no field {', '.join(absent)}; the fields are: {', '.join(have) or 'none'}"


def _record_item(opts: _TabularOptions, row: dict[str, Any], ref: str) -> Item:
    raw_id = row.get(opts.id_field)
    if raw_id is None or str(raw_id).strip() == "":
        raise ValueError(f"no `{opts.id_field}` value")
    doc_id = opts.id_prefix + str(raw_id).strip()
    acl = _as_acl(row.get(opts.acl_field), opts.acl_separator) if opts.acl_field else None
    if acl is None:
        acl = opts.acl_default
    if acl is None:
        raise ValueError(f"no ACL in field `{opts.acl_field}` and no `acl_default` on the source")
    text_fields = opts.text_fields or [
        k for k in row if k not in {opts.id_field, opts.acl_field, *opts.personal_fields}
    ]
    labelled = opts.field_labels and len(text_fields) > 1
    fields = [
        (k if labelled else "", str(row[k]).strip())
        for k in text_fields
        if row.get(k) not in (None, "")
    ]
    if not fields:
        raise ValueError("record has no text in the configured fields")
    personal = [(kind, str(row[f])) for f, kind in opts.personal_fields.items() if row.get(f)]
    title = str(row.get(opts.title_field) or "") if opts.title_field else ""
    if opts.faq:
        question = fields[0][1]
        answer = "\n\n".join(v for _, v in fields[1:])
        fields = [("", question), ("", answer)]
        title = title or question
    return Item(
        doc_id=doc_id,
        title=title or doc_id,
        kind="faq" if opts.faq else "record",
        fields=fields,
        acl=acl,
        updated=_date(row.get(opts.updated_field)) if opts.updated_field else None,
        owner=str(row.get(opts.owner_field))
        if opts.owner_field and row.get(opts.owner_field)
        else None,
        sensitivity=opts.sensitivity or ("confidential" if personal else "internal"),
        center=_center(opts, doc_id, row.get("center")),
        personal=personal,
        ref=ref,
        values={
            str(k): str(v).strip()
            for k, v in row.items()
            if v not in (None, "") and not isinstance(v, dict | list)
        },
    )


class CsvConnector:
    """A CSV file, one item per row (e.g. an FAQ: ``faq: true``, text = [question, answer])."""

    class Options(_TabularOptions):
        pass

    def __init__(self, options: Options) -> None:
        self.opts = options

    def items(self) -> Iterator[Item | Failed]:
        from steward.core.errors import SourceError

        try:
            raw = self.opts.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"Cannot read CSV source {self.opts.path}: {exc}") from exc
        reader = csv.DictReader(io.StringIO(raw))
        if not reader.fieldnames or self.opts.id_field not in reader.fieldnames:
            raise SourceError(
                f"CSV source {self.opts.path} has no `{self.opts.id_field}` column "
                f"(columns: {', '.join(reader.fieldnames or [])})."
            )
        wrong = missing_fields(self.opts, reader.fieldnames)
        if wrong:
            raise SourceError(f"CSV source {self.opts.path.name}: {wrong}.")
        for row in reader:
            ref = f"{self.opts.path.name}:{reader.line_num}"
            if None in row:
                yield Failed(ref, "row has more cells than the header")
                continue
            try:
                yield _record_item(self.opts, row, ref)
            except ValueError as exc:
                yield Failed(ref, str(exc))


class JsonlConnector:
    """A JSON Lines file, one item per line (e.g. support tickets with personal fields)."""

    class Options(_TabularOptions):
        pass

    def __init__(self, options: Options) -> None:
        self.opts = options

    def items(self) -> Iterator[Item | Failed]:
        from steward.core.errors import SourceError

        try:
            handle = self.opts.path.open(encoding="utf-8")
        except OSError as exc:
            raise SourceError(f"Cannot read JSONL source {self.opts.path}: {exc}") from exc
        # First, the fields the records have: a field the options name that no record has is
        # a typo (a misspelt personal field would let its values through unmasked), and the
        # source fails before anything is stored. A record may still lack a field.
        seen: set[str] = set()
        with handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    seen.update(row)
        wrong = missing_fields(self.opts, sorted(seen)) if seen else None
        if wrong:
            raise SourceError(f"JSONL source {self.opts.path.name}: {wrong}.")
        handle = self.opts.path.open(encoding="utf-8")
        with handle:
            for n, line in enumerate(handle, 1):
                ref = f"{self.opts.path.name}:{n}"
                if not line.strip():
                    continue
                try:
                    row = json.loads(line.rstrip("\r\n"))  # a column, not "line 2 column 1"
                    if not isinstance(row, dict):
                        raise ValueError("line is not a JSON object")
                    yield _record_item(self.opts, row, ref)
                except json.JSONDecodeError as exc:
                    # Never echo the line: it may hold personal data.
                    yield Failed(ref, f"malformed JSON at column {exc.colno}: {exc.msg}")
                except ValueError as exc:
                    yield Failed(ref, str(exc))


class SqlConnector:
    """Rows of a SQL query (any SQLAlchemy URL), one item per row, ACL from a column.

    The URL can name its secret: ``url: {"$env": "CRM_DB_URL"}``.
    """

    class Options(_TabularOptions):
        path: Path = Path(".")  # unused: SQL sources have a URL instead
        url: str
        query: str = Field(description="A SELECT returning the id, text and ACL columns.")

    def __init__(self, options: Options) -> None:
        self.opts = options

    def items(self) -> Iterator[Item | Failed]:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError

        from steward.core.errors import SourceError

        if not self.opts.query.lstrip().lower().startswith(("select", "with")):
            raise SourceError("A SQL source's query must be a SELECT.")
        engine = create_engine(self.opts.url)
        try:
            with engine.connect() as conn:
                result = conn.execute(text(self.opts.query))
                columns = list(result.keys())
                rows = result.mappings().all()
        except SQLAlchemyError as exc:
            # The database's own words ("no such table: notes", "unable to open database
            # file"): never the URL, which may hold a password.
            cause = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0][:200]
            raise SourceError(f"SQL source query failed: {cause}") from exc
        finally:
            engine.dispose()
        wrong = missing_fields(self.opts, columns)
        if wrong:
            raise SourceError(f"SQL source query: {wrong}.")
        for n, row in enumerate(rows, 1):
            ref = f"row {n}"
            try:
                yield _record_item(self.opts, dict(row), ref)
            except ValueError as exc:
                yield Failed(ref, str(exc))
