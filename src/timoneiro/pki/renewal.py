"""Which certificates a cluster's PKI holds, when they expire, and renewing them, as `kubeadm certs` does.

kubeadm's set, less etcd's (there is no etcd here): the leaf certificates in pki/ and the client
certificates embedded in admin.conf, super-admin.conf, controller-manager.conf and scheduler.conf. kubeadm
leaves the kubelet's kubeconfig out because a kubelet rotates its own client certificate through the CSR
API; timoneiro's kubelets do not, so kubelets/NODE.conf are listed and renewed here too, lest nothing ever
renew them. CAs are only reported, never renewed: a new CA would invalidate every certificate it signed."""

from __future__ import annotations

import datetime as dt
import enum
import os
from dataclasses import dataclass

from cryptography import x509

from timoneiro.pki import certs
from timoneiro.pki.cluster import CAS, KUBECONFIGS, LEAVES, read_kubeconfig_pair, replace_kubeconfig_pair

# kubeadm's long names, which its messages use
LONG_NAMES = {
    "admin.conf": "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
    "super-admin.conf": "certificate embedded in the kubeconfig file for the super-admin",
    "controller-manager.conf": "certificate embedded in the kubeconfig file for the controller manager to use",
    "scheduler.conf": "certificate embedded in the kubeconfig file for the scheduler manager to use",
    "apiserver": "certificate for serving the Kubernetes API",
    "apiserver-kubelet-client": "certificate for the API server to connect to kubelet",
    "front-proxy-client": "certificate for the front proxy client",
}
KUBELETS = "kubelets"


class Outcome(enum.Enum):
    RENEWED = "renewed"
    MISSING = "missing"
    EXTERNAL = "external"  # its CA's key is not here: only whoever holds it can sign a new certificate


@dataclass(frozen=True)
class Renewable:
    """One certificate `renew` knows: `name` is how commands call it ("apiserver", "admin.conf",
    "kubelets/node-1.conf"); `path` is its .crt file, or the kubeconfig that embeds it."""

    name: str
    long_name: str
    ca: str
    path: str
    in_kubeconfig: bool

    def read(self) -> x509.Certificate | None:
        if self.in_kubeconfig:
            pair = read_kubeconfig_pair(self.path)
            return pair.cert if pair is not None else None
        return read_certificate(self.path)

    def write(self, pair: certs.KeyPair) -> None:
        if self.in_kubeconfig:
            replace_kubeconfig_pair(self.path, pair)
        else:
            certs.save(pair, os.path.dirname(self.path), self.name)


@dataclass(frozen=True)
class Expiration:
    name: str
    not_after: dt.datetime
    externally_managed: bool

    def residual(self, now: dt.datetime | None = None) -> dt.timedelta:
        return self.not_after - (now or dt.datetime.now(dt.UTC))


class CertificateManager:
    """kubeadm's renewal manager over one data dir (a cluster's or a server's: the layout is the same)."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.pki_dir = os.path.join(data_dir, "pki")

    def certificates(self) -> list[Renewable]:
        """Every certificate renew knows: kubeadm's, sorted by name as kubeadm lists them, then the kubelets'."""
        found = [Renewable(conf, LONG_NAMES[conf], "ca", os.path.join(self.data_dir, conf), True)
                 for conf in KUBECONFIGS]
        found += [Renewable(name, LONG_NAMES[name], ca, os.path.join(self.pki_dir, f"{name}.crt"), False)
                  for name, (ca, *_) in LEAVES.items()]
        kubelets = os.path.join(self.data_dir, KUBELETS)
        nodes = sorted(conf for conf in os.listdir(kubelets) if conf.endswith(".conf")) \
            if os.path.isdir(kubelets) else []
        return sorted(found, key=lambda r: r.name) + [
            Renewable(f"{KUBELETS}/{conf}", "certificate embedded in the kubeconfig file for the kubelet on node "
                      f"{conf.removesuffix('.conf')}", "ca", os.path.join(kubelets, conf), True) for conf in nodes]

    def certificate(self, name: str) -> Renewable:
        for renewable in self.certificates():
            if renewable.name == name:
                return renewable
        raise KeyError(f"{name} is not a known certificate")

    @staticmethod
    def authorities() -> list[str]:
        return sorted(CAS)

    def ca_path(self, ca: str) -> str:
        return os.path.join(self.pki_dir, f"{ca}.crt")

    def externally_managed(self, ca: str) -> bool:
        """kubeadm's external CA mode: the CA's certificate is here but not its key."""
        return os.path.exists(self.ca_path(ca)) and not os.path.exists(os.path.join(self.pki_dir, f"{ca}.key"))

    def expiration(self, renewable: Renewable) -> Expiration | None:
        cert = renewable.read()
        if cert is None:
            return None
        return Expiration(renewable.name, cert.not_valid_after_utc, self.externally_managed(renewable.ca))

    def ca_expiration(self, ca: str) -> Expiration | None:
        cert = read_certificate(self.ca_path(ca))
        if cert is None:
            return None
        return Expiration(ca, cert.not_valid_after_utc, self.externally_managed(ca))

    def renew(self, renewable: Renewable) -> Outcome:
        """A new key and certificate, signed by the same CA, with the old one's subject, usages and names."""
        old = renewable.read()
        if old is None:
            return Outcome.MISSING
        if self.externally_managed(renewable.ca):
            return Outcome.EXTERNAL
        authority = certs.load(self.pki_dir, renewable.ca)
        if authority is None:
            raise FileNotFoundError(f"the {renewable.ca} certificate authority is missing from {self.pki_dir}")
        renewable.write(certs.renewed(authority, old))
        return Outcome.RENEWED


def read_certificate(path: str) -> x509.Certificate | None:
    try:
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    except FileNotFoundError:
        return None
