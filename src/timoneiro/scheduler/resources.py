"""Requests and allocatable as integers the filter loop compares cheaply: millicores, bytes and counts.

A pod's request follows the kubelet's rule: containers add up, each init container needs the maximum of
itself plus the sidecars (restartable init containers) started before it, and the pod overhead comes on top.
"""

from __future__ import annotations

import functools

from timoneiro.api import quantity

CPU, MEMORY, EPHEMERAL_STORAGE, PODS = "cpu", "memory", "ephemeral-storage", "pods"
# what a container that sets no cpu or memory request counts as when nodes are scored (upstream's non-zero rule)
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


@functools.lru_cache(maxsize=8192)
def amount(name: str, text: str | int | float) -> int:
    """A quantity as the integer the scheduler counts in: millicores for cpu, whole units otherwise."""
    q = quantity.parse(text)
    return q.milli_value() if name == CPU else q.int_value()


def is_scalar(name: str) -> bool:
    """Extended resources (example.com/gpu), hugepages and attachable volumes: counted by name."""
    return "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


class Resource:
    __slots__ = ("milli_cpu", "memory", "ephemeral_storage", "allowed_pods", "scalar")

    def __init__(self, milli_cpu: int = 0, memory: int = 0, ephemeral_storage: int = 0, allowed_pods: int = 0,
                 scalar: dict[str, int] | None = None) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.allowed_pods = allowed_pods
        self.scalar = scalar or {}

    @classmethod
    def of(cls, amounts: dict[str, int]) -> Resource:
        scalar = {k: v for k, v in amounts.items() if is_scalar(k)}
        return cls(amounts.get(CPU, 0), amounts.get(MEMORY, 0), amounts.get(EPHEMERAL_STORAGE, 0),
                   amounts.get(PODS, 0), scalar)

    @classmethod
    def parse(cls, resource_list: dict | None) -> Resource:
        """A ResourceList (node allocatable); unparsable quantities count as zero, as a zero Quantity would."""
        amounts = {}
        for name, text in (resource_list or {}).items():
            try:
                amounts[name] = amount(name, text)
            except (quantity.QuantityError, TypeError):
                continue
        return cls.of(amounts)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * value

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods, dict(self.scalar))

    def __repr__(self) -> str:
        return (f"Resource(cpu={self.milli_cpu}m, memory={self.memory}, ephemeral={self.ephemeral_storage}, "
                f"pods={self.allowed_pods}, scalar={self.scalar})")


def _container_requests(container: dict, non_zero: bool) -> dict[str, int]:
    requests = ((container.get("resources") or {}).get("requests")) or {}
    out = {}
    for name, text in requests.items():
        try:
            out[name] = amount(name, text)
        except (quantity.QuantityError, TypeError):
            continue
    if non_zero:
        out.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        out.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return out


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def _max(into: dict[str, int], other: dict[str, int]) -> None:
    for name, value in other.items():
        if value > into.get(name, 0):
            into[name] = value


def pod_requests(spec: dict, non_zero: bool = False) -> dict[str, int]:
    """What the pod asks of a node; with non_zero, containers without cpu/memory requests count the defaults."""
    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(total, _container_requests(container, non_zero))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            in_use = dict(sidecars)
        else:
            in_use = dict(requests)
            _add(in_use, sidecars)
        _max(init_peak, in_use)
    _max(total, init_peak)
    overhead = spec.get("overhead")
    if overhead:
        _add(total, _container_requests({"resources": {"requests": overhead}}, False))
    return total
