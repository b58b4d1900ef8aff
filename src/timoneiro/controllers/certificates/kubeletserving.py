"""Approves kubelets' serving certificate requests (signer kubernetes.io/kubelet-serving), which upstream's
csrapproving never does: it leaves them to an approver the cluster adds (kubelet-csr-approver,
kubelet-serving-cert-approver) or to `kubectl certificate approve`, and EKS's control plane approves its
nodes' own. This one approves a request when the node asks for itself (the requester is system:node:NAME,
in system:nodes, and the subject is that node's), the request is a valid kubelet serving request, and every
name it asks for is one of the Node's status.addresses (an IP an IP address of the Node, a DNS name one of
its hostname or DNS addresses). Anything else stays pending for an administrator: a request naming an
address its Node does not have yet is tried again as the Node changes."""

from __future__ import annotations

from cryptography import x509

from timoneiro.client.resources import NODES
from timoneiro.controllers.certificates import CertificateController, approval
from timoneiro.controllers.certificates.csrapprover import NotApproved
from timoneiro.pki import certs
from timoneiro.pki import csr as csrs

MESSAGE = "Auto approving kubelet serving certificate: the names it asks for are its Node's addresses."


def requesting_node(csr: dict, request: x509.CertificateSigningRequest) -> str | None:
    """The node a kubelet serving request is for, if that node itself asked for it and it is valid."""
    spec = csr.get("spec") or {}
    cn = certs.common_name(request)
    if spec.get("signerName") != csrs.KUBELET_SERVING_SIGNER or spec.get("username") != cn \
            or csrs.NODES_GROUP not in (spec.get("groups") or ()) \
            or csrs.kubelet_serving_error(request, spec.get("usages") or []) is not None:
        return None
    return cn.removeprefix(csrs.NODE_PREFIX)


def unknown_names(request: x509.CertificateSigningRequest, node: dict) -> list[str]:
    """The names the request asks for that are not the Node's addresses."""
    dns, ips = certs.subject_alt_names(request)  # type: ignore[arg-type]
    known_dns, known_ips = csrs.node_address_names((node.get("status") or {}).get("addresses") or [])
    return [d for d in dns if d not in known_dns] + [i for i in ips if i not in known_ips]


class KubeletServingApprover(CertificateController):
    name = "kubelet-serving-cert-approver"
    service_account = "kubelet-serving-cert-approver"

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.nodes = informers.informer(NODES)
        self.nodes.add_handler(on_add=self.node_changed, on_update=lambda _old, new: self.node_changed(new))

    def node_changed(self, node: dict) -> None:
        """Try the node's pending serving requests again: they may name addresses it has now."""
        user = csrs.NODE_PREFIX + node["metadata"]["name"]
        for csr in self.csrs.store.list():
            spec = csr.get("spec") or {}
            if spec.get("signerName") == csrs.KUBELET_SERVING_SIGNER and spec.get("username") == user \
                    and not any(approval(csr)):
                self.enqueue(csr)

    async def handle(self, csr: dict) -> None:
        if any(approval(csr)) or (csr.get("spec") or {}).get("signerName") != csrs.KUBELET_SERVING_SIGNER:
            return
        try:
            request = csrs.parse_request(csrs.request_bytes(csr))
        except ValueError:
            return  # not one to approve; the signer never signs it unapproved
        node_name = requesting_node(csr, request)
        if node_name is None:
            return
        name = csr["metadata"]["name"]
        node = self.nodes.store.get(node_name)
        if node is None:
            raise NotApproved(f'csr "{name}": node "{node_name}" is not known yet')
        if unknown := unknown_names(request, node):
            raise NotApproved(f'csr "{name}": {", ".join(unknown)} not among the addresses of node "{node_name}"')
        await self.approve(csr, MESSAGE)
