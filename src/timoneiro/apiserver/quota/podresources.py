"""A pod's requests and limits as exact quantities (component-helpers' PodRequests/PodLimits): the most that
the containers running at one time need, per resource, plus the pod overhead (added to limits only for
resources the pod limits)."""

from __future__ import annotations

from timoneiro.apiserver.quota.resources import ResourceList, add_into, max_into, parse_list


def container_resources(container: dict, which: str) -> ResourceList:
    return parse_list((container.get("resources") or {}).get(which))


def running_together(spec: dict) -> list[list[dict]]:
    """The groups of containers that run at the same time: the containers with every sidecar (restartable
    init container), and each other init container with the sidecars started before it."""
    sidecars: list[dict] = []
    groups: list[list[dict]] = []
    for init in spec.get("initContainers") or ():
        if init.get("restartPolicy") == "Always":
            sidecars.append(init)
        else:
            groups.append([*sidecars, init])
    return [[*(spec.get("containers") or ()), *sidecars], *groups]


def _peak(spec: dict, which: str) -> ResourceList:
    peak: ResourceList = {}
    for group in running_together(spec):
        total: ResourceList = {}
        for container in group:
            add_into(total, container_resources(container, which))
        max_into(peak, total)
    return peak


def pod_requests(spec: dict, overhead: bool = True) -> ResourceList:
    requests = _peak(spec, "requests")
    if overhead:
        add_into(requests, parse_list(spec.get("overhead")))
    return requests


def pod_limits(spec: dict, overhead: bool = True) -> ResourceList:
    limits = _peak(spec, "limits")
    if overhead:
        add_into(limits, {name: q for name, q in parse_list(spec.get("overhead")).items() if name in limits})
    return limits
