"""Scheduler plugins and the scheduling algorithm on in-memory nodes: verdicts, scores and the exact
FailedScheduling messages, without an API server."""

from __future__ import annotations

from test_scheduler_support import (
    CONTROL_PLANE_TAINT,
    info,
    node,
    node_info,
    offline_scheduler,
    place,
    pod,
    why_not,
)
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.plugins.defaultpreemption import Candidate, pick_one
from timoneiro.scheduler.resources import pod_requests

ZONE = "topology.kubernetes.io/zone"


def anti_affinity(app: str, key: str = "kubernetes.io/hostname", kind: str = "podAntiAffinity") -> dict:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}


# resources

def test_requests_follow_the_init_container_max_rule_sidecars_and_overhead():
    spec = {"initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                               {"resources": {"requests": {"cpu": "2", "memory": "3G"}}}],
            "containers": [{"resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                           {"resources": {"requests": {"cpu": "1", "memory": "1G"}}}]}
    assert pod_requests(spec) == {"cpu": 3000, "memory": 3 * 10**9}
    assert pod_requests({**spec, "overhead": {"cpu": "250m"}})["cpu"] == 3250
    sidecars = {"initContainers": [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                                   {"resources": {"requests": {"cpu": "2"}}}],
                "containers": [{"resources": {"requests": {"cpu": "1"}}}]}
    assert pod_requests(sidecars) == {"cpu": 3000}  # the init container runs beside the sidecar
    assert pod_requests({"containers": [{}]}, non_zero=True) == {"cpu": 100, "memory": 200 * 1024 * 1024}


def test_insufficient_resources_each_count_in_the_message():
    s = offline_scheduler(node("n1", cpu="1", memory="1Gi", pods="1"), pods=(pod("a", cpu="500m", node_name="n1"),))
    assert why_not(s, pod("b", cpu="1", memory="2Gi")) == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods.")


def test_extended_resources_are_counted_by_name():
    s = offline_scheduler(node("gpu", **{"example.com/gpu": "1"}), node("plain"))
    big = pod("train")
    big["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    assert place(s, big) == "gpu"
    assert why_not(s, big) == "0/2 nodes are available: 2 Insufficient example.com/gpu."


def test_the_pod_goes_to_the_node_with_the_most_room():
    s = offline_scheduler(node("busy"), node("idle"), pods=(pod("x", cpu="3", memory="6Gi", node_name="busy"),))
    assert place(s, pod("y", cpu="500m", memory="1Gi")) == "idle"


def test_least_allocated_and_balanced_scores():
    s = offline_scheduler(node("n", cpu="4", memory="8Gi"))
    s.cache.update_snapshot(s.snapshot)
    fw, nodes = s.framework, s.snapshot.node_list
    state, p = CycleState(), info(pod("p", cpu="1", memory="2Gi"))
    fw.run_pre_score(state, p, nodes)
    assert fw.plugin("NodeResourcesFit").score(state, p, nodes) == [75]  # both resources 3/4 free
    assert fw.plugin("NodeResourcesBalancedAllocation").score(state, p, nodes) == [100]  # 25% and 25%
    state, p = CycleState(), info(pod("q", cpu="2", memory="1Gi"))
    fw.run_pre_score(state, p, nodes)
    assert fw.plugin("NodeResourcesBalancedAllocation").score(state, p, nodes) == [81]  # 1 - |0.5 - 0.125| / 2


# taints and cordons

def test_control_plane_taint_and_insufficient_cpu_message():
    s = offline_scheduler(node("cp", taints=[CONTROL_PLANE_TAINT]), node("w1", cpu="1"), node("w2", cpu="1"))
    assert why_not(s, pod("web", cpu="2")) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient cpu.")


def test_tolerations_let_pods_onto_tainted_nodes():
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}
    s = offline_scheduler(node("tainted", taints=[taint]))
    assert why_not(s, pod("a")) == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
    assert place(s, pod("b", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])) == "tainted"
    assert place(s, pod("c", tolerations=[{"operator": "Exists"}])) == "tainted"
    other_effect = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert why_not(s, pod("d", tolerations=other_effect)) == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.")


def test_prefer_no_schedule_taints_only_lower_the_score():
    s = offline_scheduler(node("soft", taints=[{"key": "spot", "effect": "PreferNoSchedule"}]), node("clean"))
    assert {place(s, pod(f"p{i}")) for i in range(3)} == {"clean"}


def test_cordoned_nodes_take_only_pods_tolerating_unschedulable():
    s = offline_scheduler(node("cordoned", unschedulable=True))
    assert why_not(s, pod("a")) == "0/1 nodes are available: 1 node(s) were unschedulable."
    tolerating = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert place(s, pod("b", tolerations=tolerating)) == "cordoned"


# node affinity

def test_node_selector_and_required_node_affinity():
    s = offline_scheduler(node("a", labels={"disk": "ssd", "cores": "16"}), node("b", labels={"disk": "hdd"}))
    assert place(s, pod("p", nodeSelector={"disk": "ssd"})) == "a"
    gt = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}]}}}
    assert place(s, pod("q", affinity=gt)) == "a"
    not_in = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}
    assert place(s, pod("r", affinity=not_in)) == "b"
    assert why_not(s, pod("s", nodeSelector={"disk": "nvme"})) == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")


