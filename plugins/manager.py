"""Finding, configuring and registering plugins; building the :class:`~plugins.facade.PluginHost`.

Where plugins come from:

* built-ins, listed by name in ``plugins.builtin.BUILTINS``;
* third-party packages, through entry points of the group ``lendline.plugins`` (the entry point's
  name is the plugin name; its object is a :class:`~plugins.definition.PluginDefinition`). Entry
  points are only *imported* when the plugin is enabled, so a broken package that nobody enabled
  cannot break start-up;
* ``extra`` definitions passed by tests.

Nothing runs unless ``plugins.toml`` enables it. ``LENDLINE_BLOCK_PLUGINS=a,b`` blocks plugins by
name even when enabled (the emergency switch for a misbehaving plugin: it is not imported, not
configured, not registered). Every mistake — unknown plugin, unknown key, wrong type, missing
``env:`` secret, an entry point that fails to import, a hook name with a typo — is a
:class:`~plugins.errors.PluginConfigError` at start-up, not a surprise at the first payment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import pluggy

from plugins import hookspecs
from plugins.config import PluginsConfig, load_config
from plugins.definition import PluginDefinition
from plugins.errors import PluginConfigError
from plugins.markers import PROJECT
from plugins.settings import SettingsError, parse_settings

if TYPE_CHECKING:
    from plugins.facade import PluginHost

ENTRY_POINT_GROUP = "lendline.plugins"
ENV_BLOCK = "LENDLINE_BLOCK_PLUGINS"


@dataclass(slots=True)
class Candidate:
    """A plugin the manager knows about, loaded or not."""

    name: str
    source: str
    definition: PluginDefinition | None = None
    entry_point: metadata.EntryPoint | None = None
    version: str = ""

    def load(self, config_source: str) -> PluginDefinition:
        if self.definition is None:
            assert self.entry_point is not None
            try:
                obj = self.entry_point.load()
            except Exception as exc:
                raise PluginConfigError(
                    f"cannot import entry point {self.entry_point.value!r}: {type(exc).__name__}: {exc}",
                    plugin=self.name, source=config_source) from exc
            if not isinstance(obj, PluginDefinition):
                raise PluginConfigError(
                    f"entry point {self.entry_point.value!r} must point to a plugins.PluginDefinition, "
                    f"not {type(obj).__name__}", plugin=self.name, source=config_source)
            if obj.name != self.name:
                raise PluginConfigError(
                    f"entry point name {self.name!r} differs from its definition's name {obj.name!r}",
                    plugin=self.name, source=config_source)
            self.definition = obj
        return self.definition


@dataclass(slots=True)
class LoadedPlugin:
    """A configured, registered plugin instance."""

    name: str
    source: str
    version: str
    definition: PluginDefinition
    instance: object
    settings: object


@dataclass(slots=True)
class PluginSet:
    pm: pluggy.PluginManager
    config: PluginsConfig
    candidates: dict[str, Candidate]
    loaded: dict[str, LoadedPlugin]
    blocked: frozenset[str]


def blocked_plugins(env: Mapping[str, str]) -> frozenset[str]:
    return frozenset(n.strip() for n in env.get(ENV_BLOCK, "").split(",") if n.strip())


def _lendline_version() -> str:
    try:
        return metadata.version("lendline")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def discover(extra: Iterable[PluginDefinition] = (), *, entry_points: bool = True) -> dict[str, Candidate]:
    """All known plugins by name: built-ins, then ``extra``, then installed entry points."""
    from plugins.builtin import BUILTINS

    version = _lendline_version()
    found: dict[str, Candidate] = {}
    for definition in BUILTINS:
        found[definition.name] = Candidate(definition.name, "builtin", definition,
                                           version=definition.version or version)
    for definition in extra:
        found[definition.name] = Candidate(definition.name, "extra", definition, version=definition.version)
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "?"
            if ep.name in found:
                # Shadowing a built-in silently would be a supply-chain hazard: refuse loudly, but
                # only when that name is enabled (see build_plugin_set), by keeping a marker.
                found[ep.name] = Candidate(ep.name, f"conflict:{dist}", found[ep.name].definition,
                                           ep, found[ep.name].version)
                continue
            found[ep.name] = Candidate(ep.name, f"entry-point:{dist}", None, ep,
                                       ep.dist.version if ep.dist is not None else "")
    return found


def build_plugin_set(config: PluginsConfig, *, env: Mapping[str, str],
                     extra: Iterable[PluginDefinition] = (), entry_points: bool = True) -> PluginSet:
    candidates = discover(extra, entry_points=entry_points)
    blocked = blocked_plugins(env)
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    source = config.source
    loaded: dict[str, LoadedPlugin] = {}
    for name, entry in config.plugins.items():
        candidate = candidates.get(name)
        if candidate is None:
            if entry.enabled:
                known = ", ".join(sorted(candidates)) or "(none)"
                raise PluginConfigError(
                    f"unknown plugin (not built in and no '{ENTRY_POINT_GROUP}' entry point installed); "
                    f"known plugins: {known}", plugin=name, source=source)
            continue
        if candidate.source.startswith("conflict:") and entry.enabled:
            raise PluginConfigError(
                f"an entry point from {candidate.source.split(':', 1)[1]} uses the name of a built-in "
                "plugin; rename the third-party plugin", plugin=name, source=source)
        if name in blocked:
            continue
        if not entry.enabled:
            if candidate.definition is not None:  # cheap check of keys/types, no import, no secrets
                parse_settings(name, candidate.definition.settings, entry.settings, env=env,
                               resolve_env=False, source=source)
            continue
        definition = candidate.load(source)
        settings = parse_settings(name, definition.settings, entry.settings, env=env, source=source)
        try:
            instance = definition.create(settings)
        except PluginConfigError:
            raise
        except SettingsError as exc:  # a check that needs the plugin's data, e.g. a list name
            raise PluginConfigError(exc.message, plugin=name, key=exc.key, source=source) from exc
        except Exception as exc:
            raise PluginConfigError(f"could not be created: {type(exc).__name__}: {exc}",
                                    plugin=name, source=source) from exc
        _register(pm, instance, name, source)
        loaded[name] = LoadedPlugin(name, candidate.source, candidate.version or definition.version,
                                    definition, instance, settings)
    return PluginSet(pm, config, candidates, loaded, blocked)


def _register(pm: pluggy.PluginManager, instance: object, name: str, source: str) -> None:
    try:
        pm.register(instance, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginConfigError(f"hook implementation does not match its specification: {exc}",
                                plugin=name, source=source) from None
    except ValueError as exc:
        raise PluginConfigError(str(exc), plugin=name, source=source) from None
    for caller in pm.get_hookcallers(instance) or []:
        problem = None
        mine = [i for i in caller.get_hookimpls() if i.plugin is instance]
        if not caller.has_spec() and not all(i.optionalhook for i in mine):
            problem = f"implements unknown hook {caller.name!r} (check the spelling against plugins.hookspecs)"
        elif any(i.wrapper or i.hookwrapper for i in mine):
            problem = f"{caller.name}: hook wrappers are not supported (the host calls each implementation)"
        if problem:
            pm.unregister(instance)
            raise PluginConfigError(problem, plugin=name, source=source)


def create_host(config: PluginsConfig | None = None, *, env: Mapping[str, str] | None = None,
                extra: Iterable[PluginDefinition] = (), entry_points: bool = True) -> PluginHost:
    """Load the configuration (or use ``config``), build and register the plugins, return the host.

    The host is not started; ``await host.start()`` (or ``async with host``) runs start-up hooks and
    builds the payment routing table. Raises :class:`PluginConfigError` on any configuration problem.
    """
    from plugins.facade import PluginHost

    env = os.environ if env is None else env
    config = load_config(env=env) if config is None else config
    return PluginHost(build_plugin_set(config, env=env, extra=extra, entry_points=entry_points))
