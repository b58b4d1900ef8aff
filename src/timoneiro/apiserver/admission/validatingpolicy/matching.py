"""Which requests a policy or binding's matchResources selects (upstream's policy matching): namespace
and object label selectors, resourceRules less excludeResourceRules, and matchPolicy Equivalent, which
also matches a rule naming another version of the request's resource."""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.api import selectors
from timoneiro.api.kinds import Kind, Registry


@dataclass(frozen=True)
class Request:
    """What matching looks at: the request's resource, operation and objects."""

    kind: Kind
    operation: str  # CREATE, UPDATE, DELETE
    subresource: str
    namespace: str
    name: str
    new: dict | None
    old: dict | None


def _split(resource: str) -> tuple[str, str]:
    res, _, sub = resource.partition("/")
    return res, sub


def rule_matches(rule: dict, req: Request, kind: Kind) -> bool:
    """One NamedRuleWithOperations against the request as made of `kind` (the request's or an equivalent)."""
    ops = rule.get("operations") or []
    if "*" not in ops and req.operation not in ops:
        return False
    groups, versions = rule.get("apiGroups") or [], rule.get("apiVersions") or []
    if "*" not in groups and kind.group not in groups:
        return False
    if "*" not in versions and kind.version not in versions:
        return False
    if not any((res in ("*", kind.plural)) and (sub in ("*", req.subresource))
               for res, sub in map(_split, rule.get("resources") or [])):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and req.namespace or scope == "Namespaced" and not req.namespace:
        return False
    names = rule.get("resourceNames") or []
    return not names or req.name in names


def _equivalents(registry: Registry, kind: Kind) -> list[Kind]:
    """The request's kind first, then every other served version of the same resource."""
    others = [k for k in registry.kinds() if k is not kind and k.storage_resource == kind.storage_resource
              and k.plural == kind.plural]
    return [kind, *others]


def matched_kind(rules: list[dict], policy: str, req: Request, registry: Registry) -> Kind | None:
    """The kind (version) through which `rules` match the request, or None."""
    candidates = _equivalents(registry, req.kind) if policy != "Exact" else [req.kind]
    for kind in candidates:
        if any(rule_matches(rule, req, kind) for rule in rules):
            return kind
    return None


def labels_match(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector; nil and {} select everything (the defaulted matchResources selectors)."""
    if not selector:
        return True
    return selectors.matches(selectors.from_label_selector(selector), labels)


def resources_match(match: dict | None, req: Request, namespace_labels: dict | None,
                    registry: Registry) -> Kind | None:
    """The kind the request matches through, or None. namespace_labels: the labels of the request's
    namespace (or of the Namespace being written), None for other cluster-scoped objects."""
    match = match or {}
    if namespace_labels is not None and not labels_match(match.get("namespaceSelector"), namespace_labels):
        return None
    object_selector = match.get("objectSelector")
    if object_selector and not any(labels_match(object_selector, (o.get("metadata") or {}).get("labels") or {})
                                   for o in (req.new, req.old) if o is not None):
        return None
    policy = match.get("matchPolicy") or "Equivalent"
    if matched_kind(match.get("excludeResourceRules") or [], policy, req, registry) is not None:
        return None
    rules = match.get("resourceRules") or []
    if not rules:
        return req.kind
    return matched_kind(rules, policy, req, registry)
