"""What the CertificateSigningRequest strategy cannot do without the request: record who asked (from the
authenticated user, as upstream's PrepareForCreate reads it from the request context) and tell the
/approval and /status endpoints apart (upstream gives each its own strategy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind
    from timoneiro.apiserver.app import APIServer
    from timoneiro.apiserver.generic import Context

GROUP, KIND = "certificates.k8s.io", "CertificateSigningRequest"


def _is_csr(kind: Kind) -> bool:
    return kind.group == GROUP and kind.kind == KIND


def record_requester(ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
    """On create, spec.username/uid/groups/extra are the requesting user's; on an /approval write only
    the conditions change."""
    if not _is_csr(kind):
        return
    if old is None:
        if isinstance(ctx.user, UserInfo):
            spec = new.setdefault("spec", {})
            spec["username"] = ctx.user.name
            if ctx.user.uid:
                spec["uid"] = ctx.user.uid
            if ctx.user.groups:
                spec["groups"] = list(ctx.user.groups)
            if ctx.user.extra:
                spec["extra"] = {k: list(v) for k, v in ctx.user.extra.items()}
    elif ctx.subresource == "approval":
        kind.strategy.prepare_for_approval(kind, new, old)  # type: ignore[attr-defined]


def check_endpoint(ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
    """Approved and Denied conditions only through /approval, a certificate only through /status."""
    if old is None or not _is_csr(kind):  # before the import below: every update of every kind comes here
        return
    from timoneiro.api.validation.certificates import endpoint_errors

    errs = endpoint_errors(new, old, ctx.subresource)
    if errs:
        raise errors.invalid(kind, new["metadata"]["name"], errs)


def install(api: APIServer) -> None:
    api.generic.mutators.append(record_requester)
    api.generic.validators.append(check_endpoint)
