"""The process's one :class:`~plugins.facade.PluginHost`, and how its incidents become system alerts.

Why one per process: plugins hold process state (HTTP clients, the sandboxes' in-memory accounts,
thread pools), start-up hooks must run once, and the payment/notification routing tables are built
at start. The Starlette lifespan (and a worker's start-up) runs :func:`plugin_runtime`, which builds
the host from ``plugins.toml``, installs the alerting below, starts it and makes it reachable through
:func:`current_host`; services call ``current_host()`` instead of receiving the host as an argument,
because the host is infrastructure, like the database connection, not per-request data. Tests install
their own host with :func:`using_host` (or run :func:`plugin_runtime` with a host they built).

Alerting (F-SYS-6): every :class:`~plugins.errors.PluginIncident` becomes one system alert through
``core.system.alerts.raise_alert`` — code ``PLUGIN_<KIND>``, source ``plugin:<name>``, a message naming
plugin, hook and reason — with the plugin's ``Secret`` settings and credential-looking text scrubbed.
Repeats of the same (plugin, hook, kind) within ``quiet_seconds`` are counted instead of raised, so a
plugin that fails on every call (a detector on every transaction) yields one alert per minute saying
how many failures it stands for, not thousands; the next alert carries the count.

Then the ``lendline_on_alert_raised`` event is delivered to plugins, in a background task so that the
failing call is not delayed by listeners. No loops: an incident of an alert listener (or of anything
called while an alert event is being delivered) still raises its alert but never another event.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugins.errors import PluginIncident
from plugins.facade import PluginHost
from plugins.manager import create_host
from plugins.redaction import scrub
from plugins.types import AlertRaised

if TYPE_CHECKING:
    from core.system.models import SystemAlert

log = logging.getLogger("lendline.plugins")

ALERT_HOOK = "lendline_on_alert_raised"
QUIET_SECONDS = 60.0
KIND_TITLES = {"timeout": "超时 timed out", "failure": "出错 failed", "bad_result": "返回格式错误 bad result",
               "unavailable": "不可用 unavailable"}

_host: PluginHost | None = None
_alerts: PluginAlerts | None = None
_delivering: contextvars.ContextVar[bool] = contextvars.ContextVar("lendline_delivering_alert", default=False)


class PluginHostMissing(RuntimeError):
    """No plugin host is running in this process (the app's lifespan did not start one)."""


def current_host() -> PluginHost:
    """The running host of this process; raises :class:`PluginHostMissing` when there is none."""
    if _host is None:
        raise PluginHostMissing("no plugin host is running in this process: start one with "
                                "plugins.runtime.plugin_runtime() (the app's lifespan does)")
    return _host


def install_host(host: PluginHost | None, alerts: PluginAlerts | None = None
                 ) -> tuple[PluginHost | None, PluginAlerts | None]:
    """Make ``host`` this process's host (``None`` removes it); returns what was installed before."""
    global _host, _alerts
    previous = (_host, _alerts)
    _host, _alerts = host, alerts
    return previous


@contextlib.contextmanager
def using_host(host: PluginHost, alerts: PluginAlerts | None = None) -> Iterator[PluginHost]:
    """Install ``host`` for the duration of the block (tests); the previous host comes back after."""
    previous = install_host(host, alerts)
    try:
        yield host
    finally:
        install_host(*previous)


@dataclass
class _Streak:
    last_raised: dt.datetime
    suppressed: int = 0


class PluginAlerts:
    """The ``on_failure`` callback that turns incidents into system alerts (see the module notes)."""

    def __init__(self, host: PluginHost, *, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.host = host
        self.quiet = dt.timedelta(seconds=quiet_seconds)
        self._streaks: dict[tuple[str, str, str], _Streak] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def install(self) -> PluginAlerts:
        self.host.on_failure = self
        return self

    async def __call__(self, incident: PluginIncident) -> None:
        from core import clock
        from core.system.alerts import raise_alert

        key = (incident.plugin, incident.hook, incident.kind)
        now = clock.now()
        streak = self._streaks.get(key)
        if streak is not None and now - streak.last_raised < self.quiet:
            streak.suppressed += 1
            log.info("plugin incident %s/%s/%s folded into the alert raised at %s", *key, streak.last_raised)
            return
        suppressed = streak.suppressed if streak is not None else 0
        self._streaks[key] = _Streak(now)
        reason = scrub(incident.message, self.host.secret_values(incident.plugin))
        title = KIND_TITLES.get(incident.kind, incident.kind)
        message = f"插件 Plugin {incident.plugin}: {incident.hook} {title}: {reason}"
        if suppressed:
            message += f" (+{suppressed} similar since the last alert)"
        detail = {"plugin": incident.plugin, "hook": incident.hook, "family": incident.family.value,
                  "kind": incident.kind, "reason": reason, "occurred_at": incident.occurred_at.isoformat(),
                  "suppressed_since_last_alert": suppressed}
        alert = await raise_alert(f"PLUGIN_{incident.kind.upper()}", message, source=f"plugin:{incident.plugin}",
                                  detail=detail)
        if incident.hook != ALERT_HOOK and not _delivering.get():
            self.announce(alert)

    def announce(self, alert: SystemAlert | None) -> None:
        """Deliver ``lendline_on_alert_raised`` for a stored alert, in the background.

        ``None`` (an alert deferred behind a SQLite transaction, or one that could not be written) is
        skipped: the event promises a stored alert with its number. Never called while delivering.
        """
        if alert is None or _delivering.get() or self.host.closed:
            return
        from core.system.alerts import alert_number

        event = AlertRaised(event_id=f"alert:{alert.id}", alert_no=alert_number(alert), error_code=alert.code,
                            message=alert.message, raised_at=alert.created_at)
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: AlertRaised) -> None:
        _delivering.set(True)  # this task's own context: incidents below raise alerts, not events
        try:
            await self.host.emit_alert_raised(event)
        except Exception:  # a closed host, say; the alert itself is stored already
            log.exception("could not deliver alert event %s", event.alert_no)

    async def drain(self, limit: float | None = None) -> None:
        """Wait for alert events being delivered (tests); shutdown waits at most ``limit`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        while self._tasks:
            left = None if deadline is None else max(deadline - loop.time(), 0.0)
            _, pending = await asyncio.wait(set(self._tasks), timeout=left)
            if pending or left == 0.0:
                for task in set(self._tasks):
                    task.cancel()
                return


def announce_alert(alert: SystemAlert | None) -> None:
    """Tell plugins (``lendline_on_alert_raised``) about an alert raised with ``raise_alert``.

    For code outside the plugin layer: ``announce_alert(await raise_alert(...))``. A no-op when no
    host runs in this process or the alert was deferred (``None``).
    """
    if _alerts is not None:
        _alerts.announce(alert)


@contextlib.asynccontextmanager
async def plugin_runtime(host: PluginHost | None = None, *, quiet_seconds: float = QUIET_SECONDS
                         ) -> AsyncIterator[PluginHost]:
    """Build (from ``plugins.toml``) or take ``host``, wire alerting, start it, install it; on exit
    uninstall and close it. A configuration error (``PluginConfigError``) propagates: start-up fails."""
    host = host if host is not None else create_host()
    alerts = PluginAlerts(host, quiet_seconds=quiet_seconds).install()
    try:
        await host.start()
    except BaseException:
        await alerts.drain(limit=host.timeouts.event + 1)
        await host.aclose()
        raise
    previous = install_host(host, alerts)
    try:
        yield host
    finally:
        install_host(*previous)
        await alerts.drain(limit=host.timeouts.event + 1)
        await host.aclose()


@contextlib.asynccontextmanager
async def ensure_plugin_runtime() -> AsyncIterator[PluginHost]:
    """The host already running in this process, or one from ``plugins.toml`` for the block's duration.

    For one-off commands (``lendline demo``) that call services which need plugins outside the app's
    lifespan; inside the app or a worker the running host is used as it is.
    """
    try:
        yield current_host()
        return
    except PluginHostMissing:
        pass
    async with plugin_runtime() as host:
        yield host
