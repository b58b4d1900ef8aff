"""The scheduling queue: order, back-off, and which cluster events bring unschedulable pods back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from test_scheduler_support import info, node, pod
from timoneiro.scheduler.events import ASSIGNED_POD_DELETE, NODE_ADD
from timoneiro.scheduler.framework import Framework
from timoneiro.scheduler.plugins import default_plugins
from timoneiro.scheduler.queue import ACTIVE, BACKOFF, UNSCHEDULABLE, SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_queue(clock: Callable[[], float] = time.monotonic, **kw) -> SchedulingQueue:
    return SchedulingQueue(Framework(default_plugins()), clock=clock, **kw)


async def pop_names(q: SchedulingQueue, n: int) -> list[str]:
    return [(await asyncio.wait_for(q.pop(), 1)).info.name for _ in range(n)]


async def test_higher_priority_first_then_first_come():
    clock = Clock()
    q = make_queue(clock)
    for name, priority in (("a", 0), ("b", 10), ("c", 0), ("d", 10)):
        clock.now += 1
        q.add(info(pod(name), priority))
    assert await pop_names(q, 4) == ["b", "d", "a", "c"]


async def test_back_off_doubles_from_one_second_to_ten():
    q = make_queue()
    q.add(info(pod("p")))
    queued = await q.pop()
    durations = []
    for _ in range(6):
        durations.append(q.backoff_duration(queued))
        queued.attempts += 1
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_failed_pods_wait_out_their_back_off():
    q = make_queue(initial_backoff=0.05)
    q.add(info(pod("p")))
    queued = await q.pop()
    q.add_unschedulable(queued, q.scheduling_cycle, None)  # an error, not a rejection: straight to back-off
    assert q.counts()[BACKOFF] == 1
    assert (await asyncio.wait_for(q.pop(), 1)) is queued
    assert queued.attempts == 2


async def test_unschedulable_pods_return_on_events_their_plugins_care_about():
    q = make_queue(initial_backoff=0.01)
    q.add(info(pod("big", cpu="8")))
    queued = await q.pop()
    q.add_unschedulable(queued, q.scheduling_cycle, {"NodeResourcesFit"})
    assert q.counts()[UNSCHEDULABLE] == 1
    q.move_all(NODE_ADD, None, node("small", cpu="4"))  # the hint: it would not fit there either
    assert q.counts()[UNSCHEDULABLE] == 1
    q.move_all(ASSIGNED_POD_DELETE, info(pod("gone", node_name="n1")), None)
    assert q.counts()[UNSCHEDULABLE] == 0
    assert (await asyncio.wait_for(q.pop(), 1)) is queued


async def test_a_node_that_fits_brings_the_pod_back():
    q = make_queue()
    q.add(info(pod("big", cpu="8")))
    queued = await q.pop()
    q.add_unschedulable(queued, q.scheduling_cycle, {"NodeResourcesFit"})
    q.move_all(NODE_ADD, None, node("large", cpu="16"))
    assert q.counts()[UNSCHEDULABLE] == 0


async def test_an_event_during_the_attempt_sends_the_pod_to_back_off():
    q = make_queue()
    q.add(info(pod("big", cpu="8")))
    queued = await q.pop()
    q.move_all(NODE_ADD, None, node("small", cpu="1"))  # arrives while the pod is being scheduled
    q.add_unschedulable(queued, q.scheduling_cycle, {"NodeResourcesFit"})
    assert q.counts()[BACKOFF] == 1


async def test_gated_pods_wait_for_their_gates_to_go():
    q = make_queue()
    gated = info(pod("g", schedulingGates=[{"name": "example.com/quota"}]))
    q.add(gated)
    assert q.counts()[UNSCHEDULABLE] == 1
    q.move_all(NODE_ADD, None, node("n"))
    assert q.counts()[UNSCHEDULABLE] == 1
    q.update(gated, info(dict(gated.pod, spec={**gated.spec, "schedulingGates": []})))
    assert q.counts()[ACTIVE] == 1


async def test_deleted_pods_leave_the_queue():
    q = make_queue()
    p = info(pod("p"))
    q.add(p)
    q.delete(p.uid)
    q.add(info(pod("q")))
    assert await pop_names(q, 1) == ["q"]
    assert len(q) == 1  # q, in flight
