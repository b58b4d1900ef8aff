"""The work queue's client-go semantics: dedup, one worker per key, delays, back-off, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from timoneiro.client.workqueue import (
    ItemExponentialBackoff,
    MaxOf,
    ShutDown,
    TokenBucket,
    WorkQueue,
    run_worker,
)


async def next_item(queue: WorkQueue, timeout: float = 1.0):
    return await asyncio.wait_for(queue.get(), timeout)


async def test_keys_are_deduplicated_and_kept_in_order():
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [await next_item(queue) for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_a_key_being_processed_goes_to_no_other_worker():
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert await next_item(queue) == "a"
    queue.add("a")  # changed again while a worker has it
    queue.add("a")
    assert len(queue) == 0
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0.02)
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, 1) == "a"  # once, however often it was added
    queue.done("a")
    assert len(queue) == 0


async def test_waiting_workers_are_woken_one_per_item():
    queue: WorkQueue[int] = WorkQueue()
    workers = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    queue.add(1)
    queue.add(2)
    await asyncio.sleep(0.01)
    assert sorted(w.result() for w in workers if w.done()) == [1, 2]
    workers[2].cancel()


async def test_a_cancelled_getter_passes_its_wake_up_on():
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    queue.add("a")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "a"


async def test_add_after_delays_and_keeps_the_earliest_time():
    queue: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 0.1)
    queue.add_after("a", 0.3)  # later: ignored
    queue.add_after("b", 0.3)
    queue.add_after("b", 0.05)  # earlier: wins
    queue.add_after("c", 0)  # now
    assert len(queue) == 1
    assert await next_item(queue) == "c"
    assert await next_item(queue) == "b"
    assert await next_item(queue) == "a"
    assert 0.09 <= loop.time() - start < 0.25
    await asyncio.sleep(0.25)
    assert len(queue) == 0  # the superseded timers did not fire


async def test_per_item_exponential_backoff_and_forget():
    limiter = ItemExponentialBackoff(base=0.01, cap=0.05)
    assert [limiter.when("a") for _ in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert limiter.when("b") == 0.01
    assert limiter.num_requeues("a") == 5
    limiter.forget("a")
    assert (limiter.num_requeues("a"), limiter.when("a")) == (0, 0.01)


async def test_token_bucket_allows_a_burst_then_the_rate():
    now = [100.0]
    bucket = TokenBucket(qps=100.0, burst=3, clock=lambda: now[0])
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(3) == pytest.approx(0.01)
    assert bucket.when(4) == pytest.approx(0.02)
    now[0] += 0.02  # time refills the bucket at qps
    assert bucket.when(5) == pytest.approx(0.01)
    combined = MaxOf(ItemExponentialBackoff(0.5, 10.0), TokenBucket(100.0, 1, clock=lambda: now[0]))
    assert combined.when("x") == 0.5 and combined.num_requeues("x") == 1


async def test_rate_limited_retries_back_off():
    queue: WorkQueue[str] = WorkQueue(ItemExponentialBackoff(base=0.05, cap=1.0))
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        start = loop.time()
        queue.add_rate_limited("a")
        assert await next_item(queue) == "a"
        queue.done("a")
        waits.append(loop.time() - start)
    assert waits[0] >= 0.045 and waits[1] >= 0.095 and waits[2] >= 0.195
    assert queue.num_requeues("a") == 3
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_shutdown_drains_then_stops_workers():
    queue: WorkQueue[str] = WorkQueue()
    idle = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(idle, 1)

    queue = WorkQueue()
    queue.add("queued")
    queue.add_after("delayed", 0.05)
    queue.shutdown()
    queue.add("refused")
    assert queue.shutting_down and len(queue) == 1
    assert await next_item(queue) == "queued"
    queue.done("queued")
    await asyncio.sleep(0.1)
    with pytest.raises(ShutDown):
        await next_item(queue)


async def test_workers_retry_failures_and_never_share_a_key():
    queue: WorkQueue[str] = WorkQueue(ItemExponentialBackoff(base=0.01, cap=0.1))
    attempts: dict[str, int] = {}
    busy: set[str] = set()
    overlaps = []

    async def sync(key: str) -> None:
        if key in busy:
            overlaps.append(key)
        busy.add(key)
        try:
            await asyncio.sleep(0.01)
            attempts[key] = attempts.get(key, 0) + 1
            if key == "flaky" and attempts[key] < 3:
                raise RuntimeError("not yet")
        finally:
            busy.discard(key)

    workers = [asyncio.create_task(run_worker(queue, sync)) for _ in range(4)]
    for _ in range(5):
        queue.add("flaky")
        queue.add("steady")
        await asyncio.sleep(0.005)
    async with asyncio.timeout(2):
        while attempts.get("flaky", 0) < 3:
            await asyncio.sleep(0.01)
    assert queue.num_requeues("flaky") == 0  # forgotten once it succeeded
    assert overlaps == []
    queue.shutdown()
    await asyncio.wait_for(asyncio.gather(*workers), 1)
