"""The tool registry: what the assistant may do, read from the operator's tools file
(``STEWARD_TOOLS_FILE``) and from plugins of the ``steward.tools`` entry point.

A tool is a name, a description, a JSON Schema of its arguments, a risk class (``read``,
``low``, ``high``), an executor (an HTTP call to a configured system, or a Python callable),
optionally a dry run and a compensating action, a timeout and whether a failed call may be
retried. Its mode (``auto``, ``confirm``, ``propose``) comes from its class, per center, unless
the tool or the center names one for it (docs/actions.md)::

    systems:
      corebank: {base_url: "https://core.example", audience: corebank}
    modes: {read: auto, low: confirm, high: propose}
    centers:
      north: {low: propose, freeze_card: confirm}
    tools:
      - name: freeze_card
        description: Freeze the customer's card.
        risk: low
        mode: auto
        subject: customer
        arguments: {type: object, properties: {customer: {type: string}}, ...}
        executor: {http: {system: corebank, method: POST, path: /cards/freeze}}
"""

from __future__ import annotations

import importlib
import logging
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from steward.config.yamlfile import load_yaml
from steward.core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

Risk = Literal["read", "low", "high"]
Mode = Literal["auto", "confirm", "propose"]
RISKS: tuple[str, ...] = ("read", "low", "high")
MODES: tuple[str, ...] = ("auto", "confirm", "propose")
DEFAULT_MODES: dict[str, str] = {"read": "auto", "low": "confirm", "high": "propose"}
ENTRY_POINT = "steward.tools"
NAME = r"^[a-z][a-z0-9_]{0,63}$"
MAX_ARGUMENT_BYTES = 16_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemSpec(_Spec):
    """A system tools call: its base URL and the audience its tokens are minted for."""

    base_url: str = Field(pattern=r"^https?://[^\s]+$")
    audience: str = Field(min_length=1, max_length=200)

    @field_validator("base_url")
    @classmethod
    def _secure(cls, value: str) -> str:
        host = re.sub(r"^https?://", "", value).split("/")[0].split(":")[0]
        if value.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            raise ValueError("must be https (http only on loopback)")
        return value.rstrip("/")


class HttpCall(_Spec):
    """One HTTP request to a system; ``{name}`` in the path takes that argument's value."""

    system: str
    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = "POST"
    path: str = Field(pattern=r"^/[^\s]*$", max_length=300)


class Executor(_Spec):
    """Exactly one of an HTTP call or a Python callable (``package.module:function``)."""

    http: HttpCall | None = None
    python: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

    @model_validator(mode="after")
    def _one(self) -> Executor:
        if (self.http is None) == (self.python is None):
            raise ValueError("set exactly one of `http` or `python`")
        return self


class ToolSpec(_Spec):
    name: str = Field(pattern=NAME)
    description: str = Field(min_length=1, max_length=500)
    risk: Risk
    arguments: dict[str, Any] = Field(description="JSON Schema of the arguments (an object).")
    executor: Executor
    dry_run: Executor | None = None
    compensate: Executor | None = None
    mode: Mode | None = Field(default=None, description="Overrides the class's mode.")
    subject: str | None = Field(
        default=None, description="The argument naming the customer the call acts on."
    )
    amount: str | None = Field(
        default=None, description="The argument holding the amount the policy limits."
    )
    summary: str | None = Field(
        default=None, max_length=300, description="What will happen, with {argument} fields."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retry: Literal["safe", "never"] = Field(
        default="never",
        description="`safe`: a failed call may be sent again (the system honours the "
        "idempotency key); `never`: a failure is compensated or handed to a person.",
    )
    retries: int = Field(default=2, ge=0, le=10)

    @field_validator("arguments")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if value.get("type") != "object":
            raise ValueError("the arguments' schema must be of `type: object`")
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        return value

    @model_validator(mode="after")
    def _fields(self) -> ToolSpec:
        props = self.arguments.get("properties") or {}
        for what, name in (("subject", self.subject), ("amount", self.amount)):
            if name is not None and name not in props:
                raise ValueError(f"`{what}: {name}` is not one of the arguments")
        if self.summary is not None:
            for _, fname, _, _ in string.Formatter().parse(self.summary):
                if fname and fname not in props:
                    raise ValueError(f"the summary names {fname!r}, which is not an argument")
        return self

    @cached_property
    def validator(self) -> Any:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.arguments)

    def check(self, arguments: Mapping[str, Any]) -> None:
        """InputError naming the first argument that breaks the schema."""
        from steward.actions.arguments import schema_message

        errors = sorted(
            self.validator.iter_errors(dict(arguments)), key=lambda e: [str(p) for p in e.path]
        )
        if errors:
            first = errors[0]
            # Only names the schema declares: a key or a value the caller typed may be
            # personal data, and error messages are shown and logged.
            declared = set((self.arguments.get("properties") or {}).keys())
            path = list(first.absolute_path)
            where = str(path[0]) if path and path[0] in declared else "arguments"
            raise InputError(f"Tool {self.name}: {where}: {schema_message(first)}.")

    def describe(self, arguments: Mapping[str, Any]) -> str:
        """The summary an asker confirms: the tool's template, or its name and arguments."""
        if self.summary:
            return self.summary.format_map({k: arguments.get(k, "") for k in _fields(self)})
        shown = ", ".join(f"{k}={v}" for k, v in sorted(arguments.items()))
        return f"{self.name}({shown})"