def test_match_fields_on_the_node_name_narrow_the_search():
    s = offline_scheduler(node("n1"), node("n2", cpu="1"), node("n3"))
    pinned = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    assert place(s, pod("small", affinity=pinned)) == "n2"
    assert why_not(s, pod("big", cpu="2", affinity=pinned)) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].")


def test_conflicting_node_name_terms_fail_at_pre_filter():
    s = offline_scheduler(node("n1"), node("n2"))
    conflict = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]},
                         {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    assert why_not(s, pod("p", affinity=conflict)) == "0/2 nodes are available: pod affinity terms conflict."


def test_preferred_node_affinity_picks_the_heavier_terms():
    s = offline_scheduler(node("a", labels={"zone": "a"}), node("b", labels={"zone": "b"}))
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
        {"weight": 50, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}}]}}
    assert place(s, pod("p", affinity=preferred)) == "b"


# host ports

def with_port(name: str, port: int, host_ip: str | None = None, protocol: str = "TCP", **kw) -> dict:
    p = pod(name, **kw)
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": port, "protocol": protocol,
                                            **({"hostIP": host_ip} if host_ip else {})}]
    return p


def test_host_ports_must_be_free():
    s = offline_scheduler(node("n1"), pods=(with_port("web", 8080, node_name="n1"),))
    assert why_not(s, with_port("web2", 8080)) == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.")
    assert place(s, with_port("dns", 8080, protocol="UDP")) == "n1"
    s = offline_scheduler(node("n1"), pods=(with_port("a", 9000, "10.0.0.1", node_name="n1"),))
    assert place(s, with_port("b", 9000, "10.0.0.2")) == "n1"
    assert why_not(s, with_port("c", 9000)) == (  # all addresses clash with any
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.")


# inter-pod affinity

def test_required_anti_affinity_spreads_replicas_one_per_node():
    s = offline_scheduler(node("n1"), node("n2"), node("n3"))
    web = {"labels": {"app": "web"}, "affinity": anti_affinity("web")}
    assert {place(s, pod(f"web-{i}", **web)) for i in range(3)} == {"n1", "n2", "n3"}
    assert why_not(s, pod("web-3", **web)) == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")


def test_existing_pods_anti_affinity_keeps_matching_pods_away():
    guard = pod("guard", labels={"app": "guard"}, node_name="n1", affinity=anti_affinity("db"))
    s = offline_scheduler(node("n1"), node("n2"), pods=(guard,))
    assert place(s, pod("db", labels={"app": "db"})) == "n2"
    s = offline_scheduler(node("n1"), pods=(guard,))
    assert why_not(s, pod("db", labels={"app": "db"})) == (
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.")


def test_pod_affinity_follows_matching_pods_by_zone():
    nodes = [node(f"{z}{i}", labels={ZONE: z}) for z in "ab" for i in range(2)]
    cache = pod("cache", labels={"app": "cache"}, node_name="b1")
    s = offline_scheduler(*nodes, pods=(cache,))
    near = {"affinity": anti_affinity("cache", ZONE, kind="podAffinity")}
    assert {place(s, pod(f"app-{i}", **near)) for i in range(4)} <= {"b0", "b1"}
    lonely = offline_scheduler(*nodes)
    assert why_not(lonely, pod("x", **near)) == "0/4 nodes are available: 4 node(s) didn't match pod affinity rules."
    # the first of a group with affinity to itself may go anywhere
    assert place(lonely, pod("first", labels={"app": "cache"}, **near)) in {"a0", "a1", "b0", "b1"}


def test_preferred_anti_affinity_prefers_nodes_without_matching_pods():
    s = offline_scheduler(node("n1"), node("n2"), pods=(pod("w", labels={"app": "web"}, node_name="n1"),))
    soft = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
        "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}]}}
    assert place(s, pod("w2", cpu="10m", labels={"app": "web"}, affinity=soft)) == "n2"


# topology spread

def spread(max_skew: int, when: str = "DoNotSchedule", key: str = ZONE) -> list[dict]:
    return [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": "x"}}}]


def test_topology_spread_keeps_the_skew_within_max_skew():
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    s = offline_scheduler(*nodes, pods=tuple(pod(f"x{i}", labels={"app": "x"}, node_name="a1") for i in range(2)))
    assert place(s, pod("new", labels={"app": "x"}, topologySpreadConstraints=spread(1))) == "b1"
    assert place(s, pod("new2", labels={"app": "x"}, topologySpreadConstraints=spread(1))) == "b1"
    full = offline_scheduler(nodes[0], node("b1", cpu="0", labels={ZONE: "b"}),
                             pods=tuple(pod(f"x{i}", labels={"app": "x"}, node_name="a1") for i in range(2)))
    assert why_not(full, pod("p", labels={"app": "x"}, topologySpreadConstraints=spread(1))) == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints.")


def test_topology_spread_needs_the_topology_label():
    s = offline_scheduler(node("nolabel"))
    assert why_not(s, pod("p", labels={"app": "x"}, topologySpreadConstraints=spread(1))) == (
        "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).")


def test_schedule_anyway_spreading_and_system_defaults_score_emptier_domains():
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    existing = tuple(pod(f"x{i}", cpu="10m", labels={"app": "x"}, node_name="a1") for i in range(3))
    s = offline_scheduler(*nodes, pods=existing)
    assert place(s, pod("p", cpu="10m", labels={"app": "x"},
                        topologySpreadConstraints=spread(1, "ScheduleAnyway"))) == "b1"
    s = offline_scheduler(*nodes, pods=existing)
    s.framework.listers.services.put({"metadata": {"name": "x", "namespace": "default"},
                                      "spec": {"selector": {"app": "x"}}})
    assert place(s, pod("q", cpu="10m", labels={"app": "x"})) == "b1"


# preemption

def test_victims_are_the_fewest_least_important_pods():
    low = [pod(f"low{i}", cpu="1", node_name="n1") for i in range(2)]
    s = offline_scheduler(node("n1", cpu="2"), node("n2", cpu="2"),
                          pods=(*low, pod("mid", cpu="2", node_name="n2", priority=50)))
    s.cache.update_snapshot(s.snapshot)
    fw = s.framework
    state, high = CycleState(), info(pod("high", cpu="1", priority=100))
    preemption = fw.plugin("DefaultPreemption")
    statuses = s.find_nodes_that_fit(state, high)[1].node_to_status
    candidates, _ = preemption.find_candidates(state, high, s.snapshot.node_list, statuses)
    best = pick_one(candidates)
    assert best.node == "n1" and len(best.victims) == 1 and best.victims[0].priority == 0


def test_candidates_are_ranked_by_victim_priority_then_count():
    a = info(pod("a", priority=10))
    b, c = info(pod("b", priority=5)), info(pod("c", priority=5))
    assert pick_one([Candidate("x", [a], 0), Candidate("y", [b, c], 0)]).node == "y"
    assert pick_one([Candidate("x", [b], 0), Candidate("y", [c, info(pod("d", priority=1))], 0)]).node == "x"
    assert pick_one([Candidate("x", [b], 1), Candidate("y", [a], 0)]).node == "y"


def test_nominated_pods_keep_their_room_from_lower_priority_pods():
    s = offline_scheduler(node("n1", cpu="2"), node("n2", cpu="1"))
    s.queue.nominator.add(info(pod("preemptor", cpu="2", priority=100)), "n1")
    assert place(s, pod("low", cpu="1")) == "n2"
    assert why_not(s, pod("low2", cpu="1")) == "0/2 nodes are available: 2 Insufficient cpu."


# the cache and snapshots

def test_snapshot_copies_only_the_nodes_that_changed():
    s = offline_scheduler(node("n1"), node("n2"))
    s.cache.update_snapshot(s.snapshot)
    n1, n2 = s.snapshot.get("n1"), s.snapshot.get("n2")
    assumed = info(pod("p", node_name="n1"))
    s.cache.assume_pod(assumed)
    s.cache.update_snapshot(s.snapshot)
    assert s.snapshot.get("n2") is n2 and s.snapshot.get("n1") is not n1
    assert [p.name for p in s.snapshot.get("n1").pods] == ["p"] and n1.pods == []
    s.cache.forget_pod(assumed)
    s.cache.update_snapshot(s.snapshot)
    assert s.snapshot.get("n1").requested.milli_cpu == 0


def test_confirming_an_assumed_pod_elsewhere_moves_its_usage():
    s = offline_scheduler(node("n1"), node("n2"))
    assumed = info(pod("p", cpu="1", node_name="n1"))
    s.cache.assume_pod(assumed)
    bound = dict(assumed.pod, spec={**assumed.spec, "nodeName": "n2"})
    s.cache.add_pod(info(bound))
    assert not s.cache.is_assumed(assumed.uid)
    assert s.cache.nodes["n1"].requested.milli_cpu == 0 and s.cache.nodes["n2"].requested.milli_cpu == 1000


def test_node_order_takes_one_zone_after_another():
    s = offline_scheduler(*(node(f"{z}{i}", labels={ZONE: z}) for z in "ab" for i in range(3)), node("c0"))
    assert s.cache.node_order() == ["a0", "b0", "c0", "a1", "b1", "a2", "b2"]


def test_a_removed_node_keeps_its_pods_until_they_go():
    s = offline_scheduler(node("n1"), pods=(pod("p", node_name="n1"),))
    s.cache.remove_node("n1")
    s.cache.update_snapshot(s.snapshot)
    assert len(s.snapshot) == 0 and s.cache.nodes["n1"].pods
    s.cache.remove_pod(s.cache.nodes["n1"].pods[0].uid)
    assert "n1" not in s.cache.nodes


def test_node_info_counts_non_zero_requests_for_best_effort_pods():
    n = node_info(node("n"), pod("be", cpu=None))
    assert n.requested.milli_cpu == 0 and n.non_zero_requested.milli_cpu == 100
