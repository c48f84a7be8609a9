"""Field rules and small helpers shared by the system-management services."""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from typing import Any

from tortoise.exceptions import IntegrityError

from core.accounts.rules import max_len, pattern, required
from core.errors import ErrorCode, ErrorCollector, UserError

__all__ = ["conflicts_as_user_errors", "load_data", "max_len", "pattern", "required", "text"]

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")


def text(errs: ErrorCollector, field: str, value: str | None, limit: int, *, needed: bool = True) -> str:
    """`value` stripped; records REQUIRED / TOO_LONG on `field`."""
    clean = (value or "").strip()
    if needed and not required(errs, field, clean):
        return clean
    max_len(errs, field, clean, limit)
    return clean


@contextlib.contextmanager
def conflicts_as_user_errors(field: str | None, message: str) -> Iterator[None]:
    """A unique index losing a race with a concurrent writer becomes a typed error, not a 500."""
    try:
        yield
    except IntegrityError:
        raise UserError.of(field, ErrorCode.NOT_UNIQUE, message) from None


def load_data(name: str) -> dict[str, Any]:
    """A TOML file shipped in `core/system/data/`."""
    raw = resources.files("core.system").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(raw)
