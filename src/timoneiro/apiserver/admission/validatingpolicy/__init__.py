"""The ValidatingAdmissionPolicy admission plugin: every ValidatingAdmissionPolicy whose matchConstraints
select a write is evaluated, once per matching ValidatingAdmissionPolicyBinding and per param the
binding's paramRef finds; a failed validation denies (Deny), warns (Warn: a Warning header) or is
recorded for audit (Audit) as the binding's validationActions say, in upstream's words and status codes.

Policies are compiled once per resourceVersion (their expressions once per text, in api.cel) and read,
like bindings and params, from the watch cache. CEL is loaded with the first policy: a server that has
none does not pay for it at start."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from timoneiro.api import selectors
from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.admission.validatingpolicy.matching import Request, resources_match
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.generic import Context, decode
from timoneiro.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from timoneiro.apiserver.admission.validatingpolicy.compiled import CompiledPolicy, Decision
    from timoneiro.apiserver.app import APIServer

GROUP = "admissionregistration.k8s.io"
_CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413, "Invalid": 422}
_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


def _compile(policy: dict) -> CompiledPolicy:
    from timoneiro.apiserver.admission.validatingpolicy.compiled import CompiledPolicy

    return CompiledPolicy(policy)


class ConfigError(Exception):
    """A binding or policy that cannot be applied (an unknown paramKind, a missing param under Deny)."""


class ValidatingAdmissionPolicy:
    def __init__(self, api: APIServer) -> None:
        self.api = api
        self._policies: dict[str, tuple[int, CompiledPolicy]] = {}
        self._bindings: dict[str, tuple[int, dict]] = {}

    def install(self) -> None:
        self.api.generic.validators.append(self.validate)
        self.api.generic.delete_validators.append(self.validate_delete)

    # hooks

    def validate(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        self._admit(ctx, kind, "CREATE" if old is None else "UPDATE", new, old)

    def validate_delete(self, ctx: Context, kind: Kind, obj: dict) -> None:
        self._admit(ctx, kind, "DELETE", None, obj)

    # what is configured

    def _current(self, resource: str, memo: dict[str, tuple[int, Any]], make) -> list[Any]:
        prefix = f"/{GROUP}/{resource}/"
        seen = set()
        out = []
        for entry in self.api.cache.list(prefix):
            seen.add(entry.key)
            held = memo.get(entry.key)
            if held is None or held[0] != entry.rev:
                held = (entry.rev, make(decode(entry)))
                memo[entry.key] = held
            out.append(held[1])
        for key in [k for k in memo if k not in seen]:
            del memo[key]
        return out

    def _configured(self) -> list[tuple[CompiledPolicy, list[dict]]]:
        policies = self._current("validatingadmissionpolicies", self._policies, _compile)
        if not policies:
            return []
        bindings = self._current("validatingadmissionpolicybindings", self._bindings, lambda b: b)
        by_policy: dict[str, list[dict]] = {}
        for binding in bindings:
            by_policy.setdefault((binding.get("spec") or {}).get("policyName", ""), []).append(binding)
        return [(p, by_policy[p.name]) for p in policies if p.name in by_policy]

    # admission

    def _admit(self, ctx: Context, kind: Kind, operation: str, new: dict | None, old: dict | None) -> None:
        configured = self._configured()
        if not configured:
            return
        from timoneiro.api import cel
        from timoneiro.apiserver.admission.validatingpolicy.compiled import Decision
        obj = new if new is not None else old
        name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName", "")
        namespace = (obj.get("metadata") or {}).get("namespace", "") if kind.namespaced else ""
        req = Request(kind, operation, ctx.subresource, namespace or "", name, new, old)
        namespace_object = self._namespace(namespace) if namespace else None
        if kind.group == "" and kind.kind == "Namespace":
            namespace_labels: dict | None = (obj.get("metadata") or {}).get("labels") or {}
        elif namespace:
            namespace_labels = ((namespace_object or {}).get("metadata") or {}).get("labels") or {}
        else:
            namespace_labels = None
        denied: list[tuple[CompiledPolicy, dict | None, Decision]] = []
        for policy, bindings in configured:
            matched = resources_match(policy.spec.get("matchConstraints"), req, namespace_labels, self.api.registry)
            if matched is None:
                continue
            inputs = self._inputs(ctx, req, matched, namespace_object)
            for binding in bindings:
                spec = binding.get("spec") or {}
                if spec.get("matchResources") is not None and resources_match(
                        spec["matchResources"], req, namespace_labels, self.api.registry) is None:
                    continue
                try:
                    params = self._params(policy, spec.get("paramRef"), namespace)
                except ConfigError as e:
                    if policy.fail:
                        denied.append((policy, binding, Decision(deny=True, message=f"failed to configure binding: {e}")))
                    continue
                for param in params:
                    activation = policy.activation({**inputs, "params": cel.to_cel(param)})
                    result = policy.validate(activation)
                    for decision in result.decisions:
                        self._act(ctx, policy, binding, decision, denied)
        if denied:
            raise _denial(kind, name, *denied[0])

    def _act(self, ctx: Context, policy: CompiledPolicy, binding: dict, decision: Decision,
             denied: list[tuple[CompiledPolicy, dict | None, Decision]]) -> None:
        if not decision.deny:
            return
        actions = (binding.get("spec") or {}).get("validationActions") or []
        if "Deny" in actions:
            denied.append((policy, binding, decision))
        if "Warn" in actions:
            ctx.warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{policy.name}' with binding "
                                f"'{binding['metadata']['name']}': {decision.message}")

    def _inputs(self, ctx: Context, req: Request, matched: Kind, namespace_object: dict | None) -> dict[str, Any]:
        """object, oldObject, request, namespaceObject and authorizer, in the matched kind's version."""
        from timoneiro.api import cel
        from timoneiro.api.cel import authorizer as cel_authorizer

        new, old = (self._converted(req.kind, matched, o) for o in (req.new, req.old))
        user = ctx.user if isinstance(ctx.user, UserInfo) else None
        return {
            "object": cel.to_cel(new), "oldObject": cel.to_cel(old),
            "request": cel.to_cel(self._request(ctx, req, matched, user)),
            "namespaceObject": cel.to_cel(namespace_object),
            "authorizer": cel_authorizer.Authorizer(
                user, self._check, cel_authorizer.request_target(req.kind.group, req.kind.plural, req.subresource,
                                                                 req.namespace, req.name),
                service_account=_service_account_user),
        }

    def _converted(self, kind: Kind, matched: Kind, obj: dict | None) -> dict | None:
        if obj is None or matched is kind:
            return obj
        return self.api.generic.to_version(matched, self.api.generic.to_storage(kind, copy.deepcopy(obj)))

    def _request(self, ctx: Context, req: Request, matched: Kind, user: UserInfo | None) -> dict:
        """The admission.k8s.io/v1 AdmissionRequest CEL sees (no object, oldObject or uid)."""
        gvk = {"group": matched.group, "version": matched.version, "kind": matched.kind}
        gvr = {"group": matched.group, "version": matched.version, "resource": matched.plural}
        user_info: dict = {"username": user.name if user else ""}
        if user and user.uid:
            user_info["uid"] = user.uid
        if user and user.groups:
            user_info["groups"] = list(user.groups)
        if user and user.extra:
            user_info["extra"] = {k: list(v) for k, v in user.extra.items()}
        options: dict = {"kind": _OPTIONS[req.operation], "apiVersion": "meta.k8s.io/v1"}
        if ctx.field_manager and req.operation != "DELETE":
            options["fieldManager"] = ctx.field_manager
        out = {
            "kind": gvk, "resource": gvr,
            "requestKind": {"group": req.kind.group, "version": req.kind.version, "kind": req.kind.kind},
            "requestResource": {"group": req.kind.group, "version": req.kind.version, "resource": req.kind.plural},
            "name": req.name, "operation": req.operation, "userInfo": user_info, "dryRun": ctx.dry_run,
            "options": options,
        }
        if req.subresource:
            out["subResource"] = out["requestSubResource"] = req.subresource
        if req.namespace:
            out["namespace"] = req.namespace
        return out

    def _check(self, user: object, attrs: dict) -> tuple[bool, str]:
        if not isinstance(user, UserInfo):
            return False, ""
        info = RequestInfo(attrs["is_resource"], attrs["path"], verb=attrs["verb"], group=attrs["group"],
                           namespace=attrs["namespace"], resource=attrs["resource"], name=attrs["name"],
                           subresource=attrs["subresource"])
        return self.api.authorization.authorize(user, info)

    def _namespace(self, name: str) -> dict | None:
        entry = self.api.cache.get(f"/core/namespaces/{name}")
        if entry is None:
            return None
        ns = decode(entry)
        ns.get("metadata", {}).pop("managedFields", None)
        ns.get("metadata", {}).pop("ownerReferences", None)
        return ns

    # params

    def _params(self, policy: CompiledPolicy, ref: dict | None, namespace: str) -> list[dict | None]:
        """The params a binding evaluates its policy with (upstream's CollectParams)."""
        param_kind = policy.param_kind
        if not param_kind or ref is None:
            return [None]
        api_version, kind_name = param_kind.get("apiVersion", ""), param_kind.get("kind", "")
        group, _, version = api_version.rpartition("/")
        kind = self.api.registry.by_kind(group, version, kind_name)
        if kind is None:
            raise ConfigError(f"failed to find resource referenced by paramKind: '{group}/{version}, Kind={kind_name}'")
        if kind.namespaced:
            where = ref.get("namespace") or namespace
            if not where:
                raise ConfigError("cannot use namespaced paramRef in policy binding that matches cluster-scoped "
                                  "resources")
        elif ref.get("namespace"):
            raise ConfigError("paramRef.namespace must not be provided for a cluster-scoped `paramKind`")
        else:
            where = None
        if ref.get("name"):
            entry = self.api.cache.get(kind.key(where, ref["name"]))
            found = [] if entry is None else [self.api.generic.to_version(kind, decode(entry))]
        else:
            selector = selectors.from_label_selector(ref.get("selector") or {})
            found = [self.api.generic.to_version(kind, decode(e)) for e in self.api.cache.list(kind.list_prefix(where))
                     if selectors.matches(selector, (decode(e).get("metadata") or {}).get("labels") or {})]
        if not found and (ref.get("parameterNotFoundAction") or "Deny") == "Deny":
            raise ConfigError("no params found for policy binding with `Deny` parameterNotFoundAction")
        return found


def _service_account_user(namespace: str, name: str) -> UserInfo:
    return UserInfo(f"system:serviceaccount:{namespace}:{name}",
                    groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}"))


def _denial(kind: Kind, name: str, policy: CompiledPolicy, binding: dict | None, decision: Decision
            ) -> errors.APIError:
    """Upstream's: a Forbidden status for the object whose reason and code are the decision's (422 Invalid
    unless the validation named another reason), the message repeated as the one cause."""
    if binding is not None:
        message = (f"ValidatingAdmissionPolicy '{policy.name}' with binding '{binding['metadata']['name']}' "
                   f"denied request: {decision.message}")
    else:
        message = f"ValidatingAdmissionPolicy '{policy.name}' denied request: {decision.message}"
    err = errors.forbidden(kind, name, message)
    err.reason = decision.reason or "Invalid"
    err.code = _CODES.get(err.reason, 422)
    err.details = {**(err.details or {}), "causes": [{"message": message}]}
    return err

