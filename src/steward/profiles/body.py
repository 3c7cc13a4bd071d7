"""What an assistant profile may set, and how a profile body becomes settings.

A body is a nested mapping of the settings that shape answers, written as in a YAML file::

    label: Stricter answers
    policy: {answer_threshold: 0.7}
    retrieval: {top_k: 6}
    answering: {provider: openai, openai: {model: gpt-4o-mini}, prompt_instructions: "..."}

Only the leaves in :data:`LEAVES` may appear (never a secret, a path to the store, a port);
each value is validated by the settings group it belongs to, so a profile is refused with the
same message a bad environment variable would get. A body overrides the deployment's
configuration leaf by leaf; an empty body is the configuration as deployed. Files a body names
(a providers file, a policy directory, a detector model) are hashed into the version's snapshot
when it is made, so a file changed afterwards shows as drift instead of changing a published
version silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from steward.config.settings import Settings
from steward.core.errors import InputError

# group -> the leaves of it a profile may set (dotted below the group)
LEAVES: dict[str, tuple[str, ...]] = {
    "answering": (
        "provider",
        "openai.base_url",
        "openai.model",
        "anthropic.base_url",
        "anthropic.model",
        "providers_file",
        "timeout_s",
        "fallback",
        "judge",
        "judge_format",
        "judge_timeout_s",
        "prompt_instructions",
    ),
    "retrieval": (
        "top_k",
        "candidates",
        "rrf_k",
        "weight_lexical",
        "weight_dense",
        "reranker",
        "rerank_depth",
    ),
    "policy": (
        "answer_threshold",
        "low_confidence_action",
        "policy_dir",
        "intent_model",
        "injection_model",
        "risk_model",
        "risk_detector",
    ),
}
META_KEYS = ("label", "note")  # allowed at the top of a profile file, not settings
# Leaves that name a file or directory, and leaves that name a server Steward sends text to.
PATH_LEAVES = frozenset(
    {"answering.providers_file", "policy.policy_dir", "policy.intent_model"}
    | {"policy.injection_model", "policy.risk_model"}
)
URL_LEAVES = frozenset({"answering.openai.base_url", "answering.anthropic.base_url"})
MAX_FILES = 2000  # files hashed under one directory
MAX_HASHED = 512 * 1024 * 1024  # bytes hashed for one leaf
MAX_BODY_BYTES = 64_000


def flat(body: Mapping[str, Any]) -> dict[str, Any]:
    """``{"policy": {"answer_threshold": 0.7}}`` -> ``{"policy.answer_threshold": 0.7}``."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and not _is_leaf(prefix):  # an empty group sets nothing
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = value

    walk("", body)
    return out


def _is_leaf(dotted: str) -> bool:
    group, _, rest = dotted.partition(".")
    return rest in LEAVES.get(group, ())


