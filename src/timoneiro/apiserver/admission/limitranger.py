"""LimitRanger: the LimitRanges of a namespace default what a pod's containers request and limit, and bound
what containers, pods and persistent volume claims may ask for (min, max, maxLimitRequestRatio).

Defaults are applied when a pod is created (recorded in the kubernetes.io/limit-ranger annotation);
bounds are checked after validation, on pod creates and on claim creates and updates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.api.quantity import Quantity, canonical
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, decode
from timoneiro.apiserver.quota.podresources import pod_limits, pod_requests
from timoneiro.apiserver.quota.resources import ZERO, ResourceList, parse_list

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

ANNOTATION = "kubernetes.io/limit-ranger"
MAX_MILLI = (2**63 - 1) // 1000  # the largest value whose milli value fits an int64 (resource.MaxMilliValue)


class LimitRanger:
    """Both halves of the plugin: `default` is the mutating one, `validate` the validating one."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def _limit_ranges(self, namespace: str) -> list[dict]:
        return [decode(e) for e in self.cache.list(f"/core/limitranges/{namespace}/")]

    def default(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if _is(kind, "pods") and old is None and not ctx.subresource and ctx.namespace:
            for limit_range in self._limit_ranges(ctx.namespace):
                set_pod_defaults(new, limit_range)

    def validate(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource or not ctx.namespace or (old is not None and old["metadata"].get("deletionTimestamp")):
            return
        if _is(kind, "pods") and old is None:
            check = pod_violations
        elif _is(kind, "persistentvolumeclaims"):
            check = claim_violations
        else:
            return
        for limit_range in self._limit_ranges(ctx.namespace):
            found = check(new, limit_range)
            if found:
                raise errors.forbidden(kind, new["metadata"].get("name", ""), aggregate(found))


def _is(kind: Kind, plural: str) -> bool:
    return not kind.group and kind.plural == plural


def aggregate(messages: list[str]) -> str:
    """One message as it is, several (without repeats) as "[a, b]", as upstream's error aggregate prints."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else f"[{', '.join(unique)}]"


# --- defaults

def container_defaults(limit_range: dict) -> tuple[dict, dict]:
    """(requests, limits) that containers get from the LimitRange's Container items."""
    requests: dict = {}
    limits: dict = {}
    for item in (limit_range.get("spec") or {}).get("limits") or ():
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    return requests, limits


def set_pod_defaults(pod: dict, limit_range: dict) -> None:
    requests, limits = container_defaults(limit_range)
    spec = pod.get("spec") or {}
    notes = []
    for prefix, key in (("container", "containers"), ("init container", "initContainers")):
        for container in spec.get(key) or ():
            resources = container.setdefault("resources", {})
            for which, defaults in (("requests", requests), ("limits", limits)):
                current = resources.get(which) or {}
                added = sorted(name for name in defaults if name not in current)
                if added:
                    resources[which] = {**current, **{name: defaults[name] for name in added}}
                    notes.append(f"{', '.join(added)} {which[:-1]} for {prefix} {container.get('name', '')}")
    if notes:
        pod["metadata"].setdefault("annotations", {})[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


# --- bounds

def _compared(*quantities: Quantity) -> list[int]:
    """The quantities at a common precision: milli-units unless one is too large for them."""
    if all(q.int_value() <= MAX_MILLI for q in quantities):
        return [q.milli_value() for q in quantities]
    return [q.int_value() for q in quantities]


def below_min(limit_type: str, name: str, enforced: Quantity, requests: ResourceList,
              limits: ResourceList | None) -> str:
    req, lim = requests.get(name), (limits or {}).get(name)
    req_value, lim_value, bound = _compared(req or ZERO, lim or ZERO, enforced)
    shown = canonical(enforced)
    if req is None:
        return f"minimum {name} usage per {limit_type} is {shown}.  No request is specified"
    if req_value < bound:
        return f"minimum {name} usage per {limit_type} is {shown}, but request is {canonical(req)}"
    if lim is not None and lim_value < bound:
        return f"minimum {name} usage per {limit_type} is {shown}, but limit is {canonical(lim)}"
    return ""


def above_max(limit_type: str, name: str, enforced: Quantity, requests: ResourceList,
              limits: ResourceList | None) -> str:
    """Limits must be set and within the max; without limits (claims) the request is what is bounded."""
    req = requests.get(name)
    shown = canonical(enforced)
    if limits is None:
        req_value, _, bound = _compared(req or ZERO, ZERO, enforced)
        if req is None:
            return f"maximum {name} usage per {limit_type} is {shown}.  No request is specified"
        if req_value > bound:
            return f"maximum {name} usage per {limit_type} is {shown}, but request is {canonical(req)}"
        return ""
    lim = limits.get(name)
    req_value, lim_value, bound = _compared(req or ZERO, lim or ZERO, enforced)
    if lim is None:
        return f"maximum {name} usage per {limit_type} is {shown}.  No limit is specified"
    if lim_value > bound:
        return f"maximum {name} usage per {limit_type} is {shown}, but limit is {canonical(lim)}"
    if req is not None and req_value > bound:
        return f"maximum {name} usage per {limit_type} is {shown}, but request is {canonical(req)}"
    return ""


def ratio_above_max(limit_type: str, name: str, enforced: Quantity, requests: ResourceList,
                    limits: ResourceList) -> str:
    req, lim = requests.get(name), limits.get(name)
    req_value, lim_value, _ = _compared(req or ZERO, lim or ZERO, enforced)
    shown = canonical(enforced)
    if req is None or req_value == 0:
        return f"{name} max limit to request ratio per {limit_type} is {shown}, but no request is specified or " \
               "request is 0"
    if lim is None or lim_value == 0:
        return f"{name} max limit to request ratio per {limit_type} is {shown}, but no limit is specified or " \
               "limit is 0"
    ratio = lim_value / req_value
    observed, allowed = ratio, float(enforced.int_value())
    if enforced.int_value() <= MAX_MILLI:
        observed, allowed = ratio * 1000, float(enforced.milli_value())
    if observed > allowed:
        return f"{name} max limit to request ratio per {limit_type} is {shown}, but provided ratio is {ratio:f}"
    return ""


def _bounds(item: dict, limit_type: str, requests: ResourceList, limits: ResourceList) -> list[str]:
    found = [below_min(limit_type, n, q, requests, limits) for n, q in sorted(parse_list(item.get("min")).items())]
    found += [above_max(limit_type, n, q, requests, limits) for n, q in sorted(parse_list(item.get("max")).items())]
    found += [ratio_above_max(limit_type, n, q, requests, limits)
              for n, q in sorted(parse_list(item.get("maxLimitRequestRatio")).items())]
    return [m for m in found if m]


def pod_violations(pod: dict, limit_range: dict) -> list[str]:
    """What the pod's containers (each) and the pod (in total) ask beyond the Container and Pod items."""
    spec = pod.get("spec") or {}
    found = []
    for item in (limit_range.get("spec") or {}).get("limits") or ():
        if item.get("type") == "Container":
            for container in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
                resources = container.get("resources") or {}
                found += _bounds(item, "Container", parse_list(resources.get("requests")),
                                 parse_list(resources.get("limits")))
        elif item.get("type") == "Pod":
            found += _bounds(item, "Pod", pod_requests(spec, overhead=False), pod_limits(spec, overhead=False))
    return found


def claim_violations(claim: dict, limit_range: dict) -> list[str]:
    """The storage a claim requests against the PersistentVolumeClaim items (its limits are not bounded)."""
    requests = parse_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    found = []
    for item in (limit_range.get("spec") or {}).get("limits") or ():
        if item.get("type") == "PersistentVolumeClaim":
            found += [below_min("PersistentVolumeClaim", n, q, requests, {})
                      for n, q in sorted(parse_list(item.get("min")).items())]
            found += [above_max("PersistentVolumeClaim", n, q, requests, None)
                      for n, q in sorted(parse_list(item.get("max")).items())]
    return [m for m in found if m]
