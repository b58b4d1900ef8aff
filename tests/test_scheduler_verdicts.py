"""Finding feasible nodes from the verdicts kept by node position gives what walking the nodes one by one gives:
the same nodes, the same count of nodes tried and the same rejections, as nodes fill up and change. And the
snapshot's count of nodes with PreferNoSchedule taints, which lets TaintToleration skip scoring, stays right."""

from __future__ import annotations

import random

from test_scheduler_support import CONTROL_PLANE_TAINT, info, node, offline_scheduler, place, pod
from timoneiro.scheduler.framework import CycleState, Diagnosis
from timoneiro.scheduler.scheduler import Scheduler


def both_ways(s: Scheduler, obj: dict, start: int, to_find: int) -> None:
    """Filter the pod from `start` both ways on the current snapshot and compare."""
    s.cache.update_snapshot(s.snapshot)
    results = []
    for by_verdicts in (True, False):
        state, diagnosis, pi = CycleState(), Diagnosis(), info(obj)
        s.framework.run_pre_filter(state, pi)
        assert state.memo_filters and not state.filters  # the case the verdicts serve
        nodes = s.snapshot.node_list
        if by_verdicts:
            found = s.filter_by_verdicts(state, pi, diagnosis, start, to_find)
        else:
            found = s.filter_nodes(state, pi, diagnosis, nodes[start:] + nodes[:start], to_find)
        statuses = {name: str(status) for name, status in diagnosis.node_to_status.statuses.items()}
        results.append(([n.name for n in found[0]], found[1], statuses, diagnosis.unschedulable_plugins))
    assert results[0] == results[1]


def test_the_same_nodes_as_one_by_one_while_nodes_fill_and_change():
    rng = random.Random(7)
    nodes = [node(f"n{i:02d}", cpu=rng.choice(["1", "2", "4"]),
                  taints=[CONTROL_PLANE_TAINT] if i % 7 == 0 else None) for i in range(40)]
    s = offline_scheduler(*nodes)
    shapes = [pod("small", cpu="100m"), pod("large", cpu="1500m"), pod("tolerant", cpu="500m", tolerations=[
        {"key": CONTROL_PLANE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}])]
    for step in range(300):
        shape = rng.choice(shapes)
        both_ways(s, shape, rng.randrange(40), rng.choice([1, 5, 17, 40]))
        if step % 3 == 0:  # a pod lands somewhere: that node changes
            target = rng.choice(nodes)["metadata"]["name"]
            s.cache.assume_pod(info(pod(f"p{step}", cpu="300m")).assumed_on(target))
        if step % 50 == 49:  # a node's allocatable changes
            changed = node(rng.choice(nodes)["metadata"]["name"], cpu=rng.choice(["1", "8"]))
            s.cache.add_node(changed)


def test_no_node_fits():
    s = offline_scheduler(*(node(f"n{i}", cpu="1") for i in range(5)))
    for start in range(5):
        both_ways(s, pod("huge", cpu="2"), start, 3)


def test_the_count_of_nodes_with_prefer_no_schedule_taints_follows_node_changes():
    s = offline_scheduler(node("a"), node("b"), pods=(pod("on-b", cpu="1", node_name="b"),))
    assert place(s, pod("first")) == "a"  # more room
    assert s.snapshot.with_prefer_taints == 0
    s.cache.add_node(node("a", taints=[{"key": "spot", "effect": "PreferNoSchedule"}]))
    assert place(s, pod("second")) == "b"  # less room, but a's taint costs it more
    assert s.snapshot.with_prefer_taints == 1
    s.cache.add_node(node("a"))
    place(s, pod("third"))
    assert s.snapshot.with_prefer_taints == 0
