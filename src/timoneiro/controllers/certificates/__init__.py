"""The certificate controllers (upstream's pkg/controller/certificates): the approver and the signer both
follow CertificateSigningRequests and act on those without a certificate yet, each through its own
subresource (/approval, /status)."""

from __future__ import annotations

import copy

from timoneiro.client.resources import Resource
from timoneiro.controllers.base import Controller

CSRS = Resource("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
CERTIFICATE_SA = "certificate-controller"  # the service account upstream's approver and signers act as


def approval(csr: dict) -> tuple[bool, bool]:
    """(approved, denied): whether any Approved or Denied condition is there (GetCertApprovalCondition)."""
    types = {c.get("type") for c in (csr.get("status") or {}).get("conditions") or ()}
    return "Approved" in types, "Denied" in types


def has_true_condition(csr: dict, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") in ("True", "", None)
               for c in (csr.get("status") or {}).get("conditions") or ())


def add_condition(csr: dict, condition: dict) -> None:
    csr.setdefault("status", {}).setdefault("conditions", []).append(condition)


class CertificateController(Controller):
    """Each added or changed request is handled once it has no certificate (a copy: the cache's stays)."""

    service_account = CERTIFICATE_SA

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.csrs = informers.informer(CSRS)
        self.csrs.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))

    async def sync(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or (csr.get("status") or {}).get("certificate"):
            return
        await self.handle(copy.deepcopy(csr))

    async def handle(self, csr: dict) -> None:
        raise NotImplementedError

    async def approve(self, csr: dict, message: str) -> None:
        """Approve the request (its copy), as an approver does: an AutoApproved condition through /approval."""
        add_condition(csr, {"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message})
        await self.client.update(CSRS, csr, subresource="approval")
