"""Errors of the plugin layer.

Two kinds, kept apart on purpose:

* :class:`PluginConfigError` stops start-up: the operator wrote something wrong in ``plugins.toml``
  (or the environment), and the message names the plugin and the key to fix.
* :class:`PluginError` and its subclasses are what a caller gets when a plugin misbehaves at run time
  (timeout, exception, malformed result, nobody serving the request). They are never a crash: the
  caller decides what to do (a payment that timed out is "unknown" and is queried later), and the
  host reports the same problem once through its failure callback as a :class:`PluginIncident`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from plugins.types import Family, utcnow


class PluginConfigError(Exception):
    """A start-up configuration problem, naming the plugin and key when there is one."""

    def __init__(self, message: str, *, plugin: str | None = None, key: str | None = None,
                 source: str = "plugins.toml") -> None:
        self.plugin = plugin
        self.key = key
        self.source = source
        self.message = message
        where = [source]
        if plugin is not None:
            where.append(f"plugin '{plugin}'")
        if key is not None:
            where.append(f"key '{key}'")
        super().__init__(f"{', '.join(where)}: {message}")


class PluginError(Exception):
    """A plugin call went wrong; ``plugin`` and ``hook`` say which one."""

    kind = "error"

    def __init__(self, plugin: str, hook: str, message: str) -> None:
        self.plugin = plugin
        self.hook = hook
        self.message = message
        super().__init__(f"plugin '{plugin}' {hook}: {message}")


class PluginTimeout(PluginError):
    """The plugin did not answer within its family's timeout (the work may still have happened)."""

    kind = "timeout"


class PluginFailure(PluginError):
    """The plugin raised; the original exception is chained as ``__cause__``."""

    kind = "failure"


class PluginBadResult(PluginError):
    """The plugin answered with something other than the documented result type."""

    kind = "bad_result"


class PluginUnavailable(PluginError):
    """No enabled plugin serves this request (unknown provider identifier or unimplemented hook)."""

    kind = "unavailable"


@dataclass(frozen=True, slots=True)
class PluginIncident:
    """What the host hands to ``on_failure``; the platform turns it into a system alert."""

    plugin: str
    hook: str
    family: Family
    kind: str
    message: str
    error: PluginError
    occurred_at: dt.datetime = field(default_factory=utcnow)

    @classmethod
    def from_error(cls, error: PluginError, family: Family) -> PluginIncident:
        return cls(plugin=error.plugin, hook=error.hook, family=family, kind=error.kind,
                   message=error.message, error=error)
