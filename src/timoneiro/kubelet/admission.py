"""Pod admission: whether a pod bound to this node may run beside the pods already admitted, checked as
upstream's predicate admit handler does (resources, node affinity, host ports, NoExecute taints), with
its reasons (OutOfcpu, OutOfpods, NodeAffinity...) and messages; only the first failure is reported."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from timoneiro.api.quantity import QuantityError, parse
from timoneiro.kubelet.containers import is_sidecar

_REASONS = {"cpu": "OutOfcpu", "memory": "OutOfmemory", "ephemeral-storage": "OutOfephemeral-storage",
            "pods": "OutOfpods"}
_CHECKED_FIRST = ("cpu", "memory", "ephemeral-storage")


@functools.lru_cache(maxsize=4096)
def _amount(name: str, value: str | int | float) -> int:
    """cpu in millicores, anything else in units, rounded up as Quantity.MilliValue/Value do."""
    try:
        q = parse(value)
    except QuantityError:
        return 0
    return q.milli_value() if name == "cpu" else q.int_value()


def _requests(container: dict) -> dict[str, int]:
    requests = ((container.get("resources") or {}).get("requests")) or {}
    return {name: _amount(name, value) for name, value in requests.items()}


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + value


def pod_requests(pod: dict) -> dict[str, int]:
    """What the pod takes from the node: its containers and sidecars together, or the largest init
    container (with the sidecars started before it) if that is more, plus the pod overhead."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for c in spec.get("containers") or ():
        _add(total, _requests(c))
    sidecars: dict[str, int] = {}
    peak: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        if is_sidecar(c):
            _add(total, _requests(c))
            _add(sidecars, _requests(c))
            continue
        during = dict(sidecars)
        _add(during, _requests(c))
        for name, value in during.items():
            peak[name] = max(peak.get(name, 0), value)
    for name, value in peak.items():
        total[name] = max(total.get(name, 0), value)
    _add(total, {name: _amount(name, v) for name, v in (spec.get("overhead") or {}).items()})
    return total


@dataclass
class Usage:
    """What the admitted pods take from the node, kept up to date as they are admitted and finish."""

    pods: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    ports: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    def add(self, pod: dict) -> None:
        self.pods += 1
        self.requests.update(pod_requests(pod))
        self.ports.update(host_ports(pod))

    def remove(self, pod: dict) -> None:
        self.pods -= 1
        self.requests.subtract(pod_requests(pod))
        self.ports.subtract(host_ports(pod))


def admit(pod: dict, node: dict, usage: Usage) -> tuple[str, str] | None:
    """None if the pod may run beside the admitted ones; else (reason, message) for its Failed status."""
    failure = _resources(pod, node, usage)
    if failure:
        return failure
    if not node_affinity_matches(pod, node):
        return "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
    if _ports_conflict(host_ports(pod), usage.ports):
        return "NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
    taints = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    if any(not any(tolerates(t, taint) for t in tolerations) for taint in taints):
        return "TaintToleration", "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
    return None


def _resources(pod: dict, node: dict, usage: Usage) -> tuple[str, str] | None:
    allocatable = {name: _amount(name, v) for name, v in ((node.get("status") or {}).get("allocatable") or {}).items()}
    pods_allowed = allocatable.get("pods", 0)
    if usage.pods + 1 > pods_allowed:
        return _insufficient("pods", 1, usage.pods, pods_allowed)
    wanted = pod_requests(pod)
    used = usage.requests
    extended = sorted(n for n in wanted if n not in _CHECKED_FIRST and n != "pods" and n in allocatable)
    for name in (*_CHECKED_FIRST, *extended):
        want = wanted.get(name, 0)
        if want > 0 and want > allocatable.get(name, 0) - used[name]:
            return _insufficient(name, want, used[name], allocatable.get(name, 0))
    return None


def _insufficient(name: str, requested: int, used: int, capacity: int) -> tuple[str, str]:
    return (_REASONS.get(name, "OutOf" + name),
            f"Node didn't have enough resource: {name}, requested: {requested}, used: {used}, capacity: {capacity}")


def node_affinity_matches(pod: dict, node: dict) -> bool:
    """The pod's nodeSelector and required node affinity against the node's labels and name."""
    spec = pod.get("spec") or {}
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    fields = {"metadata.name": meta.get("name", "")}
    return any(_term_matches(term, labels, fields) for term in required.get("nodeSelectorTerms") or ())


def _term_matches(term: dict, labels: dict, fields: dict) -> bool:
    expressions, field_expressions = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False  # an empty term matches no node
    return all(_requirement(e, labels) for e in expressions) and \
        all(_requirement(e, fields) for e in field_expressions)


def _requirement(expr: dict, labels: dict) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and len(values) == 1:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def host_ports(pod: dict) -> list[tuple[str, str, int]]:
    spec = pod.get("spec") or {}
    out = []
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for port in c.get("ports") or ():
            if port.get("hostPort"):
                out.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", port["hostPort"]))
    return out


def _ports_conflict(wanted: list[tuple[str, str, int]], taken: Counter[tuple[str, str, int]]) -> bool:
    return any(count > 0 and protocol == p2 and port == port2 and (ip == ip2 or "0.0.0.0" in (ip, ip2))
               for ip, protocol, port in wanted for (ip2, p2, port2), count in taken.items())
