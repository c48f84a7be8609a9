"""Plugin settings: a dataclass per plugin, filled from its ``plugins.toml`` table.

Why hand-written rather than a validation library: the venv has none, and the rules we need are few
(TOML scalars, arrays, tables, ``env:`` secrets) while the error messages matter a lot — an operator
must read *which plugin, which key, what was expected* and never see a secret echoed back.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Decimal``, :class:`Secret`,
``Literal[...]``, ``StrEnum`` subclasses, ``X | None``, ``tuple[T, ...]``/``list[T]`` and
``dict[str, T]``. A string value ``"env:NAME"`` in a ``str`` or ``Secret`` field is read from the
environment variable ``NAME``. A settings class may check cross-field rules in ``__post_init__`` and
raise :class:`SettingsError` naming the key.
"""

from __future__ import annotations

import dataclasses
import hmac
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from plugins.errors import PluginConfigError

ENV_PREFIX = "env:"


class Secret:
    """A string that never shows itself in ``repr``/``str`` (so settings can be logged safely)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class SettingsError(ValueError):
    """Raised from a settings dataclass ``__post_init__`` to report a bad value of one key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message


_TOML_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               list: "an array", dict: "a table"}


def _describe_value(value: object, secret: bool) -> str:
    kind = _TOML_NAMES.get(type(value), type(value).__name__)
    if secret or isinstance(value, list | dict):
        return kind
    text = repr(value)
    return f"{kind} {text[:60]}"


def _describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is Secret:
        return "a string (secret, may be env:VAR)"
    if tp is bool:
        return "a boolean"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is Decimal:
        return "a decimal number (write money as a string, e.g. \"10000.00\")"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, frozenset):
        return f"an array of {_describe_type(typing.get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return f"a table of {_describe_type(typing.get_args(tp)[1])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe_type(a) for a in typing.get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _resolve_env(key: str, value: str, env: Mapping[str, str], resolve: bool) -> str:
    if not value.startswith(ENV_PREFIX):
        return value
    var = value[len(ENV_PREFIX):].strip()
    if not var:
        raise _Invalid(key, "'env:' must be followed by an environment variable name")
    if not resolve:
        return ""
    if var not in env:
        raise _Invalid(key, f"environment variable {var} is not set")
    return env[var]


def _coerce(key: str, value: Any, tp: Any, env: Mapping[str, str], resolve: bool) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _coerce(key, value, option, env, resolve)
            except _Invalid as exc:
                if len(options) == 1 or exc.key != key:
                    raise
        raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, False)}")
    if tp is Secret:
        if not isinstance(value, str):
            raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, True)}")
        return Secret(_resolve_env(key, value, env, resolve))
    if tp is str:
        if not isinstance(value, str):
            raise _Invalid(key, f"expected a string, got {_describe_value(value, False)}")
        return _resolve_env(key, value, env, resolve)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Invalid(key, f"expected a boolean (true/false), got {_describe_value(value, False)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(key, f"expected an integer, got {_describe_value(value, False)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(key, f"expected a number, got {_describe_value(value, False)}")
        return float(value)
    if tp is Decimal:
        return _coerce_decimal(key, value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, False)}") from None
    if origin is typing.Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, False)}")
        return value
    if origin in (list, tuple, frozenset):
        if not isinstance(value, list):
            raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, False)}")
        items = [_coerce(f"{key}[{i}]", item, args[0], env, resolve) for i, item in enumerate(value)]
        return origin(items)
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise _Invalid(key, f"expected {_describe_type(tp)}, got {_describe_value(value, False)}")
        return {str(k): _coerce(f"{key}.{k}", v, args[1], env, resolve) for k, v in value.items()}
    raise TypeError(f"unsupported settings field type {tp!r} for {key}")


def _coerce_decimal(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(key, f"expected {_describe_type(Decimal)}, got {_describe_value(value, False)}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid(key, f"expected {_describe_type(Decimal)}, got {_describe_value(value, False)}") from None
    if not number.is_finite():
        raise _Invalid(key, f"expected a finite decimal number, got {value!r}")
    return number


def settings_keys(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema) if f.init]


def parse_settings(plugin: str, schema: type | None, raw: Mapping[str, Any], *,
                   env: Mapping[str, str], resolve_env: bool = True, source: str = "plugins.toml") -> Any:
    """Build ``schema`` from ``raw`` or raise :class:`PluginConfigError` naming plugin and key.

    With ``resolve_env=False`` (used for disabled plugins) keys and types are checked but ``env:``
    references are not looked up and nothing is built (``None`` is returned), so a disabled plugin's
    missing secret does not stop start-up while a typo in its table still does.
    """

    def fail(message: str, key: str | None = None) -> PluginConfigError:
        return PluginConfigError(message, plugin=plugin, key=key, source=source)

    if schema is None:
        if raw:
            key = next(iter(raw))
            raise fail("unknown key: this plugin takes no settings", key)
        return None
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    hints = typing.get_type_hints(schema)
    for key in raw:
        if key not in fields:
            raise fail(f"unknown key; valid keys are: {', '.join(sorted(fields)) or '(none)'}", key)
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        if name in raw:
            try:
                values[name] = _coerce(name, raw[name], hints[name], env, resolve_env)
            except _Invalid as exc:
                raise fail(exc.message, exc.key) from None
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise fail(f"missing required key (expected {_describe_type(hints[name])})", name)
    if not resolve_env:
        return None
    try:
        return schema(**values)
    except SettingsError as exc:
        raise fail(exc.message, exc.key) from None
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