def _fields(tool: ToolSpec) -> list[str]:
    return list((tool.arguments.get("properties") or {}).keys())


class ToolsFile(_Spec):
    systems: dict[str, SystemSpec] = Field(default_factory=dict)
    modes: dict[Risk, Mode] = Field(default_factory=dict)
    centers: dict[str, dict[str, Mode]] = Field(default_factory=dict)
    dual_control: list[Risk] = Field(default_factory=lambda: list[Risk](["high"]))
    tools: list[ToolSpec] = Field(default_factory=list)


@dataclass
class Registry:
    """The tools in force: by name, with the systems they call and the mode tables."""

    tools: dict[str, ToolSpec] = field(default_factory=dict)
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MODES))
    centers: dict[str, dict[str, str]] = field(default_factory=dict)
    dual_control: frozenset[str] = frozenset({"high"})
    callables: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def get(self, name: str) -> ToolSpec:
        from steward.core.errors import NotFoundError

        tool = self.tools.get(name)
        if tool is None:
            raise NotFoundError(f"No tool named {name[:64]!r}; see `steward tools list`.")
        return tool

    def mode(self, tool: ToolSpec, risk: str, center: str | None) -> str:
        """The mode for ``tool`` treated as ``risk`` in ``center``: the center's word for the
        tool, else the tool's own (unless its class was raised), else the center's for the
        class, else the deployment's for the class."""
        local = self.centers.get(center or "", {})
        if tool.name in local:
            return local[tool.name]
        if tool.mode is not None and risk == tool.risk:
            return tool.mode
        return local.get(risk) or self.modes.get(risk) or DEFAULT_MODES[risk]

    def modes_by_center(self, tool: ToolSpec, centers: Iterable[str]) -> dict[str, str]:
        out = {"*": self.mode(tool, tool.risk, None)}
        for c in centers:
            out[c] = self.mode(tool, tool.risk, c)
        return out

    def resolve(self, spec: str) -> Callable[..., Any]:
        """The Python callable ``package.module:function`` (imported once)."""
        found = self.callables.get(spec)
        if found is None:
            module, _, attr = spec.partition(":")
            try:
                found = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"Tool executor {spec!r} cannot be imported: {exc}") from exc
            if not callable(found):
                raise ConfigError(f"Tool executor {spec!r} is not callable.")
            self.callables[spec] = found
        return found


def _plugin_tools() -> list[ToolSpec]:
    from importlib.metadata import entry_points

    out: list[ToolSpec] = []
    for ep in entry_points(group=ENTRY_POINT):
        try:
            made = ep.load()()
            for raw in made:
                out.append(raw if isinstance(raw, ToolSpec) else ToolSpec.model_validate(raw))
        except Exception as exc:  # a plugin's own error: name it, load nothing of it
            raise ConfigError(f"Tool plugin {ep.name!r} did not load: {exc}") from exc
    return out


def load_registry(path: Path | None, plugins: bool = True) -> Registry:
    """The registry from the tools file (if any) and the tool plugins; ConfigError naming the
    file's line for a bad file, a tool named twice, or a system no tool may call."""
    spec = ToolsFile() if path is None else load_yaml(path, ToolsFile, what="Tools file")
    tools = list(spec.tools) + (_plugin_tools() if plugins else [])
    reg = Registry(
        systems=dict(spec.systems),
        modes={**DEFAULT_MODES, **{str(k): str(v) for k, v in spec.modes.items()}},
        centers={c: dict(m) for c, m in spec.centers.items()},
        dual_control=frozenset(spec.dual_control),
    )
    for tool in tools:
        if tool.name in reg.tools:
            raise ConfigError(f"Tool {tool.name!r} is declared twice.")
        for ex in (tool.executor, tool.dry_run, tool.compensate):
            if ex is not None and ex.http is not None and ex.http.system not in reg.systems:
                raise ConfigError(
                    f"Tool {tool.name!r} calls system {ex.http.system!r}, which `systems` "
                    f"does not declare ({', '.join(sorted(reg.systems)) or 'none declared'})."
                )
        reg.tools[tool.name] = tool
    for center, modes in reg.centers.items():
        for key in modes:
            if key not in RISKS and key not in reg.tools:
                raise ConfigError(
                    f"Tools file: center {center!r} sets a mode for {key!r}, which is neither "
                    "a risk class (read, low, high) nor a tool."
                )
    return reg
