"""The EndpointSlice controller: a Service's pods as EndpointSlices of at most 100 endpoints each.

Endpoints serving the same ports share slices. A sync keeps each endpoint in the slice that already holds
it, fills slices that have room before making new ones, and writes only slices that changed, so that
watchers (kube-proxy) see few updates. A Service with no endpoints keeps one empty placeholder slice.
Slices are owned by their Service, so the garbage collector deletes them with it. A sync waits while the
slice cache is behind the controller's own writes, which would otherwise be made twice.
"""

from __future__ import annotations

import logging

from timoneiro.client import ApiError
from timoneiro.client.resources import ENDPOINTS, ENDPOINTSLICES, NODES
from timoneiro.client.store import object_key, split_key
from timoneiro.controllers.base import Controller
from timoneiro.controllers.controller_ref import controller_ref
from timoneiro.controllers.endpoint_pods import (
    ServicePodsController,
    find_port,
    ip_family,
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

log = logging.getLogger("timoneiro.controllers.endpointslice")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE = "topology.kubernetes.io/zone"
BY_SERVICE = "endpointslice-service"


def by_service(slice_: dict) -> list[str]:
    """Index slices by the "namespace/name" of the Service their label names."""
    name = (slice_["metadata"].get("labels") or {}).get(SERVICE_NAME)
    return [f"{slice_['metadata'].get('namespace')}/{name}"] if name else []


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"
    service_account = "endpointslice-controller"
    workers = 5
    max_endpoints_per_slice = 100

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.nodes = informers.informer(NODES)
        self.slices = informers.informer(ENDPOINTSLICES, indexers={BY_SERVICE: by_service})
        self.slices.add_handler(on_add=self.slice_changed, on_update=lambda _o, new: self.slice_changed(new),
                                on_delete=self.slice_changed)

    def slice_changed(self, slice_: dict) -> None:
        if (slice_["metadata"].get("labels") or {}).get(MANAGED_BY) == CONTROLLER_NAME:
            for key in by_service(slice_):
                self.queue.add(key)

    async def sync(self, key: str) -> None:
        service = self.services.store.get(key)
        if service is None:
            self.tracker.forget(key)  # its slices are the garbage collector's now
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or selector(service) is None or \
                service["metadata"].get("deletionTimestamp"):
            return
        mine = [s for s in self.slices.store.by_index(BY_SERVICE, key)
                if (s["metadata"].get("labels") or {}).get(MANAGED_BY) == CONTROLLER_NAME]
        if self.tracker.stale(key, mine):
            self.queue.add_after(key, STALE_RETRY)
            return
        family = ip_family(service)
        namespace, _ = split_key(key)
        pods = [p for p in self.pods.store.by_index("namespace", namespace or "") if selects(service, p)]
        plan = Plan([s for s in mine if s.get("addressType") == family], self.desired(service, pods),
                    self.max_endpoints_per_slice)
        plan.stale += [s for s in mine if s.get("addressType") != family]
        await self.apply(key, service, plan)

    def desired(self, service: dict, pods: list[dict]) -> dict[tuple, list[dict]]:
        """The endpoints wanted, grouped by the ports they serve (a key of (name, port, protocol)...)."""
        groups: dict[tuple, list[dict]] = {}
        for pod in pods:
            if not should_be_in_endpoints(pod, include_terminating=True):
                continue
            ip = pod_ip(pod, ip_family(service))
            if ip is None:
                continue
            sig = port_signature(endpoint_ports(service, pod))
            groups.setdefault(sig, []).append(self.endpoint(service, pod, ip))
        return groups

    def endpoint(self, service: dict, pod: dict, ip: str) -> dict:
        serving = is_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        # a terminating endpoint is never "ready" unless the Service publishes not-ready addresses
        ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
        ep: dict = {"addresses": [ip], "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
        if should_set_hostname(pod, service):
            ep["hostname"] = pod["spec"]["hostname"]
        ep["targetRef"] = target_ref(pod)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            ep["nodeName"] = node_name
            zone = ((self.nodes.store.get(node_name) or {}).get("metadata", {}).get("labels") or {}).get(ZONE)
            if zone:
                ep["zone"] = zone
        return ep

    async def apply(self, key: str, service: dict, plan: Plan) -> None:
        """Creates first, then updates, then deletes, so that endpoints are never missing in between."""
        labels = {**service_labels(service, (SERVICE_NAME, MANAGED_BY)),
                  SERVICE_NAME: service["metadata"]["name"], MANAGED_BY: CONTROLLER_NAME}
        family = ip_family(service)
        namespace = service["metadata"]["namespace"]
        for eps, ports in plan.new:
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": f"{service['metadata']['name'][:57]}-", "namespace": namespace,
                                 "labels": labels,
                                 "ownerReferences": [controller_ref(service, "v1", "Service")]},
                    "addressType": family, "endpoints": eps, "ports": ports}
            made = await self.client.create(ENDPOINTSLICES, body)
            self.tracker.wrote(key, made)
        for slice_, eps in plan.changed:
            if slice_.get("endpoints") == eps and (slice_["metadata"].get("labels") or {}) == labels:
                continue
            body = {**slice_, "metadata": {**slice_["metadata"], "labels": labels}, "endpoints": eps}
            body["metadata"].pop("managedFields", None)
            written = await self.client.update(ENDPOINTSLICES, body)
            self.tracker.wrote(key, written)
        for slice_ in plan.stale:
            try:
                await self.client.delete(ENDPOINTSLICES, slice_["metadata"]["name"], namespace,
                                         preconditions={"uid": slice_["metadata"]["uid"]})
            except ApiError as e:
                if e.code != 404:
                    raise
            self.tracker.deleted(key, slice_["metadata"]["name"])


