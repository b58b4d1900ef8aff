"""Certificate signing requests, as `kubectl get csr` shows them."""

from __future__ import annotations

from datetime import datetime, timedelta

from timoneiro.api.printers.age import human_duration, since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, name, spec, status


def csr_condition(obj: dict) -> str:
    """Denied before Approved before Pending, then Failed and Issued (upstream's extractCSRStatus)."""
    types = {c.get("type") for c in status(obj).get("conditions") or ()}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if status(obj).get("certificate"):
        text += ",Issued"
    return text


def csr_cells(obj: dict, now: datetime) -> list:
    s = spec(obj)
    seconds = s.get("expirationSeconds")
    return [name(obj), since(created(obj), now), s.get("signerName") or "<none>", s.get("username", ""),
            "<none>" if seconds is None else human_duration(timedelta(seconds=seconds)), csr_condition(obj)]


PRINTERS = {
    ("certificates.k8s.io", "CertificateSigningRequest"): Printer((
        NAME, AGE,
        column("SignerName", "The signer the request asks for a certificate from."),
        column("Requestor", "The user who made the request."),
        column("RequestedDuration", "The validity the request asks for."),
        column("Condition", "Whether the request is approved or denied, and whether it was issued."),
    ), csr_cells),
}
