"""The id cursor behind the live feeds: late commits are still delivered, rolled-back ids given up."""

from __future__ import annotations

import asyncio

from core.id_feed import IdCursor, publish
from core.polling import PollingTask


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_id_committed_after_a_higher_one_is_still_delivered() -> None:
    clock = Clock()
    cursor = IdCursor(gap_seconds=30, clock=clock)
    cursor.reset(10)
    cursor.advance([11, 14])  # 12 and 13 were drawn but not committed yet
    assert (cursor.last, sorted(cursor.gaps)) == (14, [12, 13])
    wanted = cursor.wanted()  # above the top, or one of the gaps
    assert wanted.join_type == "OR" and [c.filters for c in wanted.children] == [{"id__gt": 14},
                                                                                  {"id__in": [12, 13]}]
    clock.now += 5
    cursor.advance([13])  # commits late: delivered, its gap closed
    assert (cursor.last, sorted(cursor.gaps)) == (14, [12])
    clock.now += 30
    cursor.advance([])  # 12 never came: rolled back, given up
    assert cursor.gaps == {} and cursor.last == 14 and cursor.wanted().filters == {"id__gt": 14}


def test_a_bulk_jump_is_not_tracked_id_by_id_and_reset_forgets_the_gaps() -> None:
    cursor = IdCursor(max_gap=100)
    cursor.advance([1, 3])
    assert list(cursor.gaps) == [2]
    cursor.advance([5_000])
    assert cursor.last == 5_000 and list(cursor.gaps) == [2]  # 4..4999 not tracked
    cursor.reset(7_000)
    assert cursor.gaps == {} and cursor.last == 7_000


async def test_a_stalled_subscriber_loses_items_without_holding_the_others_back() -> None:
    slow: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    fast: asyncio.Queue[int] = asyncio.Queue()
    for item in (1, 2, 3):
        publish([slow, fast], item, "test")
    assert slow.qsize() == 1 and [fast.get_nowait() for _ in range(3)] == [1, 2, 3]


async def test_the_polling_task_survives_a_failed_round_and_stops_with_its_last_subscriber() -> None:
    class Feed(PollingTask):
        def __init__(self) -> None:
            super().__init__("test-feed", interval=0.001)
            self.rounds = 0
            self.subscribed = True

        def active(self) -> bool:
            return self.subscribed

        async def poll(self) -> None:
            self.rounds += 1
            if self.rounds == 1:
                raise ConnectionError("database blip")
            if self.rounds == 3:
                self.subscribed = False

    feed = Feed()
    feed.ensure_running()
    for _ in range(200):
        await asyncio.sleep(0.005)
        if feed._task is not None and feed._task.done():
            break
    assert feed.rounds == 3 and feed._task is not None and feed._task.done()
    await feed.close()
