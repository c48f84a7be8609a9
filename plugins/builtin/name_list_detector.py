"""``name_list_detector``: classify outgoing payments by the counterparty's name.

Name lists live in ``data/name_lists/*.txt``, one firm per line with aliases after ``|``, and a
header naming the list, its diversion code and confidence::

    # list: futures
    # title: 期货公司与期货交易所 (futures companies and exchanges)
    # code: QH
    # confidence: 0.95
    中信期货
    上海期货交易所|上期所

Banks add their own lists with ``extra_lists_dir`` (same format) and may restrict which lists are
used with ``lists``. Matching rules (normalisation, exact vs contained, longest entry wins) are in
:mod:`plugins.builtin.names`; a contained match is ``contained_penalty`` less confident than an exact
one. The reason names the list and the entry, so a reviewer can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from plugins.builtin.datafiles import DATA_DIR, DataFileError, diversion_codes, parse_confidence
from plugins.builtin.names import Entry, NameIndex, ascii_words, compact
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import SettingsError
from plugins.types import Classification, Direction, HealthReport, HealthState, Transaction

LISTS_DIR = DATA_DIR / "name_lists"
HEADER_KEYS = ("list", "title", "code", "confidence")


@dataclass
class NameListDetectorSettings:
    lists: tuple[str, ...] = ()
    extra_lists_dir: str = ""
    contains_min_length: int = 3
    contained_penalty: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        if self.extra_lists_dir and not Path(self.extra_lists_dir).is_dir():
            raise SettingsError("extra_lists_dir", f"directory not found: {self.extra_lists_dir}")
        if self.contains_min_length < 2:
            raise SettingsError("contains_min_length", "must be at least 2")
        if not Decimal("0") <= self.contained_penalty <= Decimal("1"):
            raise SettingsError("contained_penalty", "must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class NameList:
    name: str
    title: str
    code: str
    confidence: Decimal
    names: tuple[tuple[str, ...], ...]  # each firm: its name and aliases


def load_list(path: Path, known_codes: dict[str, str]) -> NameList:
    header: dict[str, str] = {}
    firms: list[tuple[str, ...]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            key, sep, value = text[1:].partition(":")
            if sep and key.strip() in HEADER_KEYS:
                header[key.strip()] = value.strip()
            continue
        firms.append(tuple(alias.strip() for alias in text.split("|") if alias.strip()))
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise DataFileError(f"{path.name}: header lacks {', '.join(missing)}")
    if header["code"] not in known_codes:
        raise DataFileError(f"{path.name}: unknown diversion code {header['code']!r}")
    return NameList(header["list"], header["title"], header["code"],
                    parse_confidence(header["confidence"], path.name), tuple(firms))


def load_lists(settings: NameListDetectorSettings) -> list[NameList]:
    known = diversion_codes()
    files = sorted(LISTS_DIR.glob("*.txt"))
    if settings.extra_lists_dir:
        files += sorted(Path(settings.extra_lists_dir).glob("*.txt"))
    lists = [load_list(f, known) for f in files]
    names = [nl.name for nl in lists]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise DataFileError(f"duplicate list names: {', '.join(sorted(duplicates))}")
    if settings.lists:
        unknown = set(settings.lists) - set(names)
        if unknown:
            raise SettingsError("lists", f"unknown list(s) {', '.join(sorted(unknown))}; "
                                         f"available: {', '.join(names)}")
        lists = [nl for nl in lists if nl.name in settings.lists]
    return lists


def build_index(lists: list[NameList], contains_min_length: int) -> NameIndex:
    entries = []
    for name_list in lists:
        for firm in name_list.names:
            for alias in firm:
                entries.append(Entry(name_list.name, name_list.title, name_list.code, name_list.confidence,
                                     alias, compact(alias), ascii_words(alias) if alias.isascii() else ()))
    return NameIndex(entries, contains_min_length)


class NameListDetector:
    def __init__(self, settings: NameListDetectorSettings) -> None:
        self.settings = settings
        self.lists = load_lists(settings)
        self.index = build_index(self.lists, settings.contains_min_length)

    @hookimpl
    async def lendline_detect_diversion_batch(self, transactions: Sequence[Transaction]) -> list[Classification | None]:
        """A lookup per payment (in memory, so on the event loop): one guarded call for the batch, not hundreds."""
        return [self.classify(t) for t in transactions]

    def classify(self, transaction: Transaction) -> Classification | None:
        if transaction.direction is not Direction.OUT or not transaction.counterparty_name.strip():
            return None
        match = self.index.best_match(transaction.counterparty_name)
        if match is None:
            return None
        entry = match.entry
        confidence = entry.confidence if match.exact else max(
            Decimal("0"), entry.confidence - self.settings.contained_penalty)
        how = "exactly matches" if match.exact else "contains"
        return Classification(
            code=entry.code, confidence=confidence,
            reason=f"counterparty {transaction.counterparty_name!r} {how} {entry.name!r} "
                   f"in name list '{entry.list_name}' ({entry.title})")

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{len(self.lists)} lists, {len(self.index.entries)} names")


plugin = PluginDefinition(
    name="name_list_detector",
    factory=NameListDetector,
    settings=NameListDetectorSettings,
    description="Diversion detector by counterparty name lists (securities, futures, developers, …).",
)
