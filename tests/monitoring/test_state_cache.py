"""The tracing-state cache: keyed by the exact stored text, so it cannot serve a stale state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tortoise import connections

from core.actor import SYSTEM
from core.monitoring.ingest import ingest
from core.monitoring.models import FundTraceState, TxSource
from core.monitoring.state_cache import STATES, StateCache, jsonb_text
from core.monitoring.tracing import Method, TracingState
from tests.monitoring.ingest_helpers import detectors, make_loan, make_world, tx

D = Decimal
STATES_TO_PRINT = [
    TracingState(),
    TracingState(method=Method.PRO_RATA, own=D("12.30"), loans=(("BL-2", D("100.00")), ("BL-10", D("0.00"))),
                 last_time=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), uncovered_total=D("5.00")),
    TracingState.opening(Method.FIFO, own=D("7.00"), loans={"贷款-1": D("3.50"), 'quote"and\\slash': D("1.00"),
                                                           "A-2": D("0.50")}),
]


@pytest.mark.parametrize("state", STATES_TO_PRINT)
async def test_the_key_is_the_text_postgresql_prints_for_the_stored_state(db: str, state: TracingState) -> None:
    if db != "postgres":
        pytest.skip("jsonb is the PostgreSQL column type")
    text = StateCache().encode(state)
    assert text == jsonb_text(state.to_dict())  # to_dict writes its keys in jsonb's order
    _, rows = await connections.get("default").execute_query("SELECT $1::text::jsonb::text AS t", [text])
    assert rows[0]["t"] == text
    back = TracingState.from_dict(json.loads(text))
    assert back == state and back.loans == state.loans  # pool order included


def test_a_hit_is_the_state_its_text_encodes_and_the_oldest_entries_go_first() -> None:
    cache = StateCache(max_entries=2)
    a, b = TracingState(own=D("1.00")), TracingState(own=D("2.00"))
    text_a = cache.encode(a)
    assert cache.parse(text_a) is a and (cache.hits, cache.misses) == (1, 0)
    changed = text_a.replace('"1.00"', '"9.00"')  # the row as another process left it: another key
    assert cache.parse(changed).own == D("9.00") and cache.misses == 1
    cache.encode(b)  # a third entry: the least recently used one (text_a) goes
    assert len(cache) == 2
    assert cache.parse(text_a) == a and cache.misses == 2  # parsed again from its text, the same state


def test_a_malformed_text_is_refused_not_cached() -> None:
    cache = StateCache()
    with pytest.raises(ValueError, match="version"):
        cache.parse('{"version": 99}')
    assert len(cache) == 0


async def test_the_next_batch_resumes_every_account_from_the_cache(db: str) -> None:
    if db != "postgres":
        pytest.skip("SQLite's JSON column returns decoded dicts; the cache serves PostgreSQL")
    w = await make_world("SC")
    loans = [await make_loan(w, "100.00") for _ in range(3)]
    async with detectors():
        await ingest(SYSTEM, [tx(loan, f"SC-D{i}", "in", "100.00", isDisbursement=True)
                              for i, loan in enumerate(loans)], TxSource.BATCH)
        hits = STATES.hits
        await ingest(SYSTEM, [tx(loan, f"SC-O{i}", "out", "30.00", minutes=1) for i, loan in enumerate(loans)],
                     TxSource.BATCH)
        assert STATES.hits - hits == 3  # each account's state was the text this process saved
        STATES.clear()  # as in a freshly started process: every state parsed from the row
        await ingest(SYSTEM, [tx(loan, f"SC-P{i}", "out", "20.00", minutes=2) for i, loan in enumerate(loans)],
                     TxSource.BATCH)
        assert (STATES.hits, STATES.misses) == (0, 3)
    for loan in loans:
        stored = await FundTraceState.get(account_no=f"ACC-{loan.customer.customer_no}")
        assert TracingState.from_dict(stored.state).loan_balance == D("50.00")  # 100 - 30 - 20, all loan money
