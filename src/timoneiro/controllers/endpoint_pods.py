"""Which pods back a Service and how: the address, ports and hostname the endpoints controllers give them
(upstream's endpointutil and podutil.FindPort), and the loop both the Endpoints and the EndpointSlice
controllers share: a Service's key is synced when it or a pod it selects changes."""

from __future__ import annotations

import ipaddress

from timoneiro.client.resources import PODS, SERVICES
from timoneiro.client.store import Store
from timoneiro.controllers.base import Controller
from timoneiro.controllers.pods import is_terminal
from timoneiro.controllers.write_tracker import WriteTracker


def selector(service: dict) -> dict | None:
    """The Service's selector; None when it has none (an empty one counts as none, as after storage)."""
    return (service.get("spec") or {}).get("selector") or None


def selects(service: dict, pod: dict) -> bool:
    sel = selector(service)
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return sel is not None and all(labels.get(k) == v for k, v in sel.items())


def services_selecting(services: Store, pod: dict) -> list[dict]:
    """Services in the pod's namespace whose selector matches its labels."""
    return [s for s in services.by_index("namespace", pod["metadata"].get("namespace", "")) if selects(s, pod)]


def ip_family(service: dict) -> str:
    return ((service.get("spec") or {}).get("ipFamilies") or ["IPv4"])[0]


def is_headless(service: dict) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def pod_ip(pod: dict, family: str) -> str | None:
    """The pod's first address of the family ("IPv4" or "IPv6")."""
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or ()] or [status.get("podIP")]
    version = 6 if family == "IPv6" else 4
    for ip in ips:
        try:
            if ip and ipaddress.ip_address(ip).version == version:
                return ip
        except ValueError:
            continue
    return None


def should_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Running or about to (not finished), with an address, and not being deleted unless asked for."""
    if is_terminal(pod):
        return False
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def should_set_hostname(pod: dict, service: dict) -> bool:
    """A pod whose subdomain is this Service is reachable as <hostname>.<service>."""
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == service["metadata"]["name"] \
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")


def find_port(pod: dict, service_port: dict) -> int | None:
    """The container port a service port's targetPort means for this pod: a number as it is, a name looked
    up among the pod's container ports of the same protocol (sidecar init containers included)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return port.get("containerPort")
    return None


def target_ref(pod: dict) -> dict:
    m = pod["metadata"]
    return {"kind": "Pod", "namespace": m.get("namespace"), "name": m["name"], "uid": m.get("uid")}


def service_labels(service: dict, reserved: tuple[str, ...] = ()) -> dict:
    """The Service's labels for the objects made from it, with the headless label as the Service is."""
    labels = {k: v for k, v in ((service["metadata"].get("labels") or {}).items()) if k not in reserved}
    labels.pop("service.kubernetes.io/headless", None)
    if is_headless(service):
        labels["service.kubernetes.io/headless"] = ""
    return labels


class ServicePodsController(Controller):
    """Syncs Service keys; a pod's change enqueues the Services selecting it (before and after a relabel)."""

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.services = self.follow(informers.informer(SERVICES))
        self.pods = informers.informer(PODS)
        self.pods.add_handler(on_add=self.pod_changed, on_update=self.pod_updated, on_delete=self.pod_changed)
        self.tracker = WriteTracker()

    def pod_changed(self, pod: dict) -> None:
        for service in services_selecting(self.services.store, pod):
            self.enqueue(service)

    def pod_updated(self, old: dict, new: dict) -> None:
        self.pod_changed(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self.pod_changed(old)
