"""Reading ``plugins.toml``: which plugins are enabled, their raw settings, and call timeouts.

The file has two top-level tables::

    [plugins.<name>]        # one per plugin; `enabled` defaults to true when the table exists
    enabled = true
    <setting> = <value>     # checked later against the plugin's settings dataclass

    [timeouts]              # seconds per family: payment, risk, detector, notify, event, health, lifecycle
    payment = 10

Where it is read from: the ``path`` argument, else ``$LENDLINE_PLUGINS_TOML``, else ``plugins.toml``
in the working directory. An explicitly named file must exist; a missing default file means "no
configuration" and gives :func:`default_config` (the embedded mode: sandbox payments and SMS, the
own-data risk source and the two built-in detectors). Tests build configurations with :func:`config_from_dict`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from plugins.errors import PluginConfigError
from plugins.types import Family

ENV_CONFIG_PATH = "LENDLINE_PLUGINS_TOML"
DEFAULT_FILE = "plugins.toml"
MAX_TIMEOUT = 600.0
RESERVED_KEYS = frozenset({"enabled"})


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds a single plugin call of each family may take before it becomes ``PluginTimeout``."""

    payment: float = 10.0
    risk: float = 5.0
    detector: float = 2.0
    notify: float = 10.0
    event: float = 5.0
    health: float = 2.0
    lifecycle: float = 10.0

    def for_family(self, family: Family) -> float:
        return float(getattr(self, family.value))


@dataclass(frozen=True, slots=True)
class PluginEntry:
    name: str
    enabled: bool
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PluginsConfig:
    plugins: Mapping[str, PluginEntry]
    timeouts: Timeouts
    source: str

    def enabled(self) -> list[str]:
        return [name for name, entry in self.plugins.items() if entry.enabled]


def _timeouts(raw: object, source: str) -> Timeouts:
    if raw is None:
        return Timeouts()
    if not isinstance(raw, dict):
        raise PluginConfigError("[timeouts] must be a table", source=source)
    known = {f.name for f in fields(Timeouts)}
    values: dict[str, float] = {}
    for key, value in raw.items():
        if key not in known:
            raise PluginConfigError(
                f"unknown timeout '{key}'; valid keys are: {', '.join(sorted(known))}", source=source)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PluginConfigError(f"timeout '{key}' must be a number of seconds, got {value!r}",
                                    source=source)
        if not 0 < value <= MAX_TIMEOUT:
            raise PluginConfigError(
                f"timeout '{key}' must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {value}",
                source=source)
        values[key] = float(value)
    return Timeouts(**values)


def config_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> PluginsConfig:
    """Validate the structure of a parsed ``plugins.toml`` (settings are checked per plugin later)."""
    for key in data:
        if key not in ("plugins", "timeouts"):
            raise PluginConfigError(f"unknown top-level table [{key}]; expected [plugins.*] and [timeouts]",
                                    source=source)
    raw_plugins = data.get("plugins", {})
    if not isinstance(raw_plugins, Mapping):
        raise PluginConfigError("[plugins] must be a table of plugin tables", source=source)
    entries: dict[str, PluginEntry] = {}
    for name, table in raw_plugins.items():
        if not isinstance(table, Mapping):
            raise PluginConfigError(f"[plugins.{name}] must be a table", plugin=name, source=source)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PluginConfigError(f"expected a boolean (true/false), got {enabled!r}",
                                    plugin=name, key="enabled", source=source)
        settings = {k: v for k, v in table.items() if k not in RESERVED_KEYS}
        entries[name] = PluginEntry(name=name, enabled=enabled, settings=MappingProxyType(settings))
    return PluginsConfig(plugins=MappingProxyType(entries), timeouts=_timeouts(data.get("timeouts"), source),
                         source=source)


def default_config() -> PluginsConfig:
    """The embedded default when no ``plugins.toml`` exists: everything built-in that needs no secret."""
    return config_from_dict(
        {"plugins": {"sandbox_pay": {}, "category_detector": {}, "name_list_detector": {}, "sandbox_sms": {},
                     "own_data": {}}},
        source="<default configuration>",
    )


def load_config(path: str | os.PathLike[str] | None = None, *,
                env: Mapping[str, str] | None = None) -> PluginsConfig:
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get(ENV_CONFIG_PATH))
    file = Path(path if path is not None else env.get(ENV_CONFIG_PATH) or DEFAULT_FILE)
    source = str(file)
    if not file.is_file():
        if explicit:
            hint = f" (from ${ENV_CONFIG_PATH})" if path is None else ""
            raise PluginConfigError(f"configuration file not found{hint}", source=source)
        return default_config()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PluginConfigError(f"not valid TOML: {exc}", source=source) from None
    return config_from_dict(data, source=source)
