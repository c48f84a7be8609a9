"""money / rate / date / cn_money_upper (金额大写)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.contracts.render import cn_money_upper, format_date, money, rate


@pytest.mark.parametrize(
    ("amount", "upper"),
    [
        ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
        ("100", "壹佰元整"),
        ("10005", "壹万零伍元整"),
        ("0", "零元整"),
        ("0.50", "伍角整"),
        ("0.05", "伍分"),
        ("0.005", "壹分"),  # half-up to the fen
        ("1.05", "壹元零伍分"),  # zero jiao before a fen is written 零
        ("1.70", "壹元柒角整"),
        ("10", "壹拾元整"),  # financial style keeps 壹拾
        ("15", "壹拾伍元整"),
        ("1010", "壹仟零壹拾元整"),
        ("1005", "壹仟零伍元整"),
        ("1500", "壹仟伍佰元整"),
        ("100000", "壹拾万元整"),
        ("100100", "壹拾万零壹佰元整"),
        ("1100000", "壹佰壹拾万元整"),
        ("1501000", "壹佰伍拾万壹仟元整"),  # zero at the end of a group is not read
        ("10000001", "壹仟万零壹元整"),
        ("100000000", "壹亿元整"),
        ("100010000", "壹亿零壹万元整"),
        ("100001000", "壹亿零壹仟元整"),  # an all-zero 万 group still needs one 零
        ("2000000005", "贰拾亿零伍元整"),
        ("1000000000000", "壹万亿元整"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),  # 零 after 元 is optional under the 支付结算办法; we omit it
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("-3.20", "负叁元贰角整"),
    ],
)
def test_cn_money_upper(amount: str, upper: str) -> None:
    assert cn_money_upper(Decimal(amount)) == upper


def test_cn_money_upper_accepts_int_and_refuses_float_and_huge() -> None:
    assert cn_money_upper(100) == "壹佰元整"
    with pytest.raises(TypeError):
        cn_money_upper(1.5)
    with pytest.raises(TypeError):
        cn_money_upper(True)
    with pytest.raises(ValueError, match="too large"):
        cn_money_upper(Decimal("1E16"))
    with pytest.raises(ValueError, match="finite"):
        cn_money_upper(Decimal("NaN"))


@pytest.mark.parametrize(
    ("amount", "text"),
    [("12345.67", "12,345.67"), ("0", "0.00"), ("1234567.005", "1,234,567.01"), ("-1234.5", "-1,234.50"),
     ("7", "7.00")],
)
def test_money(amount: str, text: str) -> None:
    assert money(Decimal(amount)) == text


@pytest.mark.parametrize(
    ("fraction", "places", "text"),
    [("0.0435", 2, "4.35%"), ("0.0395", 2, "3.95%"), ("0.04", 2, "4.00%"), ("0.043549", 2, "4.35%"),
     ("0.0435", 3, "4.350%"), ("0.12345", 0, "12%"), ("1", 2, "100.00%")],
)
def test_rate(fraction: str, places: int, text: str) -> None:
    assert rate(Decimal(fraction), places) == text


def test_rate_refuses_bad_places() -> None:
    with pytest.raises(ValueError, match="places"):
        rate(Decimal("0.1"), 9)


def test_date_styles() -> None:
    assert format_date(date(2024, 5, 1)) == "2024-05-01"
    assert format_date(date(2024, 5, 1), "cn") == "2024年5月1日"
    with pytest.raises(ValueError, match="style"):
        format_date(date(2024, 5, 1), "us")
    with pytest.raises(TypeError):
        format_date("2024-05-01")
