"""Lendline's plugin layer (SPEC §10): hook specifications, manager, typed facade, built-ins.

The rest of the platform talks to plugins only through :class:`plugins.facade.PluginHost`
(``create_host()`` builds one from ``plugins.toml``). Plugin authors need ``hookimpl``,
``PluginDefinition``, the dataclasses of :mod:`plugins.types` and, for settings, ``Secret`` and
``SettingsError``; see ``docs/plugins.md``.
"""

from plugins.definition import PluginDefinition
from plugins.errors import (
    PluginBadResult,
    PluginConfigError,
    PluginError,
    PluginFailure,
    PluginIncident,
    PluginTimeout,
    PluginUnavailable,
)
from plugins.facade import Detections, PluginHost
from plugins.manager import create_host
from plugins.markers import hookimpl
from plugins.settings import Secret, SettingsError

__all__ = [
    "Detections",
    "PluginBadResult",
    "PluginConfigError",
    "PluginDefinition",
    "PluginError",
    "PluginFailure",
    "PluginHost",
    "PluginIncident",
    "PluginTimeout",
    "PluginUnavailable",
    "Secret",
    "SettingsError",
    "create_host",
    "hookimpl",
]
