"""Certificate signing requests as the certificates.k8s.io API carries them: PKCS#10 in PEM, key usages by
their API names, what each built-in kubernetes.io signer may sign (upstream's pkg/apis/certificates
helpers and the csrsigning controller's checks), and signing with the cluster CA under upstream's
permissive signing policy."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from timoneiro.pki import certs
from timoneiro.pki.certs import KeyPair

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"

DEFAULT_DURATION = timedelta(days=365)  # kube-controller-manager's --cluster-signing-duration
MIN_DURATION = timedelta(minutes=10)  # twice the backdating: shorter requests get this much
BACKDATE = timedelta(minutes=5)
SHORT = timedelta(hours=8)  # certificates shorter than this keep their whole duration after the backdating

# key usage name -> (KeyUsage flag, or None for an extended key usage OID)
_KEY_USAGES = {
    "signing": "digital_signature", "digital signature": "digital_signature",
    "content commitment": "content_commitment", "key encipherment": "key_encipherment",
    "key agreement": "key_agreement", "data encipherment": "data_encipherment", "cert sign": "key_cert_sign",
    "crl sign": "crl_sign", "encipher only": "encipher_only", "decipher only": "decipher_only",
}
_EXT_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION, "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING, "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1"),
}
ALL_USAGES = sorted([*_KEY_USAGES, *_EXT_USAGES])
# the usages a kubelet asks for: key encipherment is for RSA keys only
KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"},
                         {"digital signature", "client auth"})
KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"},
                          {"digital signature", "server auth"})


def parse_request(pem: bytes) -> x509.CertificateSigningRequest:
    """The request in a PEM "CERTIFICATE REQUEST" block; ValueError with upstream's words otherwise."""
    text = pem.lstrip()
    if not text.startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    return x509.load_pem_x509_csr(pem)


def request_bytes(csr: dict) -> bytes:
    """spec.request of a CertificateSigningRequest object (base64 on the wire)."""
    return base64.b64decode((csr.get("spec") or {}).get("request") or "")


def _sans(req: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _san_error(req: x509.CertificateSigningRequest, allowed: tuple[type, ...]) -> str | None:
    sans = _sans(req)
    for kind, what in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
                       (x509.UniformResourceIdentifier, "URI")):
        if kind not in allowed and sans is not None and sans.get_values_for_type(kind):
            return f"{what} subjectAltNames are not allowed"
    return None


def kubelet_client_error(req: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """Why a request is not a kubelet client certificate request (ValidateKubeletClientCSR), or None."""
    if certs.organizations(req) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    if error := _san_error(req, ()):
        return error
    if not certs.common_name(req).startswith(NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    if set(usages) not in KUBELET_CLIENT_USAGES:
        return "usages did not match [client auth digital signature key encipherment]"
    return None


def kubelet_serving_error(req: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """Why a request is not a kubelet serving certificate request (ValidateKubeletServingCSR), or None."""
    if certs.organizations(req) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    sans = _sans(req)
    if sans is None or not (sans.get_values_for_type(x509.DNSName) or
                            sans.get_values_for_type(x509.IPAddress)):
        return "DNS or IP subjectAltName is required"
    if error := _san_error(req, (x509.DNSName, x509.IPAddress)):
        return error
    if set(usages) not in KUBELET_SERVING_USAGES:
        return "usages did not match [digital signature key encipherment server auth]"
    if not certs.common_name(req).startswith(NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    return None


def node_address_names(addresses: list[dict]) -> tuple[list[str], list[str]]:
    """(DNS names, IPs) a kubelet's serving certificate names for its Node's status.addresses, as upstream's
    kubelet asks for them: each address an IP SAN if it is an IP, else a DNS SAN, each once."""
    dns: list[str] = []
    ips: list[str] = []
    for address in addresses:
        value = address.get("address") or ""
        try:
            ipaddress.ip_address(value)
        except ValueError:
            names = dns
        else:
            names = ips
        if value and value not in names:
            names.append(value)
    return dns, ips


def apiserver_client_error(req: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """Why a request may not be signed by kubernetes.io/kube-apiserver-client (validAPIServerClientUsages)."""
    for usage in usages:
        if usage not in ("digital signature", "key encipherment", "client auth"):
            return f"invalid usage for client certificate: {usage}"
    if "client auth" not in usages:
        return "missing required usage for client certificate: client auth"
    return None


# what each signer the controller manager runs may sign
SIGNER_CHECKS = {KUBELET_CLIENT_SIGNER: kubelet_client_error, APISERVER_CLIENT_SIGNER: apiserver_client_error,
                 KUBELET_SERVING_SIGNER: kubelet_serving_error}


def duration(expiration_seconds: int | None, maximum: timedelta = DEFAULT_DURATION) -> timedelta:
    """How long a signed certificate lasts: spec.expirationSeconds, within 10 minutes and the signer's
    maximum."""
    if expiration_seconds is None:
        return maximum
    return max(MIN_DURATION, min(maximum, timedelta(seconds=expiration_seconds)))


def sign(ca: KeyPair, req: x509.CertificateSigningRequest, usages: list[str], ttl: timedelta,
         now: datetime | None = None) -> bytes:
    """A PEM certificate for the request's subject, names and key with exactly `usages`, valid from five
    minutes ago for `ttl` (upstream's PermissiveSigningPolicy); ValueError if it cannot be."""
    if not req.is_signature_valid:
        raise ValueError("unable to verify certificate request signature")
    now = now or datetime.now(UTC)
    signer_end = ca.not_after
    if now >= signer_end:
        raise ValueError(f"refusing to sign a certificate that expired in the past: NotAfter={signer_end}")
    start = now - BACKDATE
    end = min(now + ttl if ttl < SHORT else now + ttl - BACKDATE, signer_end)
    unknown = [u for u in usages if u not in _KEY_USAGES and u not in _EXT_USAGES]
    if unknown:
        raise ValueError("unrecognized usage values: [" + " ".join(f'"{u}"' for u in unknown) + "]")
    flags = {_KEY_USAGES[u] for u in usages if u in _KEY_USAGES}
    extended = sorted({_EXT_USAGES[u] for u in usages if u in _EXT_USAGES}, key=lambda oid: oid.dotted_string)
    builder = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca.cert.subject)
               .public_key(req.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if flags:
        builder = builder.add_extension(x509.KeyUsage(**{f: f in flags for f in (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")}), critical=True)
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    sans = _sans(req)
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def new_request(key, cn: str, orgs: tuple[str, ...] = (), dns: list[str] | None = None,
                ips: list[str] | None = None) -> bytes:
    """A PEM request for subject (cn, orgs) and the subject alternative names given, signed with `key`."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(certs._name(cn, orgs))
    names = [*(x509.DNSName(d) for d in dns or ()), *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips or ())]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
