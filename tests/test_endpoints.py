"""Endpoints and EndpointSlices for Services with selectors, against a real API server.

There is no kubelet: pods are created bound to a Node object, and their addresses and readiness are
written through pods/status as a kubelet would.
"""

from __future__ import annotations

import json
import time

import pytest

from controller_testing import Api, eventually
from timoneiro.controllers.endpointslice import EndpointSliceController

NS = "/api/v1/namespaces/default"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


@pytest.fixture
def api(api):
    """The shared client, with a node n1 in zone z1."""
    api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}})
    return api


def service(api: Api, name: str, ports: list[dict], **spec) -> dict:
    return api.post(f"{NS}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                                       "spec": {"selector": {"app": name}, "ports": ports, **spec}})


def pod(api: Api, name: str, app: str, ip: str, ready: bool, ports: list[dict] = (), **spec) -> dict:
    created = api.post(f"{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx", "ports": list(ports)}], **spec}})
    set_ready(api, name, ready, ip)
    return created


def set_ready(api: Api, name: str, ready: bool, ip: str = "") -> None:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    api.patch(f"{NS}/pods/{name}/status", {"status": status})


def subsets(kubectl, name: str) -> list[dict]:
    return kubectl.json("get", "endpoints", name).get("subsets") or []


def slices(api: Api, service_name: str) -> list[dict]:
    return api.get(f"{SLICES}?labelSelector=kubernetes.io/service-name={service_name}")["items"]


def by_pod(slice_list: list[dict]) -> dict[str, tuple[dict, dict]]:
    """pod name -> (endpoint, the ports of its slice)."""
    return {ep["targetRef"]["name"]: (ep, {p["name"]: p["port"] for p in s["ports"]})
            for s in slice_list for ep in s.get("endpoints") or ()}


