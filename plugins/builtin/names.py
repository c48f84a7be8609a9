"""Normalising and matching counterparty names against name lists.

Bank statements spell the same firm many ways: full-width letters and brackets, stray spaces, the
legal form (``股份有限公司``) or a branch (``…北京朝阳门营业部``) appended. So both list entries and
counterparty names are normalised — NFKC (full-width → half-width), lower case, punctuation and
spaces removed, trailing legal-form suffixes stripped — and then matched:

* Chinese (non-ASCII) entries match exactly, or as a substring of the counterparty once the entry has
  at least ``contains_min_length`` characters (two-character names like ``万科`` only match exactly,
  otherwise they would hit unrelated firms);
* ASCII entries (``OKX``, ``Gate.io``) match on whole words, so ``okx`` never matches ``bookxpress``.

The longest matching entry wins, so ``国泰君安期货`` (futures) beats ``国泰君安`` (securities).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "股份公司", "有限公司", "公司", "coltd", "ltd", "limited",
                  "inc", "corp", "corporation", "llc")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_ASCII_WORD = re.compile(r"[a-z0-9]+")
_ASCII_NOISE = {"co", "ltd", "limited", "inc", "corp", "corporation", "llc", "the"}


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name).lower()


def compact(name: str) -> str:
    """Normalised, punctuation-free form with trailing legal-form suffixes removed."""
    text = _PUNCT.sub("", _nfkc(name))
    changed = True
    while changed:
        changed = False
        for suffix in LEGAL_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                text = text[: -len(suffix)]
                changed = True
    return text


def ascii_words(name: str) -> tuple[str, ...]:
    return tuple(w for w in _ASCII_WORD.findall(_nfkc(name)) if w not in _ASCII_NOISE)


@dataclass(frozen=True, slots=True)
class Entry:
    list_name: str
    title: str
    code: str
    confidence: Decimal
    name: str  # the entry as written in the list (for reasons shown to reviewers)
    key: str  # compact form
    words: tuple[str, ...]  # ASCII entries only

    @property
    def is_ascii(self) -> bool:
        return self.name.isascii()


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    exact: bool


class NameIndex:
    """All entries of all lists, searchable by counterparty name.

    Why indexed: detection classifies every outgoing payment, so a match must not scan every entry.
    Exact keys are one dict lookup; Chinese entries long enough for substring matching are indexed
    by their first character (checked at each position of the counterparty's key with
    ``startswith``); ASCII entries are indexed by their first word (checked at each word position).
    The result is the same as comparing with every entry.

    Answers are remembered per counterparty name (up to `MEMO_SIZE` names, then forgotten all at
    once): the index never changes after it is built, and a feed repeats the same merchants and
    payees all day, so most payments are then one dict lookup instead of normalising the name again.
    """

    MEMO_SIZE = 4096

    def __init__(self, entries: list[Entry], contains_min_length: int = 3) -> None:
        self.entries = entries
        self.contains_min_length = contains_min_length
        self._exact: dict[str, list[Entry]] = {}
        self._by_first_char: dict[str, list[Entry]] = {}
        self._by_first_word: dict[str, list[Entry]] = {}
        self._order = {id(entry): n for n, entry in enumerate(entries)}  # ties go to the earlier entry
        for entry in entries:
            self._exact.setdefault(entry.key, []).append(entry)
            if entry.is_ascii:
                if entry.words:
                    self._by_first_word.setdefault(entry.words[0], []).append(entry)
            elif len(entry.key) >= contains_min_length:
                self._by_first_char.setdefault(entry.key[0], []).append(entry)
        self._memo: dict[str, Match | None] = {}

    def best_match(self, counterparty: str) -> Match | None:
        """The longest matching entry for a counterparty name (see the module docstring), or None."""
        memo = self._memo
        if counterparty in memo:
            return memo[counterparty]
        match = self._best_match(counterparty)
        if len(memo) >= self.MEMO_SIZE:
            memo.clear()
        memo[counterparty] = match
        return match

    def _best_match(self, counterparty: str) -> Match | None:
        key = compact(counterparty)
        if not key:
            return None
        candidates: list[Match] = [Match(e, True) for e in self._exact.get(key, [])]
        for i, char in enumerate(key):
            for entry in self._by_first_char.get(char, ()):
                if entry.key != key and key.startswith(entry.key, i):
                    candidates.append(Match(entry, False))
        if self._by_first_word:
            words = ascii_words(counterparty)
            for i, word in enumerate(words):
                for entry in self._by_first_word.get(word, ()):
                    n = len(entry.words)
                    if entry.key != key and words[i:i + n] == entry.words:
                        candidates.append(Match(entry, False))
        if not candidates:
            return None
        return max(candidates, key=lambda m: (m.exact, len(m.entry.key), m.entry.confidence,
                                              -self._order[id(m.entry)]))
