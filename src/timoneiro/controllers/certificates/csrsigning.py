"""The CSR signing controller (upstream's csrsigning, given --cluster-signing-cert-file/key-file): issues
the certificate of each approved request for the signers kubernetes.io/kube-apiserver-client-kubelet,
kubernetes.io/kube-apiserver-client and kubernetes.io/kubelet-serving with the cluster CA, for
spec.expirationSeconds (within 10 minutes and a year) and exactly the usages asked; a request a signer may
not sign gets a Failed condition instead. Without the CA (a manager not given one) it signs nothing."""

from __future__ import annotations

import base64

from timoneiro.apiserver.meta import now
from timoneiro.controllers.certificates import (
    CSRS,
    CertificateController,
    add_condition,
    approval,
    has_true_condition,
)
from timoneiro.pki import csr as csrs
from timoneiro.pki.certs import KeyPair


class CSRSigner(CertificateController):
    name = "csrsigning"

    def __init__(self, client, informers, ca: KeyPair | None = None) -> None:
        super().__init__(client, informers)
        self.ca = ca

    async def handle(self, csr: dict) -> None:
        approved, denied = approval(csr)
        spec = csr.get("spec") or {}
        check = csrs.SIGNER_CHECKS.get(spec.get("signerName", ""))
        if self.ca is None or check is None or not approved or denied or has_true_condition(csr, "Failed"):
            return
        try:
            request = csrs.parse_request(csrs.request_bytes(csr))
        except ValueError as e:
            raise ValueError(f'unable to parse csr "{csr["metadata"]["name"]}": {e}') from None
        usages = spec.get("usages") or []
        why = check(request, usages)
        if why is not None:
            add_condition(csr, {"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                                "message": why, "lastUpdateTime": now()})
        else:
            pem = csrs.sign(self.ca, request, usages, csrs.duration(spec.get("expirationSeconds")))
            csr["status"]["certificate"] = base64.b64encode(pem).decode()
        await self.client.update_status(CSRS, csr)
