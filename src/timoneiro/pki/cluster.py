"""A cluster's PKI under its data dir, laid out as kubeadm lays out /etc/kubernetes: `pki/` holds the CAs,
the API server's certificates and the service-account key pair; `*.conf` are kubeconfigs that embed a
client certificate for one identity (admin.conf, super-admin.conf, controller-manager.conf,
scheduler.conf, and kubelets/NODE.conf for each node). Every file is private (0600)."""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from timoneiro.client.config import ClientConfig
from timoneiro.files import write_private
from timoneiro.pki import certs
from timoneiro.pki.certs import KeyPair

CLUSTER_NAME = "kubernetes"
FIRST_SERVICE_IP = "10.96.0.1"
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
# identity of each kubeconfig kubeadm writes: (common name, organizations)
KUBECONFIGS = {
    "admin.conf": ("kubernetes-admin", ("kubeadm:cluster-admins",)),
    "super-admin.conf": ("kubernetes-super-admin", ("system:masters",)),
    "controller-manager.conf": ("system:kube-controller-manager", ()),
    "scheduler.conf": ("system:kube-scheduler", ()),
}
# leaf certificates in pki/: name -> (signing CA, common name, organizations, client, server)
LEAVES = {
    "apiserver": ("ca", "kube-apiserver", (), False, True),
    "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client", ("kubeadm:cluster-admins",), True, False),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client", (), True, False),
}
CAS = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca"}
X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL's flag; Python's ssl.VerifyFlags does not name it


def node_user(node: str) -> tuple[str, tuple[str, ...]]:
    """The identity a kubelet's client certificate carries, which the Node authorizer recognises."""
    return f"system:node:{node}", ("system:nodes",)


