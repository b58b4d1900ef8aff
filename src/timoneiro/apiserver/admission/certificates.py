"""The CertificateSigningRequest admission plugins (upstream's plugin/pkg/admission/certificates).
CertificateApproval and CertificateSigning: writing /approval or a certificate to /status needs more than
update on that subresource, it needs `approve` or `sign` on the synthetic resource certificates.k8s.io
`signers` named by the request's signerName (or its domain's wildcard, "example.com/*"); else anyone who may
update /approval could approve any request, a system:masters one included. CertificateSubjectRestriction:
kubernetes.io/kube-apiserver-client never signs for the system:masters group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.x509.oid import NameOID

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authz import SUPERUSER_GROUP, Authorization
from timoneiro.apiserver.authz.rules import go_quote
from timoneiro.apiserver.csr import GROUP
from timoneiro.apiserver.generic import Context
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.pki import csr as csrs

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

RESOURCE = "certificatesigningrequests"


def _is_csr(kind: Kind) -> bool:
    return kind.group == GROUP and kind.plural == RESOURCE


def authorized_for_signer(authorization: Authorization, user: UserInfo, verb: str, signer_name: str) -> bool:
    """May the user `verb` (approve, sign) for this signer: by its name, or by "DOMAIN/*" for every signer
    of its domain (upstream's IsAuthorizedForSignerName)."""
    for name in (signer_name, signer_name.split("/")[0] + "/*"):
        attrs = RequestInfo(True, "", verb=verb, group=GROUP, version="*", resource="signers", name=name)
        if authorization.authorize(user, attrs)[0]:
            return True
    return False


class SignerPermission:
    """CertificateApproval and CertificateSigning, validating hooks on updates of the CSR subresources.
    Both check the signerName the request had before the write, which an update may not change."""

    def __init__(self, api: APIServer) -> None:
        self.api = api  # its authorization chain is built after admission is installed: read it per request

    def _require(self, ctx: Context, kind: Kind, old: dict, verb: str) -> None:
        if not isinstance(ctx.user, UserInfo):  # the server's own writes
            return
        signer_name = (old.get("spec") or {}).get("signerName", "")
        if not authorized_for_signer(self.api.authorization, ctx.user, verb, signer_name):
            raise errors.forbidden(kind, old["metadata"]["name"],
                                   f"user not permitted to {verb} requests with signerName {go_quote(signer_name)}")

    def approval(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        """CertificateApproval: every update of /approval."""
        if old is not None and ctx.subresource == "approval" and _is_csr(kind):
            self._require(ctx, kind, old, "approve")

    def signing(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        """CertificateSigning: an update of /status that changes the certificate or the conditions."""
        if old is None or ctx.subresource != "status" or not _is_csr(kind):
            return
        status, old_status = new.get("status") or {}, old.get("status") or {}
        if status.get("certificate") == old_status.get("certificate") and \
                (status.get("conditions") or []) == (old_status.get("conditions") or []):
            return
        self._require(ctx, kind, old, "sign")


def subject_restriction(ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
    """CertificateSubjectRestriction: on create, refuse a kube-apiserver-client request for system:masters."""
    if old is not None or ctx.subresource or not _is_csr(kind):
        return
    if (new.get("spec") or {}).get("signerName") != csrs.APISERVER_CLIENT_SIGNER:
        return
    name = new["metadata"].get("name", "")
    try:
        request = csrs.parse_request(csrs.request_bytes(new))
    except ValueError as e:
        raise errors.forbidden(kind, name, f"failed to parse CSR: {e}") from e
    organizations = [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if SUPERUSER_GROUP in organizations:
        raise errors.forbidden(kind, name, f"use of {csrs.APISERVER_CLIENT_SIGNER} signer with "
                                           f"{SUPERUSER_GROUP} group is not allowed")


def install(api: APIServer) -> None:
    """In upstream's order: CertificateApproval, CertificateSigning, (ClusterTrustBundleAttest: no
    ClusterTrustBundles here), CertificateSubjectRestriction."""
    signers = SignerPermission(api)
    api.generic.validators += [signers.approval, signers.signing, subject_restriction]
