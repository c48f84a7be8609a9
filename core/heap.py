"""Garbage-collector policy of long-running Lendline processes (API workers, job workers).

Why: CPython's cyclic collector periodically re-scans every tracked object of the oldest
generation, and after start-up that is ~150,000 objects that never die: modules, the GraphQL
schema, ORM metadata, plugin instances and their lookup tables. A batch of 1,000 ingested
transactions allocates enough short-lived containers to trigger those full scans several times;
they cost ~15 ms of a ~110 ms batch (measured with ``bench/bench_ingest.py``). Freezing the start-up
heap moves it to the permanent generation, which the collector skips; later garbage is collected
as before, so the only cost is that cycles created *before* the freeze and freed later are never
reclaimed, which start-up does not produce in any quantity.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect start-up garbage once, then exclude everything still alive from future collections.

    Call at the end of a process's start-up (after the ORM, plugins and schema are built). Calling
    it again later freezes whatever has accumulated since, which is harmless but pointless.
    """
    gc.collect()
    gc.freeze()
