"""Expected failures of use cases, as data.

Why: a bank's SPA must show the user which field is wrong and what to fix, so services raise
`UserError`s carrying `{field, code, message}` and the GraphQL layer maps them to payload errors.
Anything else is a bug, masked in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ErrorCode(Enum):
    """Machine-readable reasons; the SPA switches on these, people read `message`."""

    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    TOO_SHORT = "TOO_SHORT"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOT_UNIQUE = "NOT_UNIQUE"
    IMMUTABLE = "IMMUTABLE"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    TOKEN_INVALID = "TOKEN_INVALID"
    CONFLICT = "CONFLICT"
    STALE = "STALE"
    SELF_REVIEW = "SELF_REVIEW"
    INVALID_STATE = "INVALID_STATE"
    PLUGIN_ERROR = "PLUGIN_ERROR"


@dataclass(frozen=True)
class FieldError:
    """One problem with the input: `field` is the input path (e.g. "email"), None for the whole request."""

    field: str | None
    code: ErrorCode
    message: str


class UserError(Exception):
    """A failure the caller can fix (or must be told about); carries one or more `FieldError`s."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = errors if isinstance(errors, list) else [errors]
        super().__init__("; ".join(f"{e.field or '-'}: {e.message}" for e in self.errors))

    @classmethod
    def of(cls, field: str | None, code: ErrorCode, message: str) -> UserError:
        return cls(FieldError(field, code, message))

    @property
    def code(self) -> ErrorCode:
        return self.errors[0].code


def not_found(what: str, field: str | None = "id") -> UserError:
    return UserError.of(field, ErrorCode.NOT_FOUND, f"{what} not found")


def forbidden(message: str = "You do not have permission for this action") -> UserError:
    return UserError.of(None, ErrorCode.FORBIDDEN, message)


class ErrorCollector:
    """Gathers every field problem of one input so the user sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str | None, code: ErrorCode, message: str) -> None:
        self.errors.append(FieldError(field, code, message))

    def has(self, field: str) -> bool:
        """Whether `field` already failed a rule (skip costlier checks such as uniqueness)."""
        return any(e.field == field for e in self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise UserError(list(self.errors))
