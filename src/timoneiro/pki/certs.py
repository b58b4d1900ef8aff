"""Keys and X.509 certificates: certificate authorities and the leaf certificates they sign.

ECDSA P-256 throughout (kubeadm's `encryptionAlgorithm: ECDSA-P256`): a key takes a millisecond to make
where RSA-2048 takes tens, so a fresh cluster's whole PKI costs little of its start-up time."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from timoneiro.files import write_private

CA_DAYS = 3650  # kubeadm: ten years for CAs
LEAF_DAYS = 365  # and one year for what they sign
SKEW = dt.timedelta(minutes=5)  # backdated, so that a peer whose clock is a little behind accepts it


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class KeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())

    @property
    def common_name(self) -> str:
        return common_name(self.cert)

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc


def _name(cn: str, orgs: Iterable[str] = ()) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(days: int, not_before: dt.datetime | None, not_after: dt.datetime | None
              ) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or (dt.datetime.now(dt.UTC) - SKEW)
    return start, not_after or (start + SKEW + dt.timedelta(days=days))


def new_ca(cn: str, days: int = CA_DAYS) -> KeyPair:
    key = new_key()
    start, end = _validity(days, None, None)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return KeyPair(cert, key)


def issue(ca: KeyPair, cn: str, orgs: Iterable[str] = (), *, client: bool = False, server: bool = False,
          dns: Iterable[str] = (), ips: Iterable[str] = (), days: int = LEAF_DAYS,
          not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
          public_key: ec.EllipticCurvePublicKey | None = None) -> KeyPair:
    """A certificate signed by `ca` for a new key (or for `public_key`, signing a request; then the
    KeyPair's key is None)."""
    key = None if public_key is not None else new_key()
    public = public_key if public_key is not None else key.public_key()  # type: ignore[union-attr]
    return KeyPair(sign(ca, _name(cn, orgs), public, client=client, server=server, dns=dns, ips=ips, days=days,
                        not_before=not_before, not_after=not_after), key)  # type: ignore[arg-type]


def sign(ca: KeyPair, subject: x509.Name, public_key, *, client: bool = False, server: bool = False,
         dns: Iterable[str] = (), ips: Iterable[str] = (), days: int = LEAF_DAYS,
         not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> x509.Certificate:
    start, end = _validity(days, not_before, not_after)
    end = min(end, ca.not_after)  # never outlives its CA
    usages = [*([ExtendedKeyUsageOID.SERVER_AUTH] if server else []),
              *([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])]
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.cert.subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                            content_commitment=False, data_encipherment=False,
                                            key_agreement=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    names = [*(x509.DNSName(d) for d in dns), *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def renewed(ca: KeyPair, old: x509.Certificate, days: int = LEAF_DAYS) -> KeyPair:
    """A new key and certificate with the subject, usages and names of `old`, as `kubeadm certs renew`."""
    key = new_key()
    try:
        usages = old.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    san = subject_alt_names(old)
    cert = sign(ca, old.subject, key.public_key(), client=ExtendedKeyUsageOID.CLIENT_AUTH in usages,
                server=ExtendedKeyUsageOID.SERVER_AUTH in usages, dns=san[0], ips=san[1], days=days)
    return KeyPair(cert, key)


def subject_alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(i) for i in san.get_values_for_type(x509.IPAddress)]


def common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def organizations(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def public_key_hash(cert: x509.Certificate) -> str:
    """kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's DER SubjectPublicKeyInfo."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


# files


def save(pair: KeyPair, directory: str, name: str) -> None:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if pair.key is not None:
        write_private(os.path.join(directory, f"{name}.key"), pair.key_pem)
    write_private(os.path.join(directory, f"{name}.crt"), pair.cert_pem)


def load(directory: str, name: str) -> KeyPair | None:
    try:
        with open(os.path.join(directory, f"{name}.crt"), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(directory, f"{name}.key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    except FileNotFoundError:
        return None
    return KeyPair(cert, key)  # type: ignore[arg-type]
