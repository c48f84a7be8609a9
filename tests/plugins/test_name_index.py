"""The indexed name matcher answers exactly like comparing the counterparty with every entry."""

from __future__ import annotations

import random

from plugins.builtin.name_list_detector import NameListDetectorSettings, build_index, load_lists
from plugins.builtin.names import Match, NameIndex, ascii_words, compact


def brute_force(index: NameIndex, counterparty: str) -> Match | None:
    """The definition: exact key, Chinese substring (long enough) or ASCII whole words; longest wins."""
    key = compact(counterparty)
    if not key:
        return None
    words = ascii_words(counterparty)
    found = [Match(e, True) for e in index.entries if e.key == key]
    for e in index.entries:
        if e.key == key:
            continue
        if e.is_ascii:
            n = len(e.words)
            if n and any(words[i:i + n] == e.words for i in range(len(words) - n + 1)):
                found.append(Match(e, False))
        elif len(e.key) >= index.contains_min_length and e.key in key:
            found.append(Match(e, False))
    return max(found, key=lambda m: (m.exact, len(m.entry.key), m.entry.confidence)) if found else None


def test_the_index_agrees_with_a_scan_of_every_entry_on_mixed_names() -> None:
    index = build_index(load_lists(NameListDetectorSettings()), 3)
    pieces = [e.name for e in index.entries] + ["北京", "有限公司", "Global", "Ltd", "某某", "Trade", "营业部", "  "]
    rnd = random.Random(20261201)
    matched = 0
    for _ in range(5000):
        name = rnd.choice([" ", ""]).join(rnd.choice(pieces) for _ in range(rnd.randint(1, 3)))
        expected, got = brute_force(index, name), index.best_match(name)
        assert (expected is None) == (got is None), name
        if expected is not None and got is not None:
            matched += 1
            assert (got.entry is expected.entry, got.exact) == (True, expected.exact), name
    assert matched > 1000