def _nest(flat_body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat_body.items():
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


def normalise(raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A profile file's content as (settings body, its label and note); InputError naming the
    first leaf a profile may not set."""
    if not isinstance(raw, Mapping):
        raise InputError(
            "A profile is a mapping of settings groups (answering, retrieval, policy)."
        )
    meta = {k: str(raw[k])[:2000] for k in META_KEYS if raw.get(k) is not None}
    settings = {k: v for k, v in raw.items() if k not in META_KEYS}
    leaves = flat(settings)
    for dotted in leaves:
        if not _is_leaf(dotted):
            allowed = ", ".join(f"{g}.{leaf}" for g, ls in LEAVES.items() for leaf in ls)
            raise InputError(f"A profile may not set {dotted[:80]!r}. It may set: {allowed}.")
    for dotted, value in leaves.items():
        if isinstance(value, Path):
            leaves[dotted] = str(value)
    body = _nest(dict(sorted(leaves.items())))
    if len(canonical(body)) > MAX_BODY_BYTES:
        raise InputError(f"A profile's settings are limited to {MAX_BODY_BYTES:,} bytes.")
    return body, meta


def canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _merged(group: BaseModel, overrides: Mapping[str, Any]) -> dict[str, Any]:
    data = group.model_dump()
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def apply(base: Settings, body: Mapping[str, Any]) -> Settings:
    """``base`` with the body's leaves over it; InputError with the settings' own message when
    a value is not valid."""
    update: dict[str, Any] = {}
    for group, overrides in body.items():
        current = getattr(base, group)
        try:
            update[group] = type(current).model_validate(_merged(current, overrides))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (group, *first["loc"]))
            raise InputError(f"Profile setting {where}: {first['msg']}.") from exc
    return base.model_copy(update=update)


def _roots(base: Settings) -> list[Path]:
    """Where a profile's files may be: the data home, and the folders of the files the
    deployment's own configuration names (an operator cannot point a profile at /etc)."""
    roots = [base.home.resolve()]
    for name, value in leaves_of(base):
        if name in PATH_LEAVES and value:
            path = Path(str(value)).resolve()
            roots.append(path if name == "policy.policy_dir" else path.parent)
    return roots


def check_places(base: Settings, body: Mapping[str, Any], endpoints: list[str]) -> None:
    """Refuse a body that points at a file outside :func:`_roots`, or at a model server the
    deployment has not named (its own base URLs, and ``endpoints``): a profile must not read
    files or send askers' questions and passages anywhere new."""
    given = flat(body)
    roots = _roots(base)
    for name in sorted(PATH_LEAVES & set(given)):
        if given[name] in (None, ""):
            continue
        try:
            path = Path(str(given[name])).resolve()
        except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
            raise InputError(f"Profile setting {name}: not a usable path.") from exc
        if not any(path == r or r in path.parents for r in roots):
            raise InputError(
                f"Profile setting {name}: {str(given[name])[:200]!r} is outside the data home and "
                "the folders of the configuration's own files; put the file there."
            )
    current = dict(leaves_of(base))
    allowed = {u.rstrip("/") for u in endpoints if u}
    for name in sorted(URL_LEAVES & set(given)):
        url = str(given[name] or "").rstrip("/")
        if url and url != str(current.get(name) or "").rstrip("/") and url not in allowed:
            raise InputError(
                f"Profile setting {name}: {url[:200]!r} is not a model server this deployment "
                "names; add it to STEWARD_PROFILE_ENDPOINTS first."
            )


def _value(settings: Settings, group: str, dotted: str) -> Any:
    node: Any = getattr(settings, group)
    for part in dotted.split("."):
        node = getattr(node, part)
    if isinstance(node, SecretStr):  # never: no secret is a leaf; kept out all the same
        return "********"
    return str(node) if isinstance(node, Path) else node


def leaves_of(settings: Settings) -> Iterator[tuple[str, Any]]:
    for group, leaves in LEAVES.items():
        for leaf in leaves:
            yield f"{group}.{leaf}", _value(settings, group, leaf)


def _file_digest(path: Path) -> str | None:
    """sha256 over a file, or over a directory's regular files (names and contents); None if
    absent. InputError for what is no regular file or directory, or too much to hash."""
    try:
        if path.is_file():
            if path.stat().st_size > MAX_HASHED:
                raise InputError(f"{path} is too large for a profile to name.")
            return hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_dir():
            h, files, size = hashlib.sha256(), 0, 0
            for p in sorted(path.rglob("*")):
                if p.is_symlink() or not p.is_file():
                    continue
                files, size = files + 1, size + p.stat().st_size
                if files > MAX_FILES or size > MAX_HASHED:
                    raise InputError(f"{path} holds too much for a profile to name.")
                h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())
            return h.hexdigest()
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({type(exc).__name__}).") from exc
    return None


def snapshot(settings: Settings) -> dict[str, Any]:
    """Every leaf's effective value, and a digest of each file a leaf names (the detectors'
    models are two files beside their path: ``.json`` and ``.npz``)."""
    values = dict(leaves_of(settings))
    files: dict[str, str | None] = {}
    for name, value in values.items():
        if not value or not name.endswith(("_file", "_dir", "_model")):
            continue
        path = Path(str(value))
        if name.endswith("_model"):
            for suffix in (".json", ".npz"):
                files[str(path.with_suffix(suffix))] = _file_digest(path.with_suffix(suffix))
        else:
            files[str(path)] = _file_digest(path)
    return {"settings": values, "files": files}


def drift(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between a version's recorded snapshot and the same body applied today."""
    out: list[str] = []
    before, after = recorded.get("settings", {}), now.get("settings", {})
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"{name}: {before.get(name)!r} -> {after.get(name)!r}")
    fb, fa = recorded.get("files", {}), now.get("files", {})
    for name in sorted(set(fb) | set(fa)):
        if fb.get(name) != fa.get(name):
            out.append(f"file {name} changed")
    return out
