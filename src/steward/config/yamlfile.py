"""YAML config files, read one way: ``load_yaml(path, Model)``.

Every file an operator writes (directory, sources, policies, providers, PII recognizers) is
validated by a pydantic model with ``extra="forbid"``, and every failure is one line that names
the file, the line and the key to fix::

    Policy north.yaml, line 2: unknown key 'answer_threshhold' (allowed: name, ...)

Callers choose the error class: a file handed over on the command line is bad input
(:class:`InputError`), one named by a setting is bad configuration (:class:`ConfigError`); both
become CLI exit status 2.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError, model_validator
from pydantic_core import ErrorDetails

from steward.core.errors import ConfigError, InputError, StewardError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


class NoBoolNumbers(BaseModel):
    """A model whose numbers are numbers: YAML's ``true`` is not 1 (pydantic would take it for
    one, so ``threshold: true`` became a gate at 100% and ``amount: true`` one dollar). Text
    that reads as a number stays accepted: PyYAML reads ``1e6`` (no dot) as text."""

    @model_validator(mode="before")
    @classmethod
    def _no_bools(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                value = data.get(name)
                kinds = typing.get_args(info.annotation) or (info.annotation,)
                numeric = int in kinds or float in kinds
                if isinstance(value, bool) and bool not in kinds and numeric:
                    raise ValueError(f"{name}: a number, not {str(value).lower()}")
        return data


def load_yaml(
    path: Path,
    model: type[M],
    *,
    what: str,
    error: type[StewardError] = ConfigError,
    shape: str | None = None,
    explain: Callable[[ValidationError], str] | None = None,
) -> M:
    """Read ``path`` and validate it as ``model``; any failure raises ``error``.

    ``what`` names the file for people ("Source config"); ``shape`` says what the top level
    must be when it is not a mapping; ``explain`` words a validation error for a model whose
    structure has a better name than a dotted key path.
    """
    text = read_text(path, what=what, error=error)
    return parse_yaml(
        text, model, label=f"{what} {path}", error=error, shape=shape, explain=explain
    )


def read_text(path: Path, *, what: str, error: type[StewardError] = ConfigError) -> str:
    """The UTF-8 text of ``path``; a file that cannot be read, or is not UTF-8, is ``error``
    naming ``what`` and the path."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(
            f"Cannot read {_lower_first(what)} {path} ({exc.strerror}): check the path, "
            "or the file's permissions if it exists and Steward cannot read it."
        ) from exc
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8."
        ) from exc


def load_yaml_data(path: Path, *, what: str, error: type[StewardError] = InputError) -> Any:
    """``yaml_data`` of the file at ``path``, read by ``read_text``."""
    return yaml_data(read_text(path, what=what, error=error), f"{what} {path}", error)


def parse_yaml(
    text: str | bytes,
    model: type[M],
    *,
    label: str,
    error: type[StewardError] = ConfigError,
    shape: str | None = None,
    explain: Callable[[ValidationError], str] | None = None,
) -> M:
    """``load_yaml`` for text already read (a caller that also hashes the bytes it read)."""
    node, data = _parse(text, label, error)
    if data is None:  # an empty file is an empty mapping: the model says what is missing
        data = {}
    if not isinstance(data, dict):
        keys = shape or ", ".join(f"`{k}`" for k in model.model_fields)
        raise error(f"{label}: expected a mapping with {keys}.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = first_error(exc)
        line = _line(node, first["loc"])
        where = f"{label}, line {line}" if line else label
        detail = explain(exc) if explain else describe(first, model)
        raise error(f"{where}: {detail}") from exc


def yaml_data(text: str, label: str, error: type[StewardError] = InputError) -> Any:
    """The data of a YAML text with no schema of its own, checked like every file here: one
    line naming ``label`` and the line for a syntax error or a key written twice."""
    return _parse(text, label, error)[1]


def _parse(text: str | bytes, label: str, error: type[StewardError]) -> tuple[Any, Any]:
    """The YAML's node tree (for line numbers) and its data, parsed once."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        # Aliases share nodes, and building the data copies them: nine nested anchors of nine
        # make 387 million values (a minute of CPU, then the memory). Counted first.
        if node is not None and _expanded_size(node) > MAX_YAML_VALUES:
            raise error(
                f"{label}: its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values; "
                "write the values out instead."
            )
        data = loader.construct_document(node) if node is not None else None
    except RecursionError as exc:
        raise error(f"{label} is nested too deeply to read.") from exc
    except ValueError as exc:  # a date YAML reads as one, but the calendar has not: 2026-02-30
        raise error(f"{label} is not valid YAML: a date in it does not exist ({exc}).") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        # One line: PyYAML's own message spans several, with a caret drawing.
        raise error(f"{label} is not valid YAML: {at}{problem}") from exc
    finally:
        loader.dispose()
    repeated = _repeated_key(node)
    if repeated is not None:
        key, line, first = repeated
        # YAML lets the last one win without a word: a threshold typed twice, or a second
        # `sources:` block, would silently replace the first.
        raise error(f"{label}, line {line}: key {key!r} appears twice (first on line {first}).")
    return node, data


MAX_YAML_VALUES = 100_000


def _expanded_size(root: Any) -> int:
    """How many values the document holds once its aliases are copied out (each shared node
    counted once per use, computed once per node: a post-order walk)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if children_done:
            total = 1 + sum(sizes.get(id(k), MAX_YAML_VALUES) for k in kids)
            sizes[id(node)] = min(total, MAX_YAML_VALUES + 1)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _repeated_key(root: Any) -> tuple[str, int, int] | None:
    """The first key that a mapping of the document repeats: (key, its line, the first line)."""
    stack = [root] if root is not None else []
    visited: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in visited:  # an alias: its node is checked once
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        return key.value, line, seen[key.value]
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None


def _lower_first(what: str) -> str:
    """'Source config' becomes 'source config'; an acronym ('PII ...') keeps its case."""
    return what if what[:2].isupper() else what[:1].lower() + what[1:]


def first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report. A misspelt key also shows up as a missing one; the misspelling is
    the cause, so it wins."""
    return min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")


def describe(error: ErrorDetails, model: type[BaseModel], also: tuple[str, ...] = ()) -> str:
    """``sources.0: unknown key 'colour' (allowed: id, connector, ...)`` or ``key: message``;
    ``also`` adds keys that a caller accepts beside the model's own."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        inside = f"{_dotted(parent)}: " if parent else ""
        fields = list(dict.fromkeys([*also, *_fields_at(model, parent)]))
        allowed = f" (allowed: {', '.join(fields)})" if fields else ""
        return f"{inside}unknown key {key!r}{allowed}."
    message = error["msg"].removeprefix("Value error, ")  # a validator's own words suffice
    return f"{_dotted(loc) or 'value'}: {message}."


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model allows at ``loc`` (empty when the path leaves the models)."""
    current: Any = model
    for part in loc:
        # List indexes and dict keys stay on the same model; a field moves into its type.
        if isinstance(part, str) and _is_model(current) and part in current.model_fields:
            current = _inner_model(current.model_fields[part].annotation)
    return list(current.model_fields) if _is_model(current) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _inner_model(annotation: Any) -> Any:
    """The model inside ``X``, ``list[X]``, ``dict[str, X]`` or ``X | None``."""
    if _is_model(annotation):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict, typing.Union, types.UnionType):
        for arg in reversed(typing.get_args(annotation)):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _line(node: Any, loc: Loc) -> int | None:
    """The 1-based line of the deepest YAML node on ``loc`` (a missing key: its parent's)."""
    if node is None:
        return None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    line: int = node.start_mark.line + 1
    return line