class ClusterPKI:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.dir = os.path.join(data_dir, "pki")
        self._cas: dict[str, KeyPair] = {}

    # certificate authorities and keys

    def authority(self, name: str = "ca") -> KeyPair:
        if name not in self._cas:
            pair = certs.load(self.dir, name)
            if pair is None:
                pair = certs.new_ca(CAS[name])
                certs.save(pair, self.dir, name)
            self._cas[name] = pair
        return self._cas[name]

    @property
    def ca(self) -> KeyPair:
        return self.authority("ca")

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def service_account_key(self) -> bytes:
        """The PEM private key service-account tokens are signed with (sa.key; sa.pub beside it)."""
        key_path, pub_path = self.path("sa.key"), self.path("sa.pub")
        if not os.path.exists(key_path):
            key = certs.new_key()
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
            write_private(pub_path, key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        with open(key_path, "rb") as f:
            return f.read()

    # what a server needs

    def ensure(self, server: str, hosts: tuple[str, ...] = ()) -> None:
        """Create whatever is missing: CAs, the API server's certificates (re-issued if they do not name
        `server`'s host or one of `hosts`), the service-account keys and the kubeconfigs, which point at
        `server`."""
        self.authority("ca")
        self.authority("front-proxy-ca")
        self.service_account_key()
        dns, ips = self.serving_names(server, hosts)
        for name, (ca, cn, orgs, client, serving) in LEAVES.items():
            pair = certs.load(self.dir, name)
            if pair is not None and serving:
                have_dns, have_ips = certs.subject_alt_names(pair.cert)
                if not (set(dns) <= set(have_dns) and set(ips) <= set(have_ips)):
                    pair = None
            if pair is None:
                pair = certs.issue(self.authority(ca), cn, orgs, client=client, server=serving,
                                   dns=dns if serving else (), ips=ips if serving else ())
                certs.save(pair, self.dir, name)
        for conf, (cn, orgs) in KUBECONFIGS.items():
            self.write_kubeconfig(os.path.join(self.data_dir, conf), server, cn, orgs)

    @staticmethod
    def serving_names(server: str, hosts: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
        """The SANs of the API server's certificate: the kubernetes Service's names and first IP, loopback,
        this host's name, and the address served on."""
        dns = [*SERVICE_NAMES, "localhost", socket.gethostname()]
        ips = [FIRST_SERVICE_IP, "127.0.0.1"]
        for host in (urlsplit(server).hostname or "", *hosts):
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                if host and host not in dns:
                    dns.append(host)
                continue
            if not ip.is_unspecified and str(ip) not in ips:
                ips.append(str(ip))
        return dns, ips

    def server_context(self) -> ssl.SSLContext:
        """TLS for the API server: its serving certificate, and client certificates asked for (optional)
        and verified against the cluster CA."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.path("apiserver.crt"), self.path("apiserver.key"))
        ctx.load_verify_locations(self.path("ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        # A certificate that fails verification aborts the handshake, and the event loop closes the
        # connection without sending the alert, which clients see as EOF and retry. Validity times are
        # therefore left to the x509 authenticator, so that an expired certificate gets upstream's 401.
        ctx.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
        # No TLS 1.3 session tickets: no client of ours resumes a session (kubectl, client-go, Python's ssl
        # keep no session cache), and minting two per handshake, the client certificate sealed in each, is
        # about a third of the server's handshake CPU.
        ctx.num_tickets = 0
        return ctx

    # kubeconfigs

    def write_kubeconfig(self, path: str, server: str, cn: str, orgs: tuple[str, ...] = ()) -> None:
        """A kubeconfig for identity (cn, orgs): its client certificate is kept while still valid and of
        that identity, else issued anew; the server is rewritten each time (a cluster may move ports)."""
        pair = read_kubeconfig_pair(path)
        if pair is None or certs.common_name(pair.cert) != cn or \
                tuple(certs.organizations(pair.cert)) != tuple(orgs):
            pair = certs.issue(self.ca, cn, orgs, client=True)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_private(path, kubeconfig_yaml(server, self.ca_pem, pair, cn).encode())

    def config(self, name: str) -> ClientConfig:
        """The ClientConfig of one kubeconfig kubeadm-style (e.g. "admin.conf")."""
        from timoneiro.client.kubeconfig import load_kubeconfig

        return load_kubeconfig(os.path.join(self.data_dir, name))

    def node_config(self, node: str, server: str) -> ClientConfig:
        """The kubelet's kubeconfig for `node` (kubelets/NODE.conf), written if missing."""
        path = os.path.join(self.data_dir, "kubelets", f"{node}.conf")
        self.write_kubeconfig(path, server, *node_user(node))
        return self.config(os.path.join("kubelets", f"{node}.conf"))

    def kubelet_serving(self, node: str, ips: tuple[str, ...]) -> tuple[str, str]:
        """A serving certificate for node's kubelet, signed by the cluster CA as the kubernetes.io/kubelet-
        serving signer signs one (system:node:NODE, the node's name and addresses): the paths of its
        certificate and key (kubelets/NODE-serving.crt and .key), made anew each time."""
        directory = os.path.join(self.data_dir, "kubelets")
        certs.save(certs.issue(self.ca, *node_user(node), server=True, dns=(node,), ips=ips), directory,
                   f"{node}-serving")
        return os.path.join(directory, f"{node}-serving.crt"), os.path.join(directory, f"{node}-serving.key")

    def user_config(self, server: str, cn: str, orgs: tuple[str, ...] = (), **validity) -> ClientConfig:
        """A ClientConfig with a fresh client certificate for any identity (tests, `kubeadm kubeconfig user`)."""
        pair = certs.issue(self.ca, cn, orgs, client=True, **validity)
        return ClientConfig(server=server, ca_data=self.ca_pem, cert_data=pair.cert_pem, key_data=pair.key_pem)


def kubeconfig_yaml(server: str, ca_pem: bytes, pair: KeyPair, user: str) -> str:
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    context = f"{user}@{CLUSTER_NAME}"
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(pair.cert_pem),
                                          "client-key-data": b64(pair.key_pem)}}],
    }, sort_keys=False)


def read_kubeconfig_pair(path: str) -> KeyPair | None:
    """The client certificate and key embedded in a kubeconfig, if it exists and holds them."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
        user = (doc.get("users") or [{}])[0].get("user") or {}
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), None)
    except (FileNotFoundError, KeyError, ValueError, yaml.YAMLError):
        return None
    return KeyPair(cert, key)  # type: ignore[arg-type]


def replace_kubeconfig_pair(path: str, pair: KeyPair) -> None:
    """Embed a new client certificate and key in a kubeconfig, leaving the rest of it as it is."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    user = doc["users"][0]["user"]
    user["client-certificate-data"] = base64.b64encode(pair.cert_pem).decode()
    user["client-key-data"] = base64.b64encode(pair.key_pem).decode()
    write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
