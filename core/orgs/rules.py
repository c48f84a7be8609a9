"""Field rules shared by the institution services (SPEC §2), one function per kind of field.

Each rule records a `FieldError` naming the input field (camelCase, as the SPA sends it) and saying
what to fix, and returns the cleaned value (or None when the field failed), so a service can run
every rule first and raise all problems at once.

Why these shapes: bank e-mails and service phones are printed in loan contracts (F-ORG-1), so they
are checked strictly; codes and identifiers are used by integrations and plugins, so they are
restricted to characters that survive URLs, file names and config files unchanged.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

from core.errors import ErrorCode, ErrorCollector

E = TypeVar("E", bound=Enum)

CODE = re.compile(r"^[A-Za-z0-9_-]+$")
# Local part: the RFC 5322 "atext" characters with single dots between them; domain: dot-separated
# labels of letters, digits and inner hyphens, with at least one dot (mail to a bare host is a typo).
EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# Digits in groups separated by single dashes: 95577, 400-669-5577, 021-12345678, 13800138000.
PHONE = re.compile(r"^[0-9]+(?:-[0-9]+)*$")
PHONE_DIGITS = (5, 15)  # shortest service number (95xxx) … longest international number (E.164)
ACCOUNT_NO = re.compile(r"^[0-9]{6,32}$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
CENT_EXPONENT = -2
MONEY_MAX = Decimal("9999999999999999.99")  # DECIMAL(18,2)


def text(errs: ErrorCollector, field: str, value: str | None, limit: int, *, required: bool = True) -> str | None:
    """A trimmed string of at most `limit` characters; "" for an omitted optional field."""
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
            return None
        return ""
    if len(cleaned) > limit:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {limit} characters (got {len(cleaned)})")
        return None
    return cleaned


def code(errs: ErrorCollector, field: str, value: str | None, limit: int) -> str | None:
    """A required code or identifier: letters, digits, underscores and dashes only."""
    cleaned = text(errs, field, value, limit)
    if cleaned is not None and not CODE.fullmatch(cleaned):
        errs.add(field, ErrorCode.INVALID, f"{field} may contain only letters, digits, underscores and dashes")
        return None
    return cleaned


def email(errs: ErrorCollector, field: str, value: str | None, *, required: bool = True) -> str | None:
    """An e-mail address of at most 50 characters, like service@hxb.com.cn."""
    cleaned = text(errs, field, value, 50, required=required)
    if cleaned and not EMAIL.fullmatch(cleaned):
        errs.add(field, ErrorCode.INVALID,
                 f"{field} must be an e-mail address such as service@bank.com.cn (one @, a domain with a dot)")
        return None
    return cleaned


def phone(errs: ErrorCollector, field: str, value: str | None, *, required: bool = True) -> str | None:
    """A phone number: digits, optionally grouped by dashes, 5–15 digits, at most 20 characters."""
    cleaned = text(errs, field, value, 20, required=required)
    if not cleaned:
        return cleaned
    if not PHONE.fullmatch(cleaned):
        errs.add(field, ErrorCode.INVALID,
                 f"{field} may contain only digits and single dashes between them, e.g. 400-669-5577")
        return None
    digits = sum(c.isdigit() for c in cleaned)
    low, high = PHONE_DIGITS
    if not low <= digits <= high:
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must have {low} to {high} digits (got {digits})")
        return None
    return cleaned


def account_no(errs: ErrorCollector, field: str, value: str | None) -> str | None:
    """A bank account number: 6–32 digits, no spaces (it is matched against statements)."""
    cleaned = text(errs, field, value, 32)
    if cleaned is not None and not ACCOUNT_NO.fullmatch(cleaned):
        errs.add(field, ErrorCode.INVALID, f"{field} must be 6 to 32 digits without spaces")
        return None
    return cleaned


def url(errs: ErrorCollector, field: str, value: str | None, limit: int = 500) -> str | None:
    """An http(s) address of at most `limit` characters (where a scanned voucher is kept)."""
    cleaned = text(errs, field, value, limit)
    if cleaned is not None and not URL.fullmatch(cleaned):
        errs.add(field, ErrorCode.INVALID, f"{field} must be an http:// or https:// address")
        return None
    return cleaned


def choice(errs: ErrorCollector, field: str, value: str | Enum | None, enum: type[E]) -> E | None:
    """One member of `enum` (by value); the message lists the allowed values."""
    if value is None or value == "":
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return None
    raw = value.value if isinstance(value, Enum) else value
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        errs.add(field, ErrorCode.INVALID, f"{field} must be one of: {allowed}")
        return None


def _decimal(errs: ErrorCollector, field: str, value: Decimal | int | str | None) -> Decimal | None:
    if value is None or value == "":
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return None
    if isinstance(value, float | bool):
        # A float reaching money code is a bug upstream; converting it would hide the bug.
        errs.add(field, ErrorCode.INVALID, f"{field} must be sent as a decimal string, e.g. \"1000.00\"")
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        errs.add(field, ErrorCode.INVALID, f"{field} must be a number such as 1000.00")
        return None
    if not number.is_finite():
        errs.add(field, ErrorCode.INVALID, f"{field} must be a finite number")
        return None
    return number


def decimal(errs: ErrorCollector, field: str, value: Decimal | int | str | None, *, places: int,
            minimum: Decimal, maximum: Decimal, min_exclusive: bool = False) -> Decimal | None:
    """A number with at most `places` decimals inside [minimum, maximum] (or (minimum, maximum])."""
    number = _decimal(errs, field, value)
    if number is None:
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        errs.add(field, ErrorCode.INVALID, f"{field} may have at most {places} decimal places")
        return None
    too_low = number <= minimum if min_exclusive else number < minimum
    if too_low or number > maximum:
        low = f"greater than {minimum}" if min_exclusive else f"at least {minimum}"
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be {low} and at most {maximum}")
        return None
    return number.quantize(Decimal(1).scaleb(-places))


def money(errs: ErrorCollector, field: str, value: Decimal | int | str | None, *,
          positive: bool = True) -> Decimal | None:
    """An amount in yuan to the cent (never rounded silently: 0.005 is refused, not turned into 0.01)."""
    return decimal(errs, field, value, places=2, minimum=Decimal(0), maximum=MONEY_MAX, min_exclusive=positive)
