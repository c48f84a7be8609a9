"""Reading the data files shipped under ``plugins/builtin/data/`` (CSV and name lists).

Data files carry ``#`` comment lines documenting their source and meaning; readers skip them. The
diversion type codes in ``diversion_types.csv`` are the vocabulary the detectors may answer with, so
a typo in a mapping file fails at start-up instead of producing classifications no rule matches.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


class DataFileError(ValueError):
    pass


def _uncommented(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            if line.strip() and not line.lstrip().startswith("#"):
                yield line


def read_csv(path: Path) -> list[dict[str, str]]:
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(_uncommented(path))]


def diversion_codes(path: Path = DATA_DIR / "diversion_types.csv") -> dict[str, str]:
    """Diversion type code → Chinese name."""
    return {row["code"]: row["name_zh"] for row in read_csv(path)}


def parse_confidence(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DataFileError(f"{where}: confidence {text!r} is not a number") from None
    if not Decimal("0") <= value <= Decimal("1"):
        raise DataFileError(f"{where}: confidence {value} is not between 0 and 1")
    return value
