"""Canonical JSON encoding of ledger payloads, so that equal payloads hash to equal bytes.

A tamper-evident ledger hashes each entry; verification re-encodes the stored payload and
compares hashes, possibly years later, in another process or another language. The
encoding must therefore be a pure function of the payload's *value*, with no dependence on
dict insertion order, whitespace, locale, the machine's time zone or float rounding.

Rules (stricter than plain :func:`json.dumps`, by design):

* objects: keys must be strings; sorted by Unicode code point (the same order as sorting the
  UTF-8 bytes, which any language can reproduce); no whitespace between tokens;
* text: UTF-8, non-ASCII characters emitted as-is (``ensure_ascii=False``);
* ``Decimal``: a JSON *string* holding its exact fixed-point value, scale preserved
  (``Decimal("10.50")`` -> ``"10.50"``, ``Decimal("1E+2")`` -> ``"100"``), because JSON
  numbers are read as binary floats by most parsers and money must never lose a cent. The
  scale is part of the encoding, so callers should quantize amounts to the column's scale
  *before* hashing (a NUMERIC(18,2) column turns 10.5 into 10.50 on the way back);
* ``float``: refused — money is never a float, and float repr is not a stable contract;
* ``datetime``: must be timezone-aware; rendered in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
  (fixed width, so the text for an instant is unique); naive datetimes are ambiguous and
  refused; ``date`` as ``YYYY-MM-DD``;
* ``UUID``: canonical lowercase hyphenated string; ``Enum``: its value (encoded by these
  same rules);
* ``bytes``, ``set``/``frozenset`` and any other type: refused — bytes have no single
  obvious text form and sets have no order; convert them explicitly before hashing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeAlias
from uuid import UUID

__all__ = ["CanonicalJSONError", "JSONValue", "canonical_json", "sha256_hex"]

JSONValue: TypeAlias = bool | int | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""The plain JSON tree every payload is reduced to before encoding."""


class CanonicalJSONError(TypeError):
    """A payload contains a value that has no canonical encoding (float, bytes, set, ...)."""


def canonical_json(obj: Any) -> bytes:
    """Encode ``obj`` as canonical JSON (UTF-8 bytes); see the module docstring for the rules.

    Raises :class:`CanonicalJSONError` (a ``TypeError``) for unsupported types and
    ``ValueError`` for supported types holding unencodable values (naive datetime, NaN
    Decimal, lone surrogates, duplicate keys after conversion).
    """
    plain = _to_plain(obj, ())
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"payload contains text that is not valid Unicode (lone surrogate?): {exc}") from exc


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``: the textual digest form used in ledger records."""
    return hashlib.sha256(data).hexdigest()


def _to_plain(value: Any, path: tuple[int, ...]) -> JSONValue:
    """Reduce ``value`` to plain JSON types, refusing anything ambiguous.

    ``path`` holds the ids of the containers being visited, to report cycles clearly
    instead of overflowing the stack.
    """
    # Order matters: bool is an int, datetime is a date, IntEnum/StrEnum are int/str.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _to_plain(value.value, path)
    if isinstance(value, int | str):
        return _exact_builtin(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _container_to_plain(value, path)
    raise CanonicalJSONError(_refusal(value))


def _exact_builtin(value: int | str) -> int | str:
    """Strip int/str subclasses so their custom ``__repr__``/``__str__`` cannot leak in."""
    return int(value) if isinstance(value, int) else str.__str__(value)


def _container_to_plain(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], path: tuple[int, ...]) -> JSONValue:
    """Convert a mapping or sequence, guarding against reference cycles."""
    if id(value) in path:
        raise ValueError("payload contains a reference cycle")
    inner = (*path, id(value))
    if isinstance(value, Mapping):
        return _mapping_to_plain(value, inner)
    return [_to_plain(item, inner) for item in value]


def _mapping_to_plain(value: Mapping[Any, Any], path: tuple[int, ...]) -> dict[str, JSONValue]:
    """Convert a mapping; keys must be text so that e.g. 1 and "1" can never collide silently."""
    plain: dict[str, JSONValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise CanonicalJSONError(f"object keys must be str, got {type(key).__name__}: {key!r}")
        text_key = str(key.value) if isinstance(key, Enum) else str.__str__(key)
        if text_key in plain:
            raise ValueError(f"duplicate object key after conversion: {text_key!r}")
        plain[text_key] = _to_plain(item, path)
    return plain


def _decimal_text(value: Decimal) -> str:
    """Exact fixed-point text, never exponent notation, so other languages parse it trivially.

    Negative zero loses its sign: it equals zero, and PostgreSQL NUMERIC cannot store it, so
    keeping it would make a payload re-read from the database hash differently.
    """
    if not value.is_finite():
        raise ValueError(f"Decimal {value} has no canonical encoding (not finite)")
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


def _datetime_text(value: datetime) -> str:
    """UTC, fixed-width microseconds, "Z" suffix: one text per instant, whatever the source zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; attach a timezone")
    utc = value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _refusal(value: Any) -> str:
    """Explain why a type is refused, pointing to the fix."""
    kind = type(value).__name__
    if isinstance(value, float):
        return f"float {value!r} refused: money and quantities must be Decimal (or int), never float"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{kind} refused: encode binary data explicitly (e.g. hex or base64 str) before hashing"
    if isinstance(value, set | frozenset):
        return f"{kind} refused: sets have no order; pass a sorted list instead"
    return f"{kind} has no canonical JSON encoding"
