"""serviceaccounts/NAME/token: an authentication.k8s.io/v1 TokenRequest in, the same back with a signed
token in its status, as upstream's TokenREST answers (defaults, validation, bound objects and their
errors, and the long-lived, warn-only tokens of projected volumes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from timoneiro.api.field import FieldError, aggregate, invalid
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn.serviceaccount import EXTENDED_EXPIRATION, WARN_ONLY_EXPIRATION
from timoneiro.apiserver.generic import Context
from timoneiro.apiserver.http import Request, respond_object
from timoneiro.apiserver.meta import now

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind
    from timoneiro.apiserver.app import APIServer

DEFAULT_EXPIRATION = 60 * 60
MIN_EXPIRATION = 10 * 60
MAX_EXPIRATION = 1 << 32
JSON_TYPES = {str: "string", float: "number", bool: "bool", list: "array"}
BOUND_KINDS = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def _invalid(name: str, errs: list[FieldError]) -> errors.APIError:
    return errors.APIError(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: '
                           f"{aggregate(errs)}", {"name": name, "group": "authentication.k8s.io",
                                                  "kind": "TokenRequest", "causes": [e.cause() for e in errs]})


def group_version_kind(api_version: str, kind: str) -> tuple[str, str]:
    """(group, what Go's GroupVersionKind.String() prints) of a reference's apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    return group, f"{group}/{version}, Kind={kind}"


class TokenRequests:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.tokens = server.service_accounts

    async def create(self, req: Request, send, accounts: Kind, ctx: Context, name: str) -> None:
        request = await self.server.handlers.decode_body(req, accounts, ctx, as_kind="TokenRequest")
        namespace = ctx.namespace or ""
        meta = request["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise _invalid(name, [invalid("metadata.name", meta["name"],
                                          "must match the service account name if specified")])
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise _invalid(name, [invalid("metadata.namespace", meta["namespace"],
                                          "must match the service account namespace if specified")])
        account = (await self.server.generic.get(accounts, namespace, name))["metadata"]
        spec = request.get("spec") if isinstance(request.get("spec"), dict) else {}
        request["spec"] = spec
        if not spec.get("audiences"):
            spec["audiences"] = list(self.tokens.audiences)
        if spec.get("expirationSeconds") is None:
            spec["expirationSeconds"] = DEFAULT_EXPIRATION
        meta.update(name=name, namespace=namespace, creationTimestamp=now())
        request["status"] = {}
        generic = self.server.generic
        for hook in generic.mutators:  # admitted as a create of serviceaccounts/token, as upstream admits it
            hook(ctx, accounts, request, None)
        expiration = spec["expirationSeconds"]
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.bad_request(f"TokenRequest in version \"v1\" cannot be handled as a TokenRequest: "
                                     f"json: cannot unmarshal {JSON_TYPES.get(type(expiration), 'object')} into Go struct field "
                                     "TokenRequestSpec.spec.expirationSeconds of type int64")
        errs = []
        if expiration < MIN_EXPIRATION:
            errs.append(invalid("spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes"))
        if expiration > MAX_EXPIRATION:
            errs.append(invalid("spec.expirationSeconds", expiration,
                                "may not specify a duration larger than 2^32 seconds"))
        if errs:
            raise _invalid("", errs)
        for hook in generic.validators:
            hook(ctx, accounts, request, None)
        bound = await self._bound(spec.get("boundObjectRef"), namespace, name)
        warn_after = 0
        if bound.get("pod") is not None and expiration == WARN_ONLY_EXPIRATION and \
                set(spec["audiences"]) <= set(self.tokens.audiences):
            warn_after, expiration = expiration, EXTENDED_EXPIRATION
        token = self.tokens.issue(account, expiration, spec["audiences"], warn_after=warn_after, **bound)
        request["status"] = {"token": token, "expirationTimestamp": now(spec["expirationSeconds"])}
        await respond_object(send, 201, request, req.accept)

    async def _bound(self, ref: dict | None, namespace: str, account: str) -> dict:
        """The metadata of the object a token is to be bound to (and of a bound pod's node), checked as
        upstream checks them."""
        if not ref:
            return {}
        group, gvk = group_version_kind(ref.get("apiVersion") or "", ref.get("kind") or "")
        plural = BOUND_KINDS.get(ref.get("kind") or "") if not group else None
        if plural is None:
            raise errors.bad_request(f"cannot bind token to object of type {gvk}")
        kind = self.server.registry.get("", "v1", plural)
        obj = await self.server.generic.get(kind, namespace if kind.namespaced else None, ref.get("name") or "")
        bound = {ref["kind"].lower(): obj["metadata"]}
        if ref["kind"] == "Pod":
            if (obj.get("spec") or {}).get("serviceAccountName") != account:
                raise errors.bad_request(f'cannot bind token for serviceaccount "{account}" to pod running with '
                                         "different serviceaccount name.")
            node = (obj.get("spec") or {}).get("nodeName")
            if node:  # named even if it is gone, so that a token still says where its pod ran
                entry = self.server.cache.get(f"/core/nodes/{node}")
                bound["node"] = orjson.loads(entry.data)["metadata"] if entry else {"name": node}
        if ref.get("uid") and ref["uid"] != obj["metadata"].get("uid"):
            raise errors.APIError(409, "Conflict", f'Operation cannot be fulfilled on {ref["kind"]} "{ref.get("name")}": '
                                  f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
                                  "record. The object might have been deleted and then recreated",
                                  {"name": ref.get("name"), "kind": ref["kind"]})
        return bound
