"""Parsed tracing states by their stored JSON text, so a batch resumes an account without re-parsing it.

Why: ingestion resumes and saves the tracing state of every account a batch touches (~800 for a
batch of 1,000 transactions). Decoding each state's JSON and re-validating it (`TracingState.from_dict`)
cost ~8 ms of a ~100 ms batch, and the state read back is, almost always, the one this process wrote
with the previous batch.

The key is the state's text exactly as PostgreSQL prints a ``jsonb`` value back (`jsonb_text`), and the
value is the state that text encodes, so an entry can never be stale: if another process (or a
restore) changed a row, its text differs and the lookup misses. Entries are added when a state is
encoded for saving, before the transaction commits; if it rolls back, the entry is merely unused.
The cache is per process, bounded (least recently used entries go first), and used on PostgreSQL
only: SQLite's JSON column hands back a decoded dict.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from core.monitoring.tracing import TracingState

MAX_ENTRIES = 20_000
"""About 10 MB: an account's state text and its parsed form take ~500 bytes together."""


def _jsonb_order(value: Any) -> Any:
    """`value` with every object's keys in jsonb's storage order: shorter keys first, then by bytes."""
    if isinstance(value, dict):
        return {k: _jsonb_order(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value


def jsonb_text(value: Any) -> str:
    """The text PostgreSQL returns for `value` stored as ``jsonb`` (also valid input for the column)."""
    return json.dumps(_jsonb_order(value), ensure_ascii=False)


class StateCache:
    """Stored state text -> `TracingState`, least recently used out first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._items: OrderedDict[str, TracingState] = OrderedDict()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def _put(self, text: str, state: TracingState) -> None:
        self._items[text] = state
        self._items.move_to_end(text)
        if len(self._items) > self._max:
            self._items.popitem(last=False)

    def parse(self, text: str | Mapping[str, Any]) -> TracingState:
        """The state stored as `text` (validated by `TracingState.from_dict` when first seen).

        A decoded dict (what SQLite's JSON column returns) is parsed directly, without the cache.
        """
        if not isinstance(text, str):
            return TracingState.from_dict(text)
        state = self._items.get(text)
        if state is not None:
            self.hits += 1
            self._items.move_to_end(text)
            return state
        self.misses += 1
        state = TracingState.from_dict(json.loads(text))
        self._put(text, state)
        return state

    def encode(self, state: TracingState) -> str:
        """The text to store for `state`; remembered, so the next batch's read of it is a hit.

        `TracingState.to_dict` writes its keys in jsonb's order, so plain ``json.dumps`` gives the
        text PostgreSQL will hand back (a test holds the two equal); were they ever to differ, the
        next read would only miss. Every order that carries meaning is a list, so the text encodes
        exactly this state.
        """
        text = json.dumps(state.to_dict(), ensure_ascii=False)
        self._put(text, state)
        return text

    def clear(self) -> None:
        self._items.clear()
        self.hits = self.misses = 0


STATES = StateCache()
"""This process's cache (ingestion runs in API workers, jobs and the feed task)."""
