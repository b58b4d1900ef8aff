"""What an object uses of a quota, per resource (upstream's quota evaluators): pods (compute resources and
scopes), services (node ports, load balancers), persistent volume claims (storage, per storage class), and
an object count ("count/<resource>.<group>") for every other resource, with the legacy names configmaps,
secrets, replicationcontrollers and resourcequotas. `calculate_usage` sums a namespace's usage for a quota:
the controller's recount, from the same per-object usage that admission charges."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from timoneiro.api import selectors
from timoneiro.api.quantity import Quantity
from timoneiro.api.strategies import qos_class
from timoneiro.apiserver.quota.podresources import container_resources, pod_limits, pod_requests
from timoneiro.apiserver.quota.resources import ONE, ZERO, ResourceList, add, mask, parse_list

COUNT_PREFIX = "count/"
REQUESTS_PREFIX = "requests."
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
# resources whose quota is ignored altogether (upstream's default ignored resources)
IGNORED = frozenset({("", "events")})


def object_count_name(group: str, resource: str) -> str:
    return f"{COUNT_PREFIX}{resource}.{group}" if group else f"{COUNT_PREFIX}{resource}"


def counted_resource(name: str) -> tuple[str, str] | None:
    """(group, resource) an object count name stands for: "count/deployments.apps" -> ("apps", "deployments")."""
    if not name.startswith(COUNT_PREFIX):
        return None
    resource, _, group = name[len(COUNT_PREFIX):].partition(".")
    return (group, resource) if resource else None


def scope_selectors(quota: dict) -> list[dict]:
    """spec.scopes as Exists requirements, then spec.scopeSelector's expressions."""
    spec = quota.get("spec") or {}
    out = [{"scopeName": scope, "operator": "Exists"} for scope in spec.get("scopes") or ()]
    return out + list((spec.get("scopeSelector") or {}).get("matchExpressions") or ())


class Evaluator:
    """Counts objects of one resource: one of each, under its object count name and an optional legacy name."""

    def __init__(self, group: str, resource: str, alias: str = "") -> None:
        self.group = group
        self.resource = resource
        self.count_name = object_count_name(group, resource)
        self.names = frozenset(n for n in (self.count_name, alias) if n)

    def handles(self, new: dict, old: dict | None) -> bool:
        """Whether a write (old is None for a create) can change what the object uses."""
        return old is None

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names]

    def matches_scope(self, selector: dict, obj: dict) -> bool:
        return True

    def constraints(self, required: list[str], obj: dict) -> str:
        """Why the object cannot be charged to a quota limiting `required`, or ""."""
        return ""

    def usage(self, obj: dict) -> ResourceList:
        return dict.fromkeys(self.names, ONE)

    def matches(self, quota: dict, obj: dict) -> bool:
        """The quota limits a resource of this evaluator and every scope of the quota takes the object."""
        hard = (quota.get("status") or {}).get("hard") or {}
        return bool(self.matching_resources(hard)) and all(self.matches_scope(s, obj) for s in scope_selectors(quota))

    def usage_stats(self, quota: dict, resources: list[str], items: Iterable[dict]) -> ResourceList:
        """What the objects in the quota's scopes use, each of `resources` at least zero."""
        used: ResourceList = dict.fromkeys(resources, ZERO)
        wanted = scope_selectors(quota)
        for item in items:
            if all(self.matches_scope(s, item) for s in wanted):
                used = add(used, self.usage(item))
        return used


# --- pods

