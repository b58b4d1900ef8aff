"""rbac.authorization.k8s.io/v1: Roles, ClusterRoles and their bindings.

RBAC names need only be usable as a path segment ("system:controller:x" is fine).
"""

from __future__ import annotations

from timoneiro.api.field import FieldError, invalid, not_supported, required
from timoneiro.api.validation import golit, meta
from timoneiro.api.validation.meta import child, index
from timoneiro.api.validation.names import name_is_dns_label, name_is_dns_subdomain, name_is_path_segment
from timoneiro.api.validation.rules import Create, Rules, Update, with_meta

GROUP = "rbac.authorization.k8s.io"


def _policy_rule(rule: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not rule.get("verbs"):
        errs.append(required(child(path, "verbs"), "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        shown = golit.string_slice(urls)
        if namespaced:
            errs.append(
                invalid(
                    child(path, "nonResourceURLs"),
                    shown,
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(
                invalid(
                    child(path, "nonResourceURLs"),
                    shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return errs
    if not rule.get("apiGroups"):
        errs.append(required(child(path, "apiGroups"), "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        errs.append(required(child(path, "resources"), "resource rules must supply at least one resource"))
    return errs


def _rules(namespaced: bool) -> Create:
    def check(obj: dict) -> list[FieldError]:
        return [
            e
            for i, rule in enumerate(obj.get("rules") or [])
            for e in _policy_rule(rule, namespaced, index("rules", i))
        ]

    return check


def _cluster_role(obj: dict) -> list[FieldError]:
    errs = _rules(False)(obj)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        selectors = aggregation.get("clusterRoleSelectors") or []
        path = "aggregationRule.clusterRoleSelectors"
        if not selectors:
            errs.append(
                required(path, "at least one clusterRoleSelector required if aggregationRule is non-nil")
            )
        for i, selector in enumerate(selectors):
            errs += meta.label_selector(selector, index(path, i))
    return errs


def _subject(subject: dict, namespaced: bool, path: str) -> list[FieldError]:
    name, kind, group = subject.get("name", ""), subject.get("kind", ""), subject.get("apiGroup", "")
    errs = [] if name else [required(child(path, "name"), "")]
    if kind == "ServiceAccount":
        if name:
            errs += meta.name_with(name_is_dns_subdomain, name, child(path, "name"))
        if group:
            errs.append(not_supported(child(path, "apiGroup"), group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(child(path, "namespace"), ""))
    elif kind in ("User", "Group"):
        if not name:
            errs.append(invalid(child(path, "name"), name, f"{kind.lower()} name cannot be empty"))
        if group != GROUP:
            errs.append(not_supported(child(path, "apiGroup"), group, [GROUP]))
    else:
        errs.append(not_supported(child(path, "kind"), kind, ["ServiceAccount", "User", "Group"]))
    return errs


def _binding(namespaced: bool) -> Create:
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]

    def check(obj: dict) -> list[FieldError]:
        ref = obj.get("roleRef") or {}
        errs: list[FieldError] = []
        if ref.get("apiGroup", "") != GROUP:
            errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
        errs += meta.supported(ref.get("kind", ""), kinds, "roleRef.kind")
        if ref.get("namespace"):
            errs += meta.name_with(name_is_dns_label, ref["namespace"], "roleRef.namespace")
        if not ref.get("name"):
            errs.append(required("roleRef.name", ""))
        else:
            errs += meta.name_with(name_is_path_segment, ref["name"], "roleRef.name")
        for i, subject in enumerate(obj.get("subjects") or []):
            errs += _subject(subject, namespaced, index("subjects", i))
        return errs

    return check


def _role_ref_immutable(new: dict, old: dict) -> list[FieldError]:
    ref = new.get("roleRef") or {}
    if ref != (old.get("roleRef") or {}):
        return [invalid("roleRef", golit.role_ref(ref), "cannot change roleRef")]
    return []


def _create_then_meta(rules: Rules, extra: Update | None = None) -> Rules:
    """RBAC's ValidateXUpdate validates the new object first, then the metadata update."""

    def update(new: dict, old: dict) -> list[FieldError]:
        errs = rules.create(new) + meta.object_meta_update(
            new.get("metadata") or {}, old.get("metadata") or {}
        )
        return errs + (extra(new, old) if extra else [])

    return Rules(rules.create, update)


RULES: dict[str, Rules] = {
    "Role": _create_then_meta(with_meta(True, name_is_path_segment, _rules(True))),
    "ClusterRole": _create_then_meta(with_meta(False, name_is_path_segment, _cluster_role)),
    "RoleBinding": _create_then_meta(
        with_meta(True, name_is_path_segment, _binding(True)), _role_ref_immutable
    ),
    "ClusterRoleBinding": _create_then_meta(
        with_meta(False, name_is_path_segment, _binding(False)), _role_ref_immutable
    ),
}
