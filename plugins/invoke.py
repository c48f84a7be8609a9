"""Calling one hook implementation in isolation.

Why the host calls implementations one by one instead of ``pm.hook.<name>(...)``: pluggy calls all
implementations in a plain loop, synchronously, so one slow or raising plugin would delay or abort
the others, and there would be no way to say *which* plugin failed. Here every call gets:

* a timeout per family (``asyncio.timeout``) — for async implementations it cancels the coroutine;
* a worker thread for sync implementations, from a small pool *per plugin*, so blocking I/O never
  stalls the event loop and a plugin that hangs its threads only starves itself (a thread cannot be
  killed; after a timeout it finishes in the background and its result is dropped);
* conversion of exceptions, timeouts and wrong result types into ``PluginError`` subclasses, each
  reported once through the host's incident callback.

An ``async def`` plugin that blocks the loop (``time.sleep`` inside a coroutine) cannot be preempted
by anyone; the guide tells authors to use a sync hook for blocking work.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pluggy import HookImpl

from plugins.config import Timeouts
from plugins.errors import (
    PluginBadResult,
    PluginError,
    PluginFailure,
    PluginIncident,
    PluginTimeout,
)
from plugins.types import Family

log = logging.getLogger("lendline.plugins")

T = TypeVar("T")
Validator = Callable[[object], T]
Reporter = Callable[[PluginIncident], Awaitable[None]]

THREADS_PER_PLUGIN = 8


class BadResult(Exception):
    """Raised by a validator: the message says what was expected (values are not echoed)."""


def expect_type(tp: type[T] | tuple[type, ...], what: str | None = None) -> Validator[T]:
    """A validator accepting instances of ``tp`` only."""

    def check(result: object) -> T:
        if not isinstance(result, tp):
            raise BadResult(f"expected {what or _type_name(tp)}, got {type(result).__name__}")
        return result  # type: ignore[return-value]

    return check


def _type_name(tp: type | tuple[type, ...]) -> str:
    if isinstance(tp, tuple):
        return " or ".join(t.__name__ for t in tp)
    return tp.__name__


def _describe_exception(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text[:300]}" if text else name


class Invoker:
    """Runs single hook implementations with timeout, thread offloading and error conversion."""

    def __init__(self, timeouts: Timeouts, report: Reporter) -> None:
        self.timeouts = timeouts
        self._report = report
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def _executor(self, plugin: str) -> ThreadPoolExecutor:
        executor = self._executors.get(plugin)
        if executor is None:
            executor = ThreadPoolExecutor(THREADS_PER_PLUGIN, thread_name_prefix=f"lendline-plugin-{plugin}")
            self._executors[plugin] = executor
        return executor

    async def _run(self, impl: HookImpl, kwargs: Mapping[str, Any]) -> object:
        fn = impl.function
        args = [kwargs[name] for name in impl.argnames]
        if inspect.iscoroutinefunction(fn):
            result = await fn(*args)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(contextvars.copy_context().run, fn, *args)
            result = await loop.run_in_executor(self._executor(impl.plugin_name), call)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def call(self, impl: HookImpl, hook: str, family: Family, kwargs: Mapping[str, Any],
                   validate: Validator[T]) -> T:
        """Call ``impl`` and return its validated result, or raise (and report) a ``PluginError``."""
        plugin = impl.plugin_name
        seconds = self.timeouts.for_family(family)
        error: PluginError
        try:
            timer = asyncio.timeout(seconds)
            try:
                async with timer:
                    result = await self._run(impl, kwargs)
            except TimeoutError as exc:
                if not timer.expired():
                    raise
                error = PluginTimeout(plugin, hook, f"no answer within {seconds:g}s")
                error.__cause__ = exc
            else:
                try:
                    return validate(result)
                except BadResult as exc:
                    error = PluginBadResult(plugin, hook, str(exc))
        except (Exception, SystemExit) as exc:  # a plugin's exception must never escape as itself
            error = PluginFailure(plugin, hook, _describe_exception(exc))
            error.__cause__ = exc
        await self._report(PluginIncident.from_error(error, family))
        raise error

    async def call_quietly(self, impl: HookImpl, hook: str, family: Family, kwargs: Mapping[str, Any],
                           validate: Validator[T]) -> T | PluginError:
        """Like :meth:`call` but returns the error instead of raising (for collected/broadcast hooks)."""
        try:
            return await self.call(impl, hook, family, kwargs, validate)
        except PluginError as error:
            return error

    def shutdown(self) -> None:
        """Release worker threads; threads stuck in a plugin finish on their own."""
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)
        self._executors.clear()