def endpoint_ports(service: dict, pod: dict) -> list[dict]:
    out = []
    for sp in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, sp)
        if number is None:
            continue
        port = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def port_signature(ports: list[dict]) -> tuple:
    return tuple(sorted((p.get("name") or "", p.get("port"), p.get("protocol") or "TCP", p.get("appProtocol", ""))
                        for p in ports))


def endpoint_key(ep: dict) -> tuple:
    return ((ep.get("targetRef") or {}).get("uid"), tuple(ep.get("addresses") or ()))


class Plan:
    """Which slices to create, rewrite and delete for one Service's wanted endpoints."""

    def __init__(self, existing: list[dict], wanted: dict[tuple, list[dict]], size: int) -> None:
        self.size = size
        self.new: list[tuple[list[dict], list[dict]]] = []  # (endpoints, ports)
        self.changed: list[tuple[dict, list[dict]]] = []  # (slice, its endpoints from now on)
        self.stale: list[dict] = []
        by_sig: dict[tuple, list[dict]] = {}
        for s in sorted(existing, key=lambda s: s["metadata"]["name"]):
            by_sig.setdefault(port_signature(s.get("ports") or []), []).append(s)
        for sig, eps in wanted.items():
            self._place(by_sig.pop(sig, []), eps, [_port(p) for p in sig])
        leftovers = [s for slices in by_sig.values() for s in slices]
        if not wanted:
            # no endpoints at all: one empty placeholder slice stands for the Service
            keep = next((s for s in leftovers if not s.get("endpoints") and not s.get("ports")), None)
            if keep is None:
                self.new.append(([], []))
            leftovers = [s for s in leftovers if s is not keep]
        self.stale += leftovers

    def _place(self, slices: list[dict], wanted: list[dict], ports: list[dict]) -> None:
        remaining = {endpoint_key(ep): ep for ep in wanted}
        kept: list[tuple[dict, list[dict]]] = []
        for s in slices:
            eps = [remaining.pop(endpoint_key(ep)) for ep in s.get("endpoints") or ()
                   if endpoint_key(ep) in remaining]
            if eps:
                kept.append((s, eps))
            else:
                self.stale.append(s)
        # fill slices that change anyway first, then the fullest others, then new slices
        kept.sort(key=lambda k: (k[0].get("endpoints") == k[1], -len(k[1])))
        left = list(remaining.values())
        for s, eps in kept:
            room = self.size - len(eps)
            if room > 0 and left:
                eps.extend(left[:room])
                left = left[room:]
            self.changed.append((s, eps))
        while left:
            self.new.append((left[:self.size], ports))
            left = left[self.size:]


def _port(sig_item: tuple) -> dict:
    name, port, protocol, app = sig_item
    out = {"name": name, "port": port, "protocol": protocol}
    if app:
        out["appProtocol"] = app
    return out


class KubernetesEndpointSlice(Controller):
    """The EndpointSlice "kubernetes" in default, mirrored from the Endpoints the API server keeps for
    itself (which is labelled to be skipped by mirroring), as kube-apiserver's endpoint reconciler writes it:
    named after the Service, with the service-name label only, its first subset's ports and addresses."""

    name = "endpointslice-kubernetes"
    service_account = "endpointslicemirroring-controller"  # it mirrors Endpoints, with that controller's rights
    KEY = "default/kubernetes"

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.endpoints = informers.informer(ENDPOINTS)
        self.slices = informers.informer(ENDPOINTSLICES, indexers={BY_SERVICE: by_service})
        for informer in (self.endpoints, self.slices):
            informer.add_handler(on_add=self.enqueue_if_ours, on_update=lambda _o, new: self.enqueue_if_ours(new),
                                 on_delete=self.enqueue_if_ours)

    def enqueue_if_ours(self, obj: dict) -> None:
        if object_key(obj) == self.KEY:
            self.queue.add(self.KEY)

    async def sync(self, key: str) -> None:
        endpoints = self.endpoints.store.get(key)
        if endpoints is None:
            return
        want = slice_from_endpoints(endpoints)
        have = self.slices.store.get(key)
        if have is None:
            await self.client.create(ENDPOINTSLICES, want)
        elif any(have.get(f) != want.get(f) for f in ("addressType", "endpoints", "ports")) or \
                (have["metadata"].get("labels") or {}) != want["metadata"]["labels"]:
            want["metadata"]["resourceVersion"] = have["metadata"]["resourceVersion"]
            await self.client.update(ENDPOINTSLICES, want)


def slice_from_endpoints(endpoints: dict) -> dict:
    m = endpoints["metadata"]
    subsets = endpoints.get("subsets") or [{}]
    subset = subsets[0]
    addresses = list(subset.get("addresses") or ()) + list(subset.get("notReadyAddresses") or ())
    family = "IPv6" if addresses and all(":" in a["ip"] for a in addresses) else "IPv4"
    ports = [{"name": p.get("name", ""), "port": p["port"], "protocol": p.get("protocol", "TCP")}
             for p in subset.get("ports") or ()]
    eps = []
    for ready, field in ((True, "addresses"), (False, "notReadyAddresses")):
        for a in subset.get(field) or ():
            if (":" in a["ip"]) != (family == "IPv6"):
                continue
            ep: dict = {"addresses": [a["ip"]], "conditions": {"ready": ready}}
            if a.get("targetRef"):
                ep["targetRef"] = a["targetRef"]
            if a.get("nodeName"):
                ep["nodeName"] = a["nodeName"]
            eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": m["name"], "namespace": m["namespace"], "labels": {SERVICE_NAME: m["name"]}},
            "addressType": family, "endpoints": eps, "ports": ports}