# quota on these makes every container say how much it wants (upstream's "mistake" kept for compatibility)
_MUST_SPECIFY = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
_COMPUTE = ("cpu", "memory", "ephemeral-storage")


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    return not _is_native(name) and not name.startswith(REQUESTS_PREFIX)


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """The quota resources requests and limits use: cpu counts as requests.cpu too, and so on."""
    out: ResourceList = {"pods": ONE}
    for name in _COMPUTE:
        if name in requests:
            out[name] = out[REQUESTS_PREFIX + name] = requests[name]
        if name in limits:
            out["limits." + name] = limits[name]
    for name, q in requests.items():
        if name.startswith("hugepages-"):
            out[name] = out[REQUESTS_PREFIX + name] = q
        elif _is_extended(name):
            out[REQUESTS_PREFIX + name] = q
    return out


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def charged(pod: dict) -> bool:
    """Pods use compute quota until they finish, or until a deletion's grace period has run out."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    m = pod.get("metadata") or {}
    grace = m.get("deletionGracePeriodSeconds")
    if m.get("deletionTimestamp") and grace is not None:
        return datetime.now(UTC) <= _time(m["deletionTimestamp"]) + timedelta(seconds=grace)
    return True


def terminating(pod: dict) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return deadline is not None and deadline >= 0


def best_effort(pod: dict) -> bool:
    return ((pod.get("status") or {}).get("qosClass") or qos_class(pod)) == "BestEffort"


def _cross_namespace(affinity: dict | None) -> bool:
    affinity = affinity or {}
    terms = list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
    terms += [(w.get("podAffinityTerm") or {}) for w in affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
              or ()]
    return any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms)


def cross_namespace_affinity(pod: dict) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    return _cross_namespace(affinity.get("podAffinity")) or _cross_namespace(affinity.get("podAntiAffinity"))


_SELECTOR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def priority_class_matches(pod: dict, selector: dict) -> bool:
    priority_class = (pod.get("spec") or {}).get("priorityClassName") or ""
    if selector.get("operator") == "Exists":
        return bool(priority_class)
    op = _SELECTOR_OPS.get(selector.get("operator", ""))
    if op is None:
        return False
    requirement = selectors.Requirement(selector.get("scopeName", ""), op, tuple(selector.get("values") or ()))
    return requirement.matches({"PriorityClass": priority_class} if priority_class else {})


class PodEvaluator(Evaluator):
    _SCOPES: dict[str, Callable[[dict], bool]] = {
        "Terminating": terminating,
        "NotTerminating": lambda pod: not terminating(pod),
        "BestEffort": best_effort,
        "NotBestEffort": lambda pod: not best_effort(pod),
        "CrossNamespacePodAffinity": cross_namespace_affinity,
    }

    def __init__(self) -> None:
        super().__init__("", "pods")
        self.names = frozenset({self.count_name, "pods", *_COMPUTE, *(REQUESTS_PREFIX + n for n in _COMPUTE),
                                *("limits." + n for n in _COMPUTE)})

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names or n.startswith(("hugepages-", "requests.hugepages-"))
                or (not _is_native(n) and n.startswith(REQUESTS_PREFIX))]

    def matches_scope(self, selector: dict, obj: dict) -> bool:
        scope = selector.get("scopeName")
        if scope == "PriorityClass":
            return priority_class_matches(obj, selector)
        test = self._SCOPES.get(scope or "")
        return test is not None and test(obj)

    def constraints(self, required: list[str], obj: dict) -> str:
        must = _MUST_SPECIFY.intersection(required)
        missing: dict[str, set[str]] = {}
        spec = obj.get("spec") or {}
        for container in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
            has = compute_usage(container_resources(container, "requests"), container_resources(container, "limits"))
            for name in must.difference(has):
                missing.setdefault(name, set()).add(container.get("name", ""))
        if not missing:
            return ""
        return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))

    def usage(self, obj: dict) -> ResourceList:
        out: ResourceList = {self.count_name: ONE}
        if not charged(obj):
            return out
        spec = obj.get("spec") or {}
        return add(out, compute_usage(pod_requests(spec), pod_limits(spec)))


# --- services

class ServiceEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "services")
        self.names = frozenset({self.count_name, "services", "services.nodeports", "services.loadbalancers"})

    def handles(self, new: dict, old: dict | None) -> bool:
        return True  # a service's type can change on update

    def usage(self, obj: dict) -> ResourceList:
        spec = obj.get("spec") or {}
        ports = spec.get("ports") or []
        node_ports, load_balancers = 0, 0
        if spec.get("type") == "NodePort":
            node_ports = len(ports)
        elif spec.get("type") == "LoadBalancer":
            load_balancers = 1
            node_ports = len(ports) if spec.get("allocateLoadBalancerNodePorts") is not False else \
                sum(1 for p in ports if p.get("nodePort"))
        return {self.count_name: ONE, "services": ONE, "services.nodeports": Quantity(Fraction(node_ports)),
                "services.loadbalancers": Quantity(Fraction(load_balancers))}


def quota_service_type(service: dict) -> str:
    kind = (service.get("spec") or {}).get("type")
    return kind if kind in ("NodePort", "LoadBalancer") else ""


# --- persistent volume claims

_CLAIM_RESOURCES = ("persistentvolumeclaims", "requests.storage")


def claim_class(claim: dict) -> str:
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        return annotations[BETA_STORAGE_CLASS]
    return (claim.get("spec") or {}).get("storageClassName") or ""


def _whole(q: Quantity) -> Quantity:
    """Storage is charged in whole bytes."""
    return Quantity(math.ceil(q.value), q.format) if q.value.denominator != 1 else q


def claim_storage(claim: dict) -> Quantity | None:
    """The storage a claim asks for, or what was allocated to it if that is more."""
    requested = parse_list(((claim.get("spec") or {}).get("resources") or {}).get("requests")).get("storage")
    allocated = parse_list((claim.get("status") or {}).get("allocatedResources")).get("storage")
    if requested is None:
        return None
    return _whole(allocated if allocated is not None and allocated > requested else requested)


def allocation_changed(new: dict, old: dict) -> bool:
    storage = lambda c: ((c.get("status") or {}).get("allocatedResources") or {}).get("storage")  # noqa: E731
    return storage(new) != storage(old)


class ClaimEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("", "persistentvolumeclaims")
        self.names = frozenset({self.count_name, *_CLAIM_RESOURCES})

    def handles(self, new: dict, old: dict | None) -> bool:
        return True  # claims can be resized

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names
                or any(n.endswith(STORAGE_CLASS_SUFFIX + r) for r in _CLAIM_RESOURCES)]

    def usage(self, obj: dict) -> ResourceList:
        out: ResourceList = {"persistentvolumeclaims": ONE, self.count_name: ONE}
        storage_class = claim_class(obj)
        if storage_class:
            out[storage_class + STORAGE_CLASS_SUFFIX + "persistentvolumeclaims"] = ONE
        storage = claim_storage(obj)
        if storage is not None:
            out["requests.storage"] = storage
            if storage_class:
                out[storage_class + STORAGE_CLASS_SUFFIX + "requests.storage"] = storage
        return out


# --- the registry

_CORE: dict[tuple[str, str], Evaluator] = {
    ("", "pods"): PodEvaluator(),
    ("", "services"): ServiceEvaluator(),
    ("", "persistentvolumeclaims"): ClaimEvaluator(),
    **{("", r): Evaluator("", r, alias=r) for r in ("configmaps", "secrets", "replicationcontrollers",
                                                      "resourcequotas")},
}


@functools.lru_cache(maxsize=1024)
def evaluator_for(group: str, resource: str) -> Evaluator:
    return _CORE.get((group, resource)) or Evaluator(group, resource)


def evaluators_for(names: Iterable[str]) -> list[Evaluator]:
    """The evaluators that can measure any of the named quota resources."""
    names = list(names)
    found = [e for e in _CORE.values() if e.matching_resources(names)]
    for name in names:
        counted = counted_resource(name)
        if counted is not None and counted not in _CORE and counted not in IGNORED:
            found.append(evaluator_for(*counted))
    return found


def calculate_usage(quota: dict, items_of: Callable[[Evaluator], Iterable[dict] | None]) -> ResourceList:
    """What the objects of the quota's namespace use of each resource its spec limits (CalculateUsage).
    items_of(evaluator) gives the namespace's objects of the evaluator's resource, or None when they
    cannot be listed: the resources only that evaluator measures are then left out."""
    hard = list((quota.get("spec") or {}).get("hard") or {})
    evaluators = evaluators_for(hard)
    matched = {n for e in evaluators for n in e.matching_resources(hard)}
    used: ResourceList = {}
    for evaluator in evaluators:
        resources = evaluator.matching_resources(matched)
        if not resources:
            continue
        items = items_of(evaluator)
        if items is None:
            matched.difference_update(resources)
            continue
        used = add(used, evaluator.usage_stats(quota, resources, items))
    return mask(used, matched)
