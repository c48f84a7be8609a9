"""How a plugin presents itself to the manager: a :class:`PluginDefinition`.

Built-in plugins list their definitions in ``plugins.builtin``; third-party packages point an entry
point of the ``lendline.plugins`` group at one. The definition separates *what the plugin is* (name,
settings schema, version) from *an instance of it*, so the manager can validate settings and report
the plugin's families before creating anything, and create it with validated settings only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Any

from plugins.markers import PROJECT
from plugins.types import Family

IMPL_ATTR = f"{PROJECT}_impl"


def hook_family(hook: str) -> Family | None:
    """Map a hook name to its family (by the naming convention that hookspecs.py follows)."""
    from plugins.hookspecs import HOOK_FAMILIES

    return HOOK_FAMILIES.get(hook)


def families_of(hooks: list[str]) -> tuple[Family, ...]:
    """Families a plugin takes part in, for display; lifecycle and health hooks are not families."""
    found = {hook_family(h) for h in hooks} - {None, Family.HEALTH, Family.LIFECYCLE}
    return tuple(sorted((f for f in found if f is not None), key=list(Family).index))


@dataclass(frozen=True, slots=True)
class PluginDefinition:
    """A plugin: ``factory(settings)`` (or ``factory()`` without a settings schema) builds the object
    whose ``@hookimpl`` methods pluggy registers.

    ``settings`` is a dataclass describing the plugin's ``plugins.toml`` keys, their types and
    defaults; see :mod:`plugins.settings` for what types are supported.
    """

    name: str
    factory: Callable[..., object]
    settings: type | None = None
    version: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"plugin name {self.name!r} must be a Python identifier (letters, digits, _)")
        if self.settings is not None and not (isinstance(self.settings, type) and is_dataclass(self.settings)):
            raise TypeError(f"plugin {self.name!r}: settings must be a dataclass type")

    def create(self, settings: Any) -> object:
        return self.factory() if self.settings is None else self.factory(settings)

    def declared_hooks(self) -> list[str]:
        """Hook names implemented by the factory when it is a class (without instantiating it)."""
        if not inspect.isclass(self.factory):
            return []
        hooks = []
        for attr in dir(self.factory):
            opts = getattr(getattr(self.factory, attr, None), IMPL_ATTR, None)
            if opts is not None:
                hooks.append(opts.get("specname") or attr)
        return hooks
