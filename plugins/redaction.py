"""Scrubbing secrets out of text that plugins produced, before it reaches alerts or logs.

Why: a plugin's exception message is free text written by its author or by a library underneath it
(an HTTP client quoting a URL with ``?key=…``, a gateway echoing an ``Authorization`` header). The
host turns such messages into incidents and the platform into system alerts that many people read,
so two nets are applied: the plugin's own ``Secret`` settings are replaced wherever they occur, and
common credential shapes (``Bearer …``, ``token=…``, ``api_key: …``) are masked whatever their value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from plugins.settings import Secret

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary words and digits

_CREDENTIALS = re.compile(
    r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(\b[\w-]*(?:key|token|secret|password|passwd|pwd|signature|sign)\b[\"']?\s*[=:]\s*[\"']?)[^\s,;&\"'}]+"
)


def secret_values(settings: object) -> frozenset[str]:
    """Every revealed ``Secret`` inside a settings dataclass (also inside lists and dicts)."""
    found: set[str] = set()

    def visit(value: object) -> None:
        if isinstance(value, Secret):
            if len(value.reveal()) >= MIN_SECRET_LENGTH:
                found.add(value.reveal())
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                visit(item)

    visit(settings)
    return frozenset(found)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and credential-looking assignments masked."""
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: one may contain another
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return _CREDENTIALS.sub(lambda m: (m.group(1) or m.group(2)) + MASK, text)
