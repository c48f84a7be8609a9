"""Tests for core.ledger.canonical: one byte string per payload value, and loud refusals.

A ledger entry is re-hashed at audit time from what was stored; any freedom in the encoding
(key order, whitespace, zone, float rounding) would make honest entries look tampered.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ledger.canonical import CanonicalJSONError, canonical_json, sha256_hex


class Status(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


class Grade(enum.IntEnum):
    A = 1
    B = 2


class Channel(enum.StrEnum):
    WEB = "web"


class BadEnum(enum.Enum):
    RATE = 0.5


# --------------------------------------------------------------------------------------------
# Shape of the output
# --------------------------------------------------------------------------------------------


def test_compact_sorted_utf8() -> None:
    payload = {"b": 1, "a": [True, False, None], "c": {"z": "é", "y": "中文"}}
    assert canonical_json(payload) == '{"a":[true,false,null],"b":1,"c":{"y":"中文","z":"é"}}'.encode()


def test_non_ascii_is_raw_utf8_not_escaped() -> None:
    out = canonical_json({"name": "张三 😀"})
    assert b"\\u" not in out
    assert out.decode("utf-8") == '{"name":"张三 😀"}'


def test_string_escaping_is_standard_json() -> None:
    assert canonical_json('a"b\\c\n\t\x01') == b'"a\\"b\\\\c\\n\\t\\u0001"'


def test_keys_sorted_by_code_point() -> None:
    out = canonical_json({"b": 0, "B": 0, "a": 0, "é": 0, "\U0001f600": 0, "\uffff": 0, "10": 0, "9": 0})
    assert list(json.loads(out)) == ["10", "9", "B", "a", "b", "é", "\uffff", "\U0001f600"]


def test_key_order_independence() -> None:
    one = {"amount": Decimal("1.00"), "loan": {"id": 7, "tags": ["x", "y"]}, "at": date(2024, 1, 1)}
    two = OrderedDict([("loan", OrderedDict([("tags", ["x", "y"]), ("id", 7)])), ("at", date(2024, 1, 1))])
    two["amount"] = Decimal("1.00")
    assert canonical_json(one) == canonical_json(two)
    assert canonical_json(MappingProxyType(one)) == canonical_json(one)


def test_list_order_is_significant_and_tuples_are_lists() -> None:
    assert canonical_json([1, 2]) != canonical_json([2, 1])
    assert canonical_json((1, 2)) == canonical_json([1, 2]) == b"[1,2]"


def test_scalars() -> None:
    assert canonical_json(None) == b"null"
    assert canonical_json(True) == b"true"
    assert canonical_json(0) == b"0"
    assert canonical_json(-12) == b"-12"
    assert canonical_json(10**30) == b"1000000000000000000000000000000"
    assert canonical_json("") == b'""'
    assert canonical_json({}) == b"{}"
    assert canonical_json([]) == b"[]"


json_trees = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(tree=json_trees)
def test_output_is_valid_json_and_stable_under_reordering(tree: Any) -> None:
    out = canonical_json(tree)
    parsed = json.loads(out)
    assert canonical_json(parsed) == out  # Decimal -> string is a fixed point after one pass
    assert canonical_json(_reverse_dicts(tree)) == out


def _reverse_dicts(value: Any) -> Any:
    """Same value, every dict rebuilt in reverse insertion order."""
    if isinstance(value, dict):
        return {k: _reverse_dicts(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reverse_dicts(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Decimal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("10.50", "10.50"),
        ("10.5", "10.5"),
        ("0.10", "0.10"),
        ("-3.14", "-3.14"),
        ("1E+2", "100"),
        ("1.5E-7", "0.00000015"),
        ("0E-8", "0.00000000"),
        ("-0.00", "0.00"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_decimal_is_exact_string(value: str, text: str) -> None:
    assert canonical_json(Decimal(value)) == json.dumps(text).encode()
    assert canonical_json({"amount": Decimal(value)}) == f'{{"amount":"{text}"}}'.encode()


def test_decimal_scale_is_significant() -> None:
    # Same number, different recorded precision: deliberately different bytes.
    assert canonical_json(Decimal("10.50")) != canonical_json(Decimal("10.5"))


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimal_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not finite"):
        canonical_json(Decimal(value))


@settings(max_examples=200, deadline=None)
@given(value=st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trips_exactly(value: Decimal) -> None:
    text = json.loads(canonical_json(value))
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    assert Decimal(text).as_tuple().exponent == min(exponent, 0)  # scale kept, never exponent form


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), float("inf"), {"amount": 10.5}, [1, 2.0]])
def test_float_refused_with_clear_message(value: Any) -> None:
    with pytest.raises(CanonicalJSONError, match=r"float .* refused: .*Decimal"):
        canonical_json(value)


def test_float_enum_value_refused() -> None:
    with pytest.raises(CanonicalJSONError, match="float"):
        canonical_json(BadEnum.RATE)


@pytest.mark.parametrize("value", [b"x", bytearray(b"x"), memoryview(b"x"), {"sig": b"\x00"}])
def test_bytes_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="encode binary data explicitly"):
        canonical_json(value)


@pytest.mark.parametrize("value", [{1, 2}, frozenset({"a"}), {"tags": {"x"}}])
def test_sets_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="sets have no order"):
        canonical_json(value)


@pytest.mark.parametrize("value", [object(), time(12, 0), complex(1, 2), timedelta(days=1)])
def test_other_types_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="no canonical JSON encoding"):
        canonical_json(value)


@pytest.mark.parametrize("key", [1, None, True, ("a",), Grade.A])
def test_non_string_keys_refused(key: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="keys must be str"):
        canonical_json({key: 1})


def test_refusal_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        canonical_json(1.5)


def test_cycles_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="cycle"):
        canonical_json(loop)
    shared = [1]
    assert canonical_json([shared, shared]) == b"[[1],[1]]"  # repetition is not a cycle


def test_lone_surrogate_refused() -> None:
    with pytest.raises(ValueError, match="not valid Unicode"):
        canonical_json("\ud800")


# --------------------------------------------------------------------------------------------
# Dates and times
# --------------------------------------------------------------------------------------------


def test_aware_datetimes_rendered_in_utc_with_z() -> None:
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2024, 3, 1, 8, 30, 0, tzinfo=shanghai)
    utc = datetime(2024, 3, 1, 0, 30, 0, tzinfo=UTC)
    assert canonical_json(local) == b'"2024-03-01T00:30:00.000000Z"'
    assert canonical_json(local) == canonical_json(utc)  # same instant, same bytes


def test_datetime_keeps_microseconds_and_crosses_date_line() -> None:
    value = datetime(2024, 1, 1, 1, 2, 3, 456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert canonical_json(value) == b'"2023-12-31T19:32:03.000456Z"'


def test_zoneinfo_datetime() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database on this machine")
    assert canonical_json(datetime(2024, 7, 1, 12, tzinfo=tz)) == b'"2024-07-01T04:00:00.000000Z"'


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        canonical_json(datetime(2024, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="naive datetime"):
        canonical_json({"at": [datetime(2024, 1, 1)]})


def test_date_iso() -> None:
    assert canonical_json(date(2024, 2, 29)) == b'"2024-02-29"'
    assert canonical_json({"due": date(1999, 12, 31)}) == b'{"due":"1999-12-31"}'


# --------------------------------------------------------------------------------------------
# UUID and enums
# --------------------------------------------------------------------------------------------


def test_uuid_as_canonical_string() -> None:
    value = UUID("12345678-1234-5678-1234-56781234ABCD")
    assert canonical_json(value) == b'"12345678-1234-5678-1234-56781234abcd"'


def test_enums_by_value() -> None:
    payload = {"status": Status.ACTIVE, "grade": Grade.B, "channel": Channel.WEB}
    assert canonical_json(payload) == b'{"channel":"web","grade":2,"status":"active"}'
    assert canonical_json(payload) == canonical_json({"status": "active", "grade": 2, "channel": "web"})


def test_str_enum_key_uses_its_value() -> None:
    assert canonical_json({Channel.WEB: 1}) == b'{"web":1}'


def test_int_and_str_subclasses_are_plain() -> None:
    class Cents(int):
        def __repr__(self) -> str:
            return "Cents!"

    class Tag(str):
        def __str__(self) -> str:
            return "Tag!"

    assert canonical_json({"c": Cents(5), "t": Tag("x"), Tag("k"): 1}) == b'{"c":5,"k":1,"t":"x"}'


# --------------------------------------------------------------------------------------------
# sha256_hex
# --------------------------------------------------------------------------------------------


def test_sha256_hex() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    payload = {"loan": UUID(int=1), "amount": Decimal("100.00")}
    assert sha256_hex(canonical_json(payload)) == hashlib.sha256(canonical_json(payload)).hexdigest()
