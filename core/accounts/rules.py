"""Field rules for users and roles (SPEC F-USER-1, F-ROLE-1), one function per field.

Each returns nothing or records a `FieldError` naming the field and what to fix.
"""

from __future__ import annotations

import re

from core.errors import ErrorCode, ErrorCollector

WORK_NO = re.compile(r"^[0-9]{1,15}$")
# SPEC says letters/underscore; the platform's demo accounts (maker1, checker1…) need digits after the
# first character, so an account starts with a letter or underscore and continues with letters,
# digits or underscores.
ACCOUNT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,19}$")
ROLE_KEY = re.compile(r"^[A-Za-z_]{1,50}$")
PASSWORD = re.compile(r"^[A-Za-z0-9]{6,16}$")
PHONE = re.compile(r"^[0-9]{1,20}$")
LANDLINE = re.compile(r"^[0-9+\-() ]{1,20}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def required(errs: ErrorCollector, field: str, value: str | None) -> bool:
    if value is None or value.strip() == "":
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return False
    return True


def max_len(errs: ErrorCollector, field: str, value: str, limit: int) -> bool:
    if len(value) > limit:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {limit} characters")
        return False
    return True


def pattern(errs: ErrorCollector, field: str, value: str, rx: re.Pattern[str], what: str) -> bool:
    if not rx.fullmatch(value):
        errs.add(field, ErrorCode.INVALID, f"{field} must be {what}")
        return False
    return True


def work_no(errs: ErrorCollector, value: str | None) -> None:
    if required(errs, "workNo", value) and max_len(errs, "workNo", value or "", 15):
        pattern(errs, "workNo", value or "", WORK_NO, "digits only (at most 15)")


def account(errs: ErrorCollector, value: str | None) -> None:
    if required(errs, "account", value) and max_len(errs, "account", value or "", 20):
        pattern(errs, "account", value or "", ACCOUNT,
                "letters, digits or underscores, starting with a letter or underscore")


def display_name(errs: ErrorCollector, value: str | None) -> None:
    if required(errs, "name", value):
        max_len(errs, "name", (value or "").strip(), 10)


def password(errs: ErrorCollector, value: str | None, field: str = "password") -> None:
    if required(errs, field, value):
        v = value or ""
        if len(v) < 6:
            errs.add(field, ErrorCode.TOO_SHORT, f"{field} must be at least 6 characters")
        elif len(v) > 16:
            errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most 16 characters")
        else:
            pattern(errs, field, v, PASSWORD, "6–16 letters and/or digits")


def optional(errs: ErrorCollector, field: str, value: str | None, limit: int,
             rx: re.Pattern[str], what: str) -> None:
    if value and max_len(errs, field, value, limit):
        pattern(errs, field, value, rx, what)


def contact(errs: ErrorCollector, phone: str | None, landline: str | None, email: str | None) -> None:
    optional(errs, "phone", phone, 20, PHONE, "digits only (at most 20)")
    optional(errs, "landline", landline, 20, LANDLINE, "digits, spaces, +, - or parentheses (at most 20)")
    optional(errs, "email", email, 50, EMAIL, "an e-mail address containing @")


def role_name(errs: ErrorCollector, value: str | None) -> None:
    if required(errs, "name", value):
        max_len(errs, "name", (value or "").strip(), 20)


def role_key(errs: ErrorCollector, value: str | None) -> None:
    if required(errs, "key", value) and max_len(errs, "key", value or "", 50):
        pattern(errs, "key", value or "", ROLE_KEY, "letters or underscores only")


def remark(errs: ErrorCollector, value: str | None) -> None:
    if value:
        max_len(errs, "remark", value, 200)
