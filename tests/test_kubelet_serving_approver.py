"""What the kubelet-serving approver approves: a node's own kubelet-serving request whose names are all its
Node's addresses; not another user's, not another node's, not one naming an address the Node lacks, not one
with a client usage; and the pod ranges EKS containerd nodes get from their subnet."""

from __future__ import annotations

import base64
import ipaddress

from timoneiro.controllers.certificates.kubeletserving import requesting_node, unknown_names
from timoneiro.eks import ec2
from timoneiro.pki import certs
from timoneiro.pki import csr as csrs

NODE = {"metadata": {"name": "w1"}, "status": {"addresses": [
    {"type": "InternalIP", "address": "10.0.3.7"}, {"type": "Hostname", "address": "w1"},
    {"type": "InternalDNS", "address": "w1.ec2.internal"}]}}


def _csr(cn: str = "system:node:w1", user: str = "system:node:w1", dns=("w1",), ips=("10.0.3.7",),
         usages=("digital signature", "server auth"), orgs=("system:nodes",)):
    key = certs.new_key()
    pem = csrs.new_request(key, cn, orgs, dns=list(dns), ips=list(ips))
    obj = {"metadata": {"name": "csr-x"},
           "spec": {"request": base64.b64encode(pem).decode(), "signerName": csrs.KUBELET_SERVING_SIGNER,
                    "usages": list(usages), "username": user, "groups": ["system:nodes", "system:authenticated"]}}
    return obj, csrs.parse_request(pem)


def test_a_nodes_own_request_for_its_addresses_is_approvable() -> None:
    obj, request = _csr(dns=("w1", "w1.ec2.internal"))
    assert requesting_node(obj, request) == "w1"
    assert unknown_names(request, NODE) == []


def test_names_the_node_does_not_have_are_found() -> None:
    obj, request = _csr(dns=("w1", "kubernetes.default"), ips=("10.0.3.7", "127.0.0.1"))
    assert requesting_node(obj, request) == "w1"
    assert unknown_names(request, NODE) == ["kubernetes.default", "127.0.0.1"]


def test_requests_not_from_the_node_itself_or_not_serving_ones_are_not_for_it() -> None:
    assert requesting_node(*_csr(user="system:node:w2")) is None  # another node asks in w1's name
    assert requesting_node(*_csr(user="alice")) is None
    assert requesting_node(*_csr(usages=("digital signature", "client auth"))) is None
    assert requesting_node(*_csr(orgs=("system:masters",))) is None
    obj, request = _csr()
    obj["spec"]["signerName"] = csrs.KUBELET_CLIENT_SIGNER
    assert requesting_node(obj, request) is None


def test_node_address_names_split_ips_from_dns_names() -> None:
    assert csrs.node_address_names(NODE["status"]["addresses"]) == (["w1", "w1.ec2.internal"], ["10.0.3.7"])


def test_eks_pod_ranges_are_free_aligned_blocks_of_the_subnet_sized_for_max_pods() -> None:
    subnet = ec2.subnet_cidr(1)
    first = ipaddress.ip_network(ec2.pod_range(1, 29, set()))
    assert first.prefixlen == 27 and first.subnet_of(subnet) and first.network_address != subnet.network_address
    taken = {str(a) for a in first} | {str(first.broadcast_address + 5)}
    second = ipaddress.ip_network(ec2.pod_range(1, 29, taken))
    assert not second.overlaps(first) and str(first.broadcast_address + 5) not in {str(a) for a in second}
    assert ipaddress.ip_network(ec2.pod_range(1, 110, set())).prefixlen == 25
