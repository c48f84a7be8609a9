"""The start-up heap is frozen in server processes only (see core/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from core.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting everything, as before


def test_freezing_moves_the_live_heap_out_of_collections(unfrozen: None) -> None:
    class Node:
        pass

    garbage = Node()
    garbage.self = garbage  # type: ignore[attr-defined]  # a cycle only the collector can free
    gone = weakref.ref(garbage)
    del garbage
    freeze_startup_heap()
    assert gone() is None  # start-up garbage is collected first, not frozen for ever
    assert gc.get_freeze_count() > 10_000  # modules, classes, the ORM: everything alive now
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before  # later collections leave the frozen objects alone


async def test_an_app_that_does_not_own_the_process_does_not_freeze(unfrozen: None) -> None:
    from schema.app import create_app

    app = create_app(manage_db=False)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
