"""certificates.k8s.io/v1: CertificateSigningRequests (upstream's pkg/apis/certificates/validation).

Which of the status's parts a write may change depends on the endpoint: /approval sets Approved and
Denied conditions, /status the certificate and other conditions. The update rules here are the ones every
endpoint shares; `endpoint_errors` adds what only the endpoint decides (the API server runs it where it
knows the endpoint)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509

from timoneiro.api.field import (
    FieldError,
    Rendered,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from timoneiro.api.validation import meta
from timoneiro.api.validation.names import (
    DNS1123_LABEL_MAX,
    DNS1123_SUBDOMAIN_MAX,
    is_dns1123_label,
    is_dns1123_subdomain,
)
from timoneiro.api.validation.rules import Rules, spec_of
from timoneiro.pki import csr as csrs

_PEM_BLOCK = re.compile(r"-----BEGIN ([^-]+)-----\r?\n(.*?)-----END \1-----", re.S)
APPROVAL_TYPES = ("Approved", "Denied")
LASTING_TYPES = ("Approved", "Denied", "Failed")  # may only be True, and never removed


@dataclass(frozen=True)
class Tolerated:
    """What validation lets pass because the stored object has it already (upstream's options)."""

    approved_and_denied: bool = False
    legacy_signer: bool = False
    duplicate_conditions: bool = False
    empty_condition_type: bool = False
    arbitrary_certificate: bool = False
    unknown_usages: bool = False
    duplicate_usages: bool = False


def _conditions(obj: dict) -> list[dict]:
    return (obj.get("status") or {}).get("conditions") or []


def _certificate(obj: dict) -> str:
    return (obj.get("status") or {}).get("certificate") or ""


def _tolerated(new: dict, old: dict | None) -> Tolerated:
    if old is None:
        return Tolerated()
    types = [c.get("type", "") for c in _conditions(old)]
    usages = spec_of(old).get("usages") or []
    return Tolerated(
        approved_and_denied="Approved" in types and "Denied" in types,
        legacy_signer=spec_of(old).get("signerName") == csrs.LEGACY_UNKNOWN_SIGNER,
        duplicate_conditions=len(types) != len(set(types)),
        empty_condition_type="" in types,
        arbitrary_certificate=(_certificate(new) == _certificate(old) or
                               certificate_error(_certificate(old)) is not None),
        unknown_usages=any(u not in csrs.ALL_USAGES for u in usages),
        duplicate_usages=len(usages) != len(set(usages)),
    )


def _go_bytes(data: bytes) -> Rendered:
    """A []byte as Go's %#v prints it in a field error."""
    return Rendered("[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}")


def _request_error(spec: dict) -> FieldError | None:
    try:
        raw = base64.b64decode(spec.get("request") or "", validate=True)
    except (binascii.Error, ValueError):
        return invalid("spec.request", spec.get("request"), "illegal base64 data")
    try:
        request = csrs.parse_request(raw)
        if not request.is_signature_valid:
            raise ValueError("x509: ECDSA verification failure")
    except ValueError as e:
        return invalid("spec.request", _go_bytes(raw), str(e))
    return None


def certificate_error(pem_b64: str) -> str | None:
    """Why status.certificate is not PEM CERTIFICATE blocks only (upstream's validateCertificate), or None."""
    if not pem_b64:
        return None
    try:
        text = base64.b64decode(pem_b64, validate=True).decode()
    except (binascii.Error, ValueError):
        text = ""
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    for block_type, body in blocks:
        if block_type != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{block_type}"'
        if ":" in body.lstrip().split("\n", 1)[0]:
            return "no PEM block headers are permitted"
        try:
            x509.load_pem_x509_certificate(
                f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode())
        except ValueError as e:
            return str(e)
    return None


def signer_name_errors(value: str, path: str) -> list[FieldError]:
    """ValidateSignerName: `domain/path`, a domain of two or more DNS labels, a path of DNS subdomains."""
    if not value:
        return [required(path)]
    segments = value.split("/")
    if len(segments) != 2:
        return [invalid(path, value,
                        "must be a fully qualified domain and path of the form 'example.com/signer-name'")]
    domain, rest = segments
    errs = []
    if len(domain) > DNS1123_SUBDOMAIN_MAX:
        errs.append(too_long(path, DNS1123_SUBDOMAIN_MAX))
    labels = domain.split(".")
    for label in labels:
        if reasons := is_dns1123_label(label):
            errs += [invalid(path, domain, f'validating label "{label}": {r}') for r in reasons]
            break
    if len(labels) < 2:
        errs.append(invalid(path, domain, "should be a domain with at least two segments separated by dots"))
    for label in rest.split("."):
        if reasons := is_dns1123_subdomain(label):
            errs += [invalid(path, rest, f'validating label "{label}": {r}') for r in reasons]
            break
    longest = DNS1123_SUBDOMAIN_MAX + (DNS1123_SUBDOMAIN_MAX + DNS1123_LABEL_MAX + 1) + 1
    if len(value) > longest:
        errs.append(too_long(path, longest))
    return errs


def _condition_errors(obj: dict, ok: Tolerated) -> list[FieldError]:
    errs = []
    seen: set[str] = set()
    approved = denied = False
    for i, c in enumerate(_conditions(obj)):
        path = f"status.conditions[{i}]"
        type_, status = c.get("type", ""), c.get("status", "")
        if not type_ and not ok.empty_condition_type:
            errs.append(required(f"{path}.type"))
        allowed = ["True"] if type_ in LASTING_TYPES else ["False", "True", "Unknown"]
        if not status:
            errs.append(required(f"{path}.status"))
        elif status not in allowed:
            errs.append(not_supported(f"{path}.status", status, allowed))
        if not ok.approved_and_denied and type_ in APPROVAL_TYPES:
            approved, denied = approved or type_ == "Approved", denied or type_ == "Denied"
            if approved and denied:
                errs.append(invalid(f"{path}.type", type_,
                                    "Approved and Denied conditions are mutually exclusive"))
        if not ok.duplicate_conditions:
            if type_ in seen:
                errs.append(duplicate(f"{path}.type", type_))
            seen.add(type_)
    return errs


def _body(obj: dict, ok: Tolerated) -> list[FieldError]:
    spec = spec_of(obj)
    errs = []
    if error := _request_error(spec):
        errs.append(error)
    usages = spec.get("usages") or []
    if not usages:
        errs.append(required("spec.usages"))
    if not ok.unknown_usages:
        errs += [not_supported(f"spec.usages[{i}]", u, csrs.ALL_USAGES)
                 for i, u in enumerate(usages) if u not in csrs.ALL_USAGES]
    if not ok.duplicate_usages:
        errs += [duplicate(f"spec.usages[{i}]", u) for i, u in enumerate(usages) if u in usages[:i]]
    signer = spec.get("signerName") or ""
    if signer == csrs.LEGACY_UNKNOWN_SIGNER and not ok.legacy_signer:
        errs.append(invalid("spec.signerName", signer,
                            "the legacy signerName is not allowed via this API version"))
    else:
        errs += signer_name_errors(signer, "spec.signerName")
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < 600:
        errs.append(invalid("spec.expirationSeconds", seconds,
                            "may not specify a duration less than 600 seconds (10 minutes)"))
    errs += _condition_errors(obj, ok)
    if not ok.arbitrary_certificate and (why := certificate_error(_certificate(obj))):
        errs.append(invalid("status.certificate", "<certificate data>", why))
    return errs


def _create(obj: dict) -> list[FieldError]:
    return meta.object_meta(obj.get("metadata") or {}, False, lambda name, prefix: [], kube=True) + \
        _body(obj, Tolerated())


def _update(new: dict, old: dict) -> list[FieldError]:
    """What every endpoint checks: the new object, no lasting condition removed, an issued certificate
    kept."""
    errs = _body(new, _tolerated(new, old))
    for type_ in LASTING_TYPES:
        if len(_of_type(new, type_)) < len(_of_type(old, type_)):
            errs.append(_condition_change("remove", type_))
    if _certificate(new) != _certificate(old) and _certificate(old):
        errs.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
    return errs


def _condition_change(what: str, type_: str) -> FieldError:
    return forbidden("status.conditions", f'updates may not {what} a condition of type "{type_}"')


def _of_type(obj: dict, type_: str) -> list[dict]:
    return [c for c in _conditions(obj) if c.get("type") == type_]


def endpoint_errors(new: dict, old: dict, subresource: str) -> list[FieldError]:
    """What only /approval may change (Approved and Denied conditions) and only /status (the certificate)."""
    errs = []
    if subresource != "approval":
        for type_ in APPROVAL_TYPES:
            before, after = _of_type(old, type_), _of_type(new, type_)
            if len(after) > len(before):
                errs.append(_condition_change("add", type_))
            elif len(after) == len(before) and after != before:
                errs.append(_condition_change("modify", type_))
    if subresource != "status" and _certificate(new) != _certificate(old) and not _certificate(old):
        errs.append(forbidden("status.certificate", "updates may not set certificate content"))
    return errs


RULES: dict[str, Rules] = {"CertificateSigningRequest": Rules(_create, _update)}
