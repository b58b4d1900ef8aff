"""Asking the cluster for a certificate through the certificates.k8s.io API and waiting until it is
issued, as client-go's certificate/csr package does for the kubelet: its client certificate (TLS
bootstrap, `timoneiro join`) and its serving certificate (serverTLSBootstrap, kubelet/server)."""

from __future__ import annotations

import base64
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from timoneiro.client import ApiError, Client
from timoneiro.controllers.certificates import CSRS, approval, has_true_condition
from timoneiro.pki.certs import KeyPair

WAIT = 240.0  # how long the kubelet waits for its TLS bootstrap


class CertificateRequestError(Exception):
    """A request denied, failed, unanswered in time, or answered with a certificate for another key."""


def request_name(key, subject_cn: str, orgs: tuple[str, ...], usages: list[str]) -> str:
    """node-csr-DIGEST, as the kubelet names its client requests: the same key and subject ask under one
    name."""
    digest = hashes.Hash(hashes.SHA512_256())
    encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=")  # noqa: E731
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    for part in (public, subject_cn.encode(), *(o.encode() for o in orgs), *(u.encode() for u in usages)):
        digest.update(encode(part) + b"|")
    return "node-csr-" + encode(digest.finalize()).decode()


async def request_certificate(client: Client, key, request_pem: bytes, signer: str, usages: list[str],
                              name: str | None = None, timeout: float = WAIT) -> KeyPair:
    """Create the request (named, or generateName csr- as the kubelet's serving requests are; a named one
    that exists already with the same request is waited for), then wait until it is issued."""
    request = base64.b64encode(request_pem).decode()
    metadata = {"name": name} if name else {"generateName": "csr-"}
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": metadata,
            "spec": {"request": request, "signerName": signer, "usages": usages}}
    try:
        name = (await client.create(CSRS, body))["metadata"]["name"]
    except ApiError as e:
        if not name or e.code != 409 or (await client.get(CSRS, name))["spec"].get("request") != request:
            raise CertificateRequestError(f"failed to create the certificate signing request: {e}") from None
    pem = await wait_for_certificate(client, name, timeout)
    cert = x509.load_pem_x509_certificates(pem)[0]
    if cert.public_key() != key.public_key():
        raise CertificateRequestError("the issued certificate does not match the key it was requested for")
    return KeyPair(cert, key)


async def wait_for_certificate(client: Client, name: str, timeout: float = WAIT) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await client.list(CSRS, field_selector=f"metadata.name={name}")
        items = answer.get("items") or []
        if items and (pem := issued(items[0])):
            return pem
        left = max(1, int(deadline - time.monotonic()))
        async with client.watch(CSRS, resource_version=answer["metadata"]["resourceVersion"],
                                field_selector=f"metadata.name={name}",
                                timeout_seconds=min(left, 60)) as events:
            async for event in events:
                if event.type in ("ADDED", "MODIFIED") and (pem := issued(event.object)):
                    return pem
    raise CertificateRequestError("timed out waiting for the certificate signing request to be approved and "
                                  "signed")


def issued(csr: dict) -> bytes | None:
    """The certificate once approved and issued; CertificateRequestError if denied or failed."""
    approved, denied = approval(csr)
    failed = has_true_condition(csr, "Failed")
    if denied or failed:
        type_ = "Denied" if denied else "Failed"
        condition = next(c for c in csr["status"]["conditions"] if c.get("type") == type_)
        raise CertificateRequestError(f"certificate signing request {'is denied' if denied else 'failed'}, "
                                      f"reason: {condition.get('reason', '')}, "
                                      f"message: {condition.get('message', '')}")
    certificate = (csr.get("status") or {}).get("certificate")
    return base64.b64decode(certificate) if approved and certificate else None