def test_endpoints_and_slices_follow_pods(api, kubectl):
    service(api, "web", [{"name": "http", "port": 80, "targetPort": "http"},
                         {"name": "metrics", "port": 9090, "targetPort": 9090}])
    pod(api, "web-a", "web", "10.0.0.1", True, [{"name": "http", "containerPort": 8080}])
    pod(api, "web-b", "web", "10.0.0.2", False, [{"name": "http", "containerPort": 8081}])
    pod(api, "web-c", "web", "10.0.0.3", True)  # no port named http: only metrics
    pod(api, "other", "db", "10.0.0.9", True)
    expected = [
        {"addresses": [{"ip": "10.0.0.1", "name": "web-a"}], "ports": {"http": 8080, "metrics": 9090}},
        {"notReadyAddresses": [{"ip": "10.0.0.2", "name": "web-b"}], "ports": {"http": 8081, "metrics": 9090}},
        {"addresses": [{"ip": "10.0.0.3", "name": "web-c"}], "ports": {"metrics": 9090}},
    ]

    def shaped() -> list[dict]:
        out = []
        for s in subsets(kubectl, "web"):
            row: dict = {"ports": {p["name"]: p["port"] for p in s["ports"]}}
            for f in ("addresses", "notReadyAddresses"):
                if s.get(f):
                    row[f] = [{"ip": a["ip"], "name": a["targetRef"]["name"]} for a in s[f]]
                    assert all(a["nodeName"] == "n1" for a in s[f])
            out.append(row)
        return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))

    eventually(lambda: shaped() == sorted(expected, key=lambda r: json.dumps(r, sort_keys=True)))
    assert "10.0.0.1:8080" in kubectl("get", "endpoints", "web")

    found = eventually(lambda: len(by_pod(slices(api, "web"))) == 3 and slices(api, "web"))
    assert len(found) == 3  # one slice per distinct set of ports
    for s in found:
        assert s["addressType"] == "IPv4"
        assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslice-controller.k8s.io"
        assert s["metadata"]["generateName"] == "web-"
        ref = s["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("Service", "web", True)
    eps = by_pod(found)
    a, a_ports = eps["web-a"]
    assert a["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert (a["addresses"], a["nodeName"], a["zone"], a_ports) == (["10.0.0.1"], "n1", "z1",
                                                                   {"http": 8080, "metrics": 9090})
    assert eps["web-b"][0]["conditions"]["ready"] is False
    assert eps["web-c"][1] == {"metrics": 9090}

    # readiness changes move addresses; a terminating pod leaves Endpoints but stays in slices as terminating
    set_ready(api, "web-b", True)
    api.patch(f"{NS}/pods/web-a", {"metadata": {"finalizers": ["example.com/hold"]}})
    api.delete(f"{NS}/pods/web-a", {"gracePeriodSeconds": 0})
    eventually(lambda: sorted(a["targetRef"]["name"] for s in subsets(kubectl, "web")
                              for a in s.get("addresses", ())) == ["web-b", "web-c"])
    eventually(lambda: by_pod(slices(api, "web"))["web-a"][0]["conditions"] ==
               {"ready": False, "serving": True, "terminating": True})
    api.patch(f"{NS}/pods/web-a", {"metadata": {"finalizers": None}})
    eventually(lambda: "web-a" not in by_pod(slices(api, "web")) and len(slices(api, "web")) == 2)

    # the Service goes: its Endpoints are deleted, its slices collected with it
    kubectl("delete", "service", "web")
    eventually(lambda: not api.exists(f"{NS}/endpoints/web"))
    eventually(lambda: slices(api, "web") == [])


def test_publish_not_ready_and_headless(api, kubectl):
    service(api, "db", [], clusterIP="None", publishNotReadyAddresses=True)
    pod(api, "db-0", "db", "10.0.1.1", False, hostname="db-0", subdomain="db")
    s = eventually(lambda: subsets(kubectl, "db"))
    assert s == [{"addresses": [{"ip": "10.0.1.1", "hostname": "db-0", "nodeName": "n1",
                                 "targetRef": s[0]["addresses"][0]["targetRef"]}]}]
    ep = kubectl.json("get", "endpoints", "db")
    assert ep["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    [slice_] = eventually(lambda: [x for x in slices(api, "db") if x.get("endpoints")])
    assert slice_["endpoints"][0]["conditions"] == {"ready": True, "serving": False, "terminating": False}
    assert slice_["endpoints"][0]["hostname"] == "db-0"
    assert slice_["metadata"]["labels"]["service.kubernetes.io/headless"] == ""


def test_empty_service_has_a_placeholder_slice_and_slices_fill_up(api, kubectl, monkeypatch):
    assert EndpointSliceController.max_endpoints_per_slice == 100
    monkeypatch.setattr(EndpointSliceController, "max_endpoints_per_slice", 10)
    service(api, "many", [{"port": 80, "targetPort": 8080}])
    [placeholder] = eventually(lambda: slices(api, "many"))
    assert not placeholder.get("endpoints") and not placeholder.get("ports")
    assert eventually(lambda: kubectl.json("get", "endpoints", "many"))
    for i in range(13):
        pod(api, f"many-{i}", "many", f"10.1.0.{i + 1}", True)
    eventually(lambda: sorted(len(s.get("endpoints") or ()) for s in slices(api, "many")) == [3, 10])
    assert all(s["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}] for s in slices(api, "many"))
    assert eventually(lambda: sum(len(s["addresses"]) for s in subsets(kubectl, "many")) == 13)
    # once settled, nothing is rewritten
    versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices(api, "many")}
    ep_version = kubectl.json("get", "endpoints", "many")["metadata"]["resourceVersion"]
    api.patch(f"{NS}/services/many", {"metadata": {"annotations": {"touched": "yes"}}})
    api.patch(f"{NS}/pods/many-0", {"metadata": {"annotations": {"touched": "yes"}}})
    time.sleep(0.5)
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices(api, "many")} == versions
    assert kubectl.json("get", "endpoints", "many")["metadata"]["resourceVersion"] == ep_version


def test_kubernetes_endpoints_are_mirrored_and_selectorless_services_left_alone(api, kubectl, server):
    # the API server's own Endpoints, as its reconciler writes them (an address reachable from pods)
    own = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
           "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}
    if api.exists(f"{NS}/endpoints/kubernetes"):
        own["metadata"]["resourceVersion"] = api.get(f"{NS}/endpoints/kubernetes")["metadata"]["resourceVersion"]
        api.put(f"{NS}/endpoints/kubernetes", own)
    else:
        api.post(f"{NS}/endpoints", own)

    def mirrored() -> dict:
        s = api.get(f"{SLICES}/kubernetes", ok=(404,))
        return s if s.get("endpoints") == [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}] else {}

    slice_ = eventually(mirrored)
    assert slice_["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert slice_["addressType"] == "IPv4"
    assert slice_["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]
    assert api.get(f"{NS}/endpoints/kubernetes")["subsets"] == own["subsets"]  # the Endpoints are the server's

    api.post(f"{NS}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "outside"},
                                "spec": {"ports": [{"port": 5432}]}})
    mine = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "outside"},
            "subsets": [{"addresses": [{"ip": "192.0.2.7"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]}
    api.post(f"{NS}/endpoints", mine)
    api.post(f"{NS}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "marker"},
                                "spec": {"selector": {"app": "marker"}, "ports": [{"port": 1}]}})
    eventually(lambda: api.exists(f"{NS}/endpoints/marker"))  # the controller has run past "outside"
    assert api.get(f"{NS}/endpoints/outside")["subsets"] == mine["subsets"]
    assert slices(api, "outside") == []
