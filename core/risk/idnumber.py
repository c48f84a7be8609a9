"""Chinese resident identity card numbers (居民身份证号码, GB 11643-1999): parsing and age.

Pure code, no database: the blacklist validates numbers with it before storing them, and the
own-data risk source derives the borrower's age from it. An 18-character number is a 6-digit
address code, the date of birth (YYYYMMDD), a 3-digit sequence (odd for men, even for women) and
a check character (ISO 7064 MOD 11-2; ``X`` stands for 10). The old 15-digit numbers (before 1999)
have no check digit and are not accepted: every adult's card has been reissued since.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)
SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")
EARLIEST_BIRTH = dt.date(1900, 1, 1)


class InvalidIdNumber(ValueError):
    """The text is not a valid 18-character resident ID number; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str
    region: str
    birth_date: dt.date
    male: bool

    def age_on(self, day: dt.date) -> int:
        return age_on(self.birth_date, day)


def normalize(value: str) -> str:
    """Strip blanks and upper-case the check character (people type ``x``)."""
    return re.sub(r"\s+", "", value or "").upper()


def check_char(first17: str) -> str:
    """The check character for the first 17 digits."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse(value: str, *, today: dt.date | None = None) -> ResidentId:
    """Parse and validate; raises :class:`InvalidIdNumber`. ``today`` bounds the date of birth."""
    number = normalize(value)
    if len(number) != 18:
        raise InvalidIdNumber(f"must be 18 characters, got {len(number)}")
    if not SHAPE.fullmatch(number):
        raise InvalidIdNumber("must be 17 digits followed by a digit or X")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("contains an impossible date of birth") from None
    if birth < EARLIEST_BIRTH or (today is not None and birth > today):
        raise InvalidIdNumber("contains a date of birth out of range")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("check digit does not match (a digit was mistyped)")
    return ResidentId(number=number, region=number[:6], birth_date=birth, male=int(number[16]) % 2 == 1)


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years on ``day``; someone born on 29 February turns a year older on 1 March in
    common years (the day after 28 February), as Chinese practice counts it."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years
