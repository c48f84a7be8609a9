"""Resident ID numbers: the borrower's age comes from them, and a mistyped one must be caught."""

from __future__ import annotations

import datetime as dt

import pytest

from core.risk.idnumber import InvalidIdNumber, check_char, parse


def resident_id(body17: str) -> str:
    return body17 + check_char(body17)


def test_a_valid_number_gives_birth_date_sex_and_age_on_the_business_date() -> None:
    number = resident_id("11010519491231002")
    parsed = parse(number)
    assert (parsed.birth_date, parsed.region, parsed.male) == (dt.date(1949, 12, 31), "110105", False)
    assert parsed.age_on(dt.date(2026, 12, 30)) == 76  # the day before the birthday
    assert parsed.age_on(dt.date(2026, 12, 31)) == 77


def test_the_check_character_x_is_accepted_in_either_case() -> None:
    body = next(b for b in (f"44030519900101{i:03d}" for i in range(1000)) if check_char(b) == "X")
    assert parse(body + "x").number == body + "X"
    assert parse(f" {body}X ").number == body + "X"


@pytest.mark.parametrize(("make", "message"), [
    (lambda good: good[:17] + str((int(good[17]) + 1) % 10) if good[17] != "X" else good[:17] + "0",
     "check digit does not match"),
    (lambda good: good[:16], "must be 18 characters"),
    (lambda good: good[:10] + "A" + good[11:], "17 digits followed by a digit or X"),
    (lambda good: resident_id("11010119900230123"), "impossible date of birth"),
    (lambda good: resident_id("11010118891231123"), "out of range"),
])
def test_malformed_numbers_are_refused_with_what_is_wrong(make, message: str) -> None:
    good = resident_id("32010219850615303")
    with pytest.raises(InvalidIdNumber, match=message):
        parse(make(good))


def test_a_date_of_birth_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidIdNumber, match="out of range"):
        parse(resident_id("11010120300101123"), today=dt.date(2026, 1, 1))


def test_born_on_29_february_turns_older_on_1_march_in_common_years() -> None:
    parsed = parse(resident_id("31010120000229456"))
    assert parsed.age_on(dt.date(2025, 2, 28)) == 24
    assert parsed.age_on(dt.date(2025, 3, 1)) == 25
    assert parsed.age_on(dt.date(2028, 2, 29)) == 28
