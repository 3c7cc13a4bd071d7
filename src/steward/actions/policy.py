"""Who may do what with a tool, decided by a Cedar policy (``cedarpy``), never by ifs spread
over the code. Deny by default: Cedar allows only what a ``permit`` names, and a ``forbid``
always wins. The shipped policy is ``actions/policy.cedar``; ``STEWARD_ACTIONS_POLICY_FILE``
replaces it. Every decision names the policies that decided (their ``@id``), and that is what
the audit trail records as the rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from steward.core.errors import ConfigError

SHIPPED = Path(__file__).with_name("policy.cedar")
VERBS = ("propose", "execute", "approve")
DENY_BY_DEFAULT = "deny-by-default (no permit matched)"


@dataclass(frozen=True)
class Who:
    """The principal as the policy sees it."""

    user_id: str
    access: str
    role: str
    center: str | None
    customer: bool
    groups: frozenset[str]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rules: tuple[str, ...]  # the @id of each policy that decided (permits, or the forbids)
    errors: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        """One line for the record: which policies decided."""
        if self.rules:
            return ", ".join(self.rules)
        return DENY_BY_DEFAULT if not self.errors else f"policy error: {self.errors[0][:150]}"


class ActionPolicy:
    """A parsed Cedar policy set and the ids of its policies."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or SHIPPED
        try:
            self.text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the action policy {self.path}: {exc}") from exc
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(self.text))
        except Exception as exc:  # cedarpy raises ValueError with Cedar's own message
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"Action policy {self.path} does not parse: {first[:300]}") from exc
        ids = re.findall(r'@id\("([^"]+)"\)', self.text)
        self.count = len(parsed.get("staticPolicies", {})) + len(parsed.get("templates", {}))
        if len(ids) != self.count:
            raise ConfigError(
                f'Action policy {self.path}: give every policy an @id("...") (found '
                f"{len(ids)} ids for {self.count} policies); the audit trail names them."
            )
        self.ids: tuple[str, ...] = tuple(str(i) for i in ids)
        self.parsed = cedarpy.PolicySet.from_str(self.text)  # parsed once, reused per call

    @staticmethod
    def _entities(who: Who, tool: str, risk: str) -> list[dict[str, Any]]:
        user = {
            "uid": {"type": "User", "id": who.user_id},
            "attrs": {
                "access": who.access,
                "role": who.role,
                "center": who.center or "",
                "customer": who.customer,
            },
            "parents": [{"type": "Group", "id": g} for g in sorted(who.groups)],
        }
        groups = [
            {"uid": {"type": "Group", "id": g}, "attrs": {}, "parents": []}
            for g in sorted(who.groups)
        ]
        resource = {"uid": {"type": "Tool", "id": tool}, "attrs": {"risk": risk}, "parents": []}
        return [user, resource, *groups]

    def decide(
        self, verb: str, who: Who, tool: str, risk: str, context: dict[str, Any]
    ) -> Decision:
        """May ``who`` ``verb`` (propose, execute, approve) ``tool``, given ``context``?"""
        if verb not in VERBS:
            raise ValueError(verb)
        request = {
            "principal": f'User::"{_quote(who.user_id)}"',
            "action": f'Action::"{verb}"',
            "resource": f'Tool::"{_quote(tool)}"',
            "context": context,
        }
        result = cedarpy.is_authorized(request, self.parsed, self._entities(who, tool, risk))
        reasons = tuple(self._name(r) for r in result.diagnostics.reasons)
        errors = tuple(str(e) for e in result.diagnostics.errors)
        return Decision(result.allowed, reasons, errors)

    def _name(self, cedar_id: str) -> str:
        """Cedar calls policies policy0, policy1, ... in file order; the record names the
        @id the operator wrote."""
        m = re.fullmatch(r"policy(\d+)", cedar_id)
        if m and int(m.group(1)) < len(self.ids):
            return self.ids[int(m.group(1))]
        return cedar_id


def _quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')
