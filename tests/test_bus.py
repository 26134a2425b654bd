"""The in-process bus: a subscription's backlog is bounded, ordered, and wakes its reader."""

from __future__ import annotations

import asyncio

from assistant.bus import Bus, Update


def _update(n: int, kind: str = "message") -> Update:
    return Update(kind, "shop1", f"c{n}", None)


async def test_a_waiting_reader_is_woken_by_an_update_and_reads_in_order() -> None:
    bus = Bus()
    sub = bus.subscribe()
    reader = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)  # the reader waits on an empty backlog
    assert not reader.done()
    bus.publish(_update(1))
    bus.publish(_update(2))
    assert (await asyncio.wait_for(reader, 5)).conversation == "c1"
    assert (await sub.get()).conversation == "c2"
    assert len(sub) == 0


async def test_a_full_backlog_drops_its_oldest_and_counts_them() -> None:
    bus = Bus()
    sub = bus.subscribe(lambda u: u.kind == "message", maxsize=3)
    for n in range(5):
        bus.publish(_update(n))
    bus.publish(_update(9, kind="qa"))  # not accepted: neither kept nor counted
    assert sub.dropped == 2
    assert [u.conversation for u in sub.drain(2)] == ["c2", "c3"]
    assert [u.conversation for u in sub.drain()] == ["c4"]
    assert sub.drain() == []


async def test_a_cancelled_reader_leaves_the_subscription_usable() -> None:
    bus = Bus()
    sub = bus.subscribe()
    reader = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    bus.publish(_update(1))  # wakes no cancelled waiter, raises nothing
    assert (await asyncio.wait_for(sub.get(), 5)).conversation == "c1"


async def test_a_closed_subscription_hears_nothing_more() -> None:
    bus = Bus()
    sub = bus.subscribe()
    sub.close()
    bus.publish(_update(1))
    assert len(sub) == 0 and bus.subscribers == 0
