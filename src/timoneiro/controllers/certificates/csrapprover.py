"""The CSR approving controller (upstream's csrapproving): approves a kubelet's request for a client
certificate when its requester may create certificatesigningrequests/nodeclient (a node's first
certificate, asked for with a bootstrap token) or /selfnodeclient (a node renewing its own), as a
SubjectAccessReview through the API answers. kubeadm's RBAC bindings grant the first to its bootstrap
tokens' group and the second to system:nodes."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from timoneiro.client import ApiError
from timoneiro.controllers.certificates import CSRS, CertificateController, approval
from timoneiro.pki import certs
from timoneiro.pki import csr as csrs

SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class NotApproved(Exception):
    """A recognised request whose requester may not have it approved (retried: permissions may change)."""


@dataclass(frozen=True)
class Recognizer:
    subresource: str
    message: str
    self_only: bool  # the requester is the node the certificate names

    def recognizes(self, csr: dict, request: x509.CertificateSigningRequest) -> bool:
        spec = csr.get("spec") or {}
        if spec.get("signerName") != csrs.KUBELET_CLIENT_SIGNER:
            return False
        if self.self_only and spec.get("username") != certs.common_name(request):
            return False
        return csrs.kubelet_client_error(request, spec.get("usages") or []) is None


RECOGNIZERS = (
    Recognizer("selfnodeclient", "Auto approving self kubelet client certificate after SubjectAccessReview.",
               self_only=True),
    Recognizer("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview.",
               self_only=False),
)


class CSRApprover(CertificateController):
    name = "csrapproving"

    async def handle(self, csr: dict) -> None:
        if any(approval(csr)):
            return
        try:
            request = csrs.parse_request(csrs.request_bytes(csr))
        except ValueError as e:
            raise ValueError(f'unable to parse csr "{csr["metadata"]["name"]}": {e}') from None
        tried = []
        for recognizer in RECOGNIZERS:
            if not recognizer.recognizes(csr, request):
                continue
            tried.append(recognizer.subresource)
            if await self.allowed(csr, recognizer.subresource):
                await self.approve(csr, recognizer.message)
                return
        if tried:
            name = csr["metadata"]["name"]
            raise NotApproved(f'recognized csr "{name}" as [{" ".join(tried)}] but subject access review was '
                              "not approved")

    async def allowed(self, csr: dict, subresource: str) -> bool:
        """Whether the requester may create certificatesigningrequests/SUBRESOURCE, asked as a
        SubjectAccessReview for the user the request recorded."""
        spec = csr.get("spec") or {}
        review_spec = {"user": spec.get("username", ""), "groups": spec.get("groups") or [],
                       "resourceAttributes": {"group": CSRS.group, "resource": CSRS.plural, "verb": "create",
                                              "subresource": subresource}}
        if spec.get("uid"):
            review_spec["uid"] = spec["uid"]
        if spec.get("extra"):
            review_spec["extra"] = spec["extra"]
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": review_spec}
        try:
            answer = await self.client.request("POST", SAR_PATH, body=review)
        except ApiError as e:
            if e.code == 404:
                raise NotApproved("the API server does not serve SubjectAccessReviews: no request is "
                                  "approved automatically") from None
            raise
        return bool((answer.get("status") or {}).get("allowed"))
