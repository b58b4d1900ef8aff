"""The endpoints controller: one Endpoints object per Service with a selector, listing its pods' addresses.

Ready pods (or every pod, with publishNotReadyAddresses) are addresses, the others notReadyAddresses;
named target ports are looked up in each pod, so pods that name a port differently land in different
subsets. Subsets are packed in the canonical layout (one subset per distinct set of ports), so that an
unchanged Service is never written. Services without a selector (the API server's own "kubernetes" among
them) keep whatever Endpoints their owner writes.
"""

from __future__ import annotations

import logging

from timoneiro.client import ApiError
from timoneiro.client.resources import ENDPOINTS
from timoneiro.client.store import split_key
from timoneiro.controllers.endpoint_pods import (
    ServicePodsController,
    find_port,
    ip_family,
    is_headless,
    pod_ip,
    selector,
    selects,
    service_labels,
    should_be_in_endpoints,
    should_set_hostname,
    target_ref,
)
from timoneiro.controllers.pods import is_ready
from timoneiro.controllers.write_tracker import STALE_RETRY

log = logging.getLogger("timoneiro.controllers.endpoints")
MAX_CAPACITY = 1000  # addresses one Endpoints object holds; past that it is truncated and says so
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"  # old leader-election records, not endpoints


class EndpointsController(ServicePodsController):
    name = "endpoints"
    service_account = "endpoint-controller"
    workers = 5

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.endpoints = informers.informer(ENDPOINTS)
        self.endpoints.add_handler(on_delete=self.enqueue)  # deleted by hand: written again

    async def run(self) -> None:
        self.enqueue_leftovers()
        await super().run()

    def enqueue_leftovers(self) -> None:
        """Endpoints whose Service went while no controller ran are removed by syncing their keys."""
        for ep in self.endpoints.store.list():
            if LEADER_ANNOTATION not in (ep["metadata"].get("annotations") or {}):
                self.enqueue(ep)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            self.tracker.forget(key)
            try:
                await self.client.delete(ENDPOINTS, name, namespace)
            except ApiError as e:
                if e.code != 404:
                    raise
            return
        if selector(service) is None:
            return
        current = self.endpoints.store.get(key)
        if self.tracker.stale(key, [current] if current else []):
            self.queue.add_after(key, STALE_RETRY)
            return
        pods = [p for p in self.pods.store.by_index("namespace", namespace or "") if selects(service, p)]
        subsets, truncated = capped(repack(addresses_of(service, pods)))
        labels = service_labels(service)
        annotations = dict((current or {}).get("metadata", {}).get("annotations") or {})
        annotations.pop(OVER_CAPACITY, None)
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels and \
                (current["metadata"].get("annotations") or {}) == annotations:
            return
        meta = {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}
        body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}
        try:
            if current is None:
                self.tracker.wrote(key, await self.client.create(ENDPOINTS, body))
            else:
                meta["resourceVersion"] = current["metadata"]["resourceVersion"]
                self.tracker.wrote(key, await self.client.update(ENDPOINTS, body))
        except ApiError as e:
            if e.code == 403 and e.has_cause("NamespaceTerminating"):
                return  # its namespace is going away
            raise


def addresses_of(service: dict, pods: list[dict]) -> list[tuple[dict, bool, dict | None]]:
    """(address, ready, port) for each pod and each service port it serves; port None for a headless
    Service without ports, whose pods are listed by address alone."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    ports = (service.get("spec") or {}).get("ports") or []
    out: list[tuple[dict, bool, dict | None]] = []
    for pod in pods:
        if not should_be_in_endpoints(pod, publish):
            continue
        ip = pod_ip(pod, ip_family(service))
        if ip is None:
            continue
        address: dict = {"ip": ip}
        if should_set_hostname(pod, service):
            address["hostname"] = pod["spec"]["hostname"]
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        address["targetRef"] = target_ref(pod)
        ready = publish or is_ready(pod)
        if not ports and is_headless(service):
            out.append((address, ready, None))
        for sp in ports:
            number = find_port(pod, sp)
            if number is None:
                continue
            port = {"name": sp.get("name"), "port": number, "protocol": sp.get("protocol") or "TCP",
                    "appProtocol": sp.get("appProtocol")}
            out.append((address, ready, {k: v for k, v in port.items() if v}))
    return out


def repack(entries: list[tuple[dict, bool, dict | None]]) -> list[dict]:
    """The canonical subsets: addresses grouped by the exact set of ports they serve, everything sorted."""
    addresses: dict[tuple, dict] = {}
    ready: dict[tuple, bool] = {}
    ports: dict[tuple, dict[tuple, dict]] = {}
    for address, is_ready_, port in entries:
        key = (address["ip"], address["targetRef"]["uid"])
        addresses[key] = address
        ready[key] = ready.get(key, False) or is_ready_
        served = ports.setdefault(key, {})
        if port is not None:
            served[(port.get("name", ""), port["port"], port["protocol"])] = port
    groups: dict[frozenset, list[tuple]] = {}
    for key, served in ports.items():
        groups.setdefault(frozenset(served), []).append(key)
    subsets = []
    for port_keys, keys in groups.items():
        keys.sort()
        subset: dict = {}
        up = [addresses[k] for k in keys if ready[k]]
        down = [addresses[k] for k in keys if not ready[k]]
        if up:
            subset["addresses"] = up
        if down:
            subset["notReadyAddresses"] = down
        if port_keys:
            subset["ports"] = [ports[keys[0]][p] for p in sorted(port_keys)]
        subsets.append(subset)
    subsets.sort(key=lambda s: [(p.get("name", ""), p["port"], p["protocol"]) for p in s.get("ports", ())])
    return subsets


def capped(subsets: list[dict]) -> tuple[list[dict], bool]:
    """At most MAX_CAPACITY addresses, ready ones kept first; whether any were dropped."""
    room = MAX_CAPACITY
    total = sum(len(s.get("addresses", ())) + len(s.get("notReadyAddresses", ())) for s in subsets)
    if total <= room:
        return subsets, False
    out = []
    for field in ("addresses", "notReadyAddresses"):
        for s in subsets:
            kept = s.get(field, [])[:room]
            room -= len(kept)
            s[field] = kept
    for s in subsets:
        trimmed = {k: v for k, v in s.items() if v}
        if trimmed.get("addresses") or trimmed.get("notReadyAddresses"):
            out.append(trimmed)
    return out, True
