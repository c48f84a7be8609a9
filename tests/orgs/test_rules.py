"""Field rules of institution forms (pure): what passes, and that a failure names field and fix."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ErrorCode, ErrorCollector
from core.orgs import rules


def run(rule, *args, **kw):  # type: ignore[no-untyped-def]
    errs = ErrorCollector()
    value = rule(errs, *args, **kw)
    return value, [(e.field, e.code) for e in errs.errors], [e.message for e in errs.errors]


@pytest.mark.parametrize("value", ["service@hxb.com.cn", "kf.95577@bank-of-x.cn", "a+b@mail.example.org"])
def test_valid_emails_pass(value: str) -> None:
    assert run(rules.email, "email", value)[0] == value


@pytest.mark.parametrize("value", ["service", "a@b", "a@@b.cn", "a b@x.cn", "a@x..cn", ".a@x.cn", "a.@x.cn",
                                   "a@-x.cn", "客服@银行.cn", "a@x.c"])
def test_invalid_emails_are_refused_with_the_field_named(value: str) -> None:
    value_out, errors, messages = run(rules.email, "email", value)
    assert value_out is None and errors == [("email", ErrorCode.INVALID)]
    assert "e-mail" in messages[0]


def test_email_longer_than_50_is_too_long() -> None:
    long = "a" * 40 + "@example.cn"  # 51 characters
    assert run(rules.email, "email", long)[1] == [("email", ErrorCode.TOO_LONG)]
    assert run(rules.email, "email", long[1:])[1] == []


@pytest.mark.parametrize("value", ["95577", "400-669-5577", "021-12345678", "13800138000", "0519-96005"])
def test_valid_phones_pass(value: str) -> None:
    assert run(rules.phone, "servicePhone", value)[0] == value


@pytest.mark.parametrize(("value", "code"), [
    ("1234", ErrorCode.OUT_OF_RANGE), ("1234567890123456", ErrorCode.OUT_OF_RANGE),
    ("400--669", ErrorCode.INVALID), ("-95577", ErrorCode.INVALID), ("95577-", ErrorCode.INVALID),
    ("(021)1234567", ErrorCode.INVALID), ("+86 95577", ErrorCode.INVALID), ("9557a", ErrorCode.INVALID),
    ("1-2-3-4-5-6-7-8-9-10-1", ErrorCode.TOO_LONG),
])
def test_invalid_phones_say_what_is_wrong(value: str, code: ErrorCode) -> None:
    assert run(rules.phone, "servicePhone", value)[1] == [("servicePhone", code)]


def test_blank_required_and_optional_fields() -> None:
    assert run(rules.phone, "phone", "  ")[1] == [("phone", ErrorCode.REQUIRED)]
    assert run(rules.phone, "phone", "", required=False) == ("", [], [])
    assert run(rules.text, "name", "  华夏  ", 10)[0] == "华夏"


@pytest.mark.parametrize(("value", "expected"), [("1000", Decimal("1000.00")), ("0.01", Decimal("0.01")),
                                                 (Decimal("12.30"), Decimal("12.30")), (5, Decimal("5.00"))])
def test_money_accepts_cents(value: object, expected: Decimal) -> None:
    out = run(rules.money, "amount", value)[0]
    assert out == expected and str(out) == str(expected)


@pytest.mark.parametrize(("value", "code"), [("0", ErrorCode.OUT_OF_RANGE), ("-1", ErrorCode.OUT_OF_RANGE),
                                             ("0.005", ErrorCode.INVALID), ("abc", ErrorCode.INVALID),
                                             (0.1, ErrorCode.INVALID), ("NaN", ErrorCode.INVALID),
                                             (None, ErrorCode.REQUIRED)])
def test_money_refuses_non_cent_or_non_positive_amounts(value: object, code: ErrorCode) -> None:
    assert run(rules.money, "amount", value)[1] == [("amount", code)]


def test_codes_allow_letters_digits_underscore_dash_only() -> None:
    assert run(rules.code, "identifier", "sandbox_pay-2", 50)[0] == "sandbox_pay-2"
    assert run(rules.code, "identifier", "sand box", 50)[1] == [("identifier", ErrorCode.INVALID)]
    assert run(rules.code, "identifier", "x" * 51, 50)[1] == [("identifier", ErrorCode.TOO_LONG)]
