"""Entry-point loading: built-in adapters register exactly like third-party ones.

Groups: ``steward.providers``, ``steward.connectors``, ``steward.embedders``. The setting
``STEWARD_PLUGINS=a,b`` limits which names load; unknown names are a ConfigError that lists
what is installed.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from steward.core.errors import ConfigError

if TYPE_CHECKING:
    from steward.config.settings import Settings

GROUPS = ("steward.providers", "steward.connectors", "steward.embedders")


@cache
def _available(group: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=group)}


def load(group: str, name: str, allowed: str | None = None) -> Any:
    """The object registered as ``name`` in ``group``."""
    eps = _available(group)
    if allowed is not None:
        names = {n.strip() for n in allowed.split(",") if n.strip()}
        if name not in names:
            raise ConfigError(
                f"Plugin {name!r} is not enabled: STEWARD_PLUGINS={allowed!r}. Add it there."
            )
    if name not in eps:
        kind = group.split(".")[-1]
        raise ConfigError(
            f"No {kind[:-1]} named {name!r}; installed: {', '.join(sorted(eps)) or 'none'}."
        )
    return eps[name].load()


def build(group: str, name: str, settings: Settings) -> Any:
    """The adapter registered as ``name``, built by its ``from_settings(settings)``: the one
    path for built-in and third-party adapters alike (``STEWARD_PLUGINS`` limits both)."""
    cls = load(group, name, settings.plugins)
    if not callable(getattr(cls, "from_settings", None)):
        raise ConfigError(
            f"Plugin {name!r} in {group} has no `from_settings(settings)` classmethod; "
            "ask its author for a version that builds itself from Steward's settings."
        )
    return cls.from_settings(settings)


def names(group: str) -> list[str]:
    return sorted(_available(group))
