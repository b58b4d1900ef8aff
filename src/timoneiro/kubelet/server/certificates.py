"""The kubelet's serving certificate as upstream's kubelet gets it with serverTLSBootstrap: a
kubernetes.io/kubelet-serving CSR for system:node:NAME (O=system:nodes) naming the Node's addresses, sent once
the Node is registered with them, approved by an approver (timoneiro's controller manager runs one, see
controllers/certificates/kubeletserving.py) and signed by the controller manager's signer. Until then the
kubelet's API refuses TLS handshakes, having no certificate. The certificate is kept in the cert dir
(kubelet-server-current.pem, certificate and key), used again after a restart while it is valid and names
the Node's addresses, and replaced at a random point between 70% and 90% of its life, or at once when the
Node's addresses change."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import NODES
from timoneiro.files import write_private
from timoneiro.pki import certs
from timoneiro.pki import csr as csrs
from timoneiro.pki.certs import KeyPair
from timoneiro.pki.cluster import node_user
from timoneiro.pki.csr_requests import CertificateRequestError, request_certificate

log = logging.getLogger("timoneiro.kubelet.server.certificates")
CURRENT = "kubelet-server-current.pem"
USAGES = ["digital signature", "server auth"]  # an ECDSA key: no key encipherment (upstream's getUsages)
ROTATION = (0.7, 0.9)  # of the certificate's life, where upstream's nextRotationDeadline falls
NODE_POLL = 0.2  # how often the Node is read while it has no addresses yet
RECHECK = 60.0  # how often the Node's addresses are compared with the certificate's
RETRY_MAX = 30.0


def load_current(cert_dir: str) -> KeyPair | None:
    try:
        with open(os.path.join(cert_dir, CURRENT), "rb") as f:
            data = f.read()
        return KeyPair(x509.load_pem_x509_certificates(data)[0], serialization.load_pem_private_key(data, None))
    except (FileNotFoundError, ValueError):
        return None


def _names(pair: KeyPair) -> tuple[set[str], set[str]]:
    dns, ips = certs.subject_alt_names(pair.cert)
    return set(dns), set(ips)


def rotation_deadline(pair: KeyPair) -> datetime:
    start, end = pair.cert.not_valid_before_utc, pair.cert.not_valid_after_utc
    return start + (end - start) * random.uniform(*ROTATION)


class ServingCertificate:
    """Keeps `context` serving with a certificate the cluster issued for this node (run() until cancelled)."""

    def __init__(self, client: Client, node_name: str, cert_dir: str, context: ssl.SSLContext) -> None:
        self.client = client
        self.node_name = node_name
        self.cert_dir = cert_dir
        self.context = context
        self.path = os.path.join(cert_dir, CURRENT)
        self.pair = load_current(cert_dir)
        if self.pair is not None and self.pair.cert.not_valid_after_utc > datetime.now(UTC):
            self.context.load_cert_chain(self.path)  # serve with it at once: it is checked on the Node soon

    async def run(self) -> None:
        deadline = rotation_deadline(self.pair) if self.pair is not None else None
        delay = 1.0
        while True:
            names = csrs.node_address_names(await self._addresses())
            wanted = (set(names[0]), set(names[1]))
            if self.pair is None or deadline is None or datetime.now(UTC) >= deadline \
                    or _names(self.pair) != wanted:
                try:
                    self._use(await self._request(*names))
                except (CertificateRequestError, ApiError, TransportError) as e:
                    log.warning("node %s: requesting a serving certificate failed: %s", self.node_name, e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                delay = 1.0
                deadline = rotation_deadline(self.pair)
            await asyncio.sleep(max(0.0, min(RECHECK, (deadline - datetime.now(UTC)).total_seconds())))

    async def _addresses(self) -> list[dict]:
        """The Node's status.addresses, once it is registered with some."""
        while True:
            try:
                node = await self.client.get(NODES, self.node_name)
                if addresses := (node.get("status") or {}).get("addresses"):
                    return addresses
            except (ApiError, TransportError) as e:
                if not isinstance(e, ApiError) or e.code != 404:
                    log.warning("node %s: reading its Node failed: %s", self.node_name, e)
            await asyncio.sleep(NODE_POLL)

    async def _request(self, dns: list[str], ips: list[str]) -> KeyPair:
        key = certs.new_key()
        cn, orgs = node_user(self.node_name)
        request = csrs.new_request(key, cn, orgs, dns=dns, ips=ips)
        return await request_certificate(self.client, key, request, csrs.KUBELET_SERVING_SIGNER, USAGES)

    def _use(self, pair: KeyPair) -> None:
        os.makedirs(self.cert_dir, mode=0o700, exist_ok=True)
        write_private(self.path, pair.cert_pem + pair.key_pem)
        self.context.load_cert_chain(self.path)  # new connections get it; open ones keep the old one
        self.pair = pair
        log.info("node %s: serving with a certificate valid until %s", self.node_name,
                 pair.cert.not_valid_after_utc)
