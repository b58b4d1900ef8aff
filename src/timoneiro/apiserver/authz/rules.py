"""RBAC policy rules: whether a rule allows a request (upstream's rbac.RuleAllows), whether rules cover
other rules (the escalation check's Covers), and how upstream renders rules in its error messages."""

from __future__ import annotations

import json
from typing import NamedTuple

from timoneiro.apiserver.requestinfo import RequestInfo

ALL = "*"


class Rule(NamedTuple):
    """A PolicyRule in the form matching wants it; `source` is the rule as stored."""

    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    urls: tuple[str, ...]
    source: dict


def compile_rule(rule: dict) -> Rule:
    return Rule(frozenset(rule.get("verbs") or ()), frozenset(rule.get("apiGroups") or ()),
                frozenset(rule.get("resources") or ()), frozenset(rule.get("resourceNames") or ()),
                tuple(rule.get("nonResourceURLs") or ()), rule)


def allows(rule: Rule, attrs: RequestInfo) -> bool:
    if ALL not in rule.verbs and attrs.verb not in rule.verbs:
        return False
    if not attrs.is_resource:
        return any(url_matches(pattern, attrs.path) for pattern in rule.urls)
    if ALL not in rule.groups and attrs.group not in rule.groups:
        return False
    if not _resource_matches(rule.resources, attrs.resource, attrs.subresource):
        return False
    return not rule.names or attrs.name in rule.names


def _resource_matches(resources: frozenset[str], resource: str, subresource: str) -> bool:
    if ALL in resources:
        return True
    if not subresource:
        return resource in resources
    return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources


def url_matches(pattern: str, path: str) -> bool:
    if pattern in (ALL, path):
        return True
    return pattern.endswith("*") and path.startswith(pattern.rstrip("*"))


# covering: may a user holding `owner` rules grant `requested` ones (upstream's validation.Covers)

def breakdown(rule: dict) -> list[dict]:
    """One rule per group, resource, verb and name (per URL and verb for non-resource rules)."""
    verbs = rule.get("verbs") or []
    out = []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                names = rule.get("resourceNames") or []
                out += [{**base, "resourceNames": [n]} for n in names] if names else [base]
    for url in rule.get("nonResourceURLs") or []:
        out += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs]
    return out


def _covers_rule(owner: dict, sub: dict) -> bool:
    def has_all(key: str) -> bool:
        owned = owner.get(key) or []
        return ALL in owned or set(sub.get(key) or []) <= set(owned)

    owned_names, wanted_names = owner.get("resourceNames") or [], sub.get("resourceNames") or []
    names_ok = not owned_names or (bool(wanted_names) and set(wanted_names) <= set(owned_names))
    return (has_all("verbs") and has_all("apiGroups") and names_ok
            and _resources_cover(owner.get("resources") or [], sub.get("resources") or [])
            and all(any(_url_covers(o, u) for o in owner.get("nonResourceURLs") or [])
                    for u in sub.get("nonResourceURLs") or []))


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if ALL in owned:
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def missing(owner: list[dict], requested: list[dict]) -> list[dict]:
    """The broken-down requested rules no owner rule covers."""
    return [sub for rule in requested for sub in breakdown(rule)
            if not any(_covers_rule(o, sub) for o in owner)]


def compact(rules: list[dict]) -> list[dict]:
    """Rules on one group, resource and name at most merged into one rule with all their verbs
    (upstream's CompactRules, used to word escalation errors)."""
    out: list[dict] = []
    simple: dict[tuple, dict] = {}
    for rule in rules:
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        names = rule.get("resourceNames") or []
        if len(groups) == 1 and len(resources) == 1 and len(names) <= 1 and not rule.get("nonResourceURLs"):
            key = (groups[0], resources[0], tuple(names))
            if key in simple:
                simple[key]["verbs"] = simple[key]["verbs"] + list(rule.get("verbs") or [])
            else:
                simple[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
        else:
            out.append(rule)
    return out + list(simple.values())


def go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def go_quote_list(values) -> str:
    """A []string as Go's %q prints it: ["a" "b"]."""
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def compact_string(rule: dict) -> str:
    """A rule as upstream's rbacv1helpers.CompactString renders it in escalation errors."""
    parts = [f"{label}:{go_quote_list(rule[key])}" for label, key in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"), ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"), ("Verbs", "verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"
