"""Scheduling constraints: node selectors, affinity, tolerations, taints and topology spread."""

from __future__ import annotations

from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, not_supported, required
from timoneiro.api.validation.meta import (
    child,
    each_message,
    index,
    label_selector,
    qualified_name,
    selector_requirement,
)
from timoneiro.api.validation.names import is_label_value, name_is_dns_label, name_is_dns_subdomain

TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def node_selector_requirement(req: dict, path: str, allow_invalid_values: bool = False) -> list[FieldError]:
    """ValidateNodeSelectorRequirement: a label selector requirement that may also be Gt or Lt."""
    return selector_requirement(req, path, allow_invalid_values, numeric_operators=True)


def node_field_requirement(req: dict, path: str) -> list[FieldError]:
    op, values = req.get("operator", ""), req.get("values") or []
    errs: list[FieldError] = []
    if op in ("In", "NotIn"):
        if len(values) != 1:
            errs.append(
                required(
                    child(path, "values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    if req.get("key") != "metadata.name":
        errs.append(invalid(child(path, "key"), req.get("key", ""), "not a valid field selector key"))
    else:
        for i, v in enumerate(values):
            errs += each_message(index(child(path, "values"), i), v, name_is_dns_subdomain(v, False))
    return errs


def node_selector_term(term: dict, path: str, allow_invalid_values: bool = False) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, req in enumerate(term.get("matchExpressions") or []):
        errs += node_selector_requirement(
            req, index(child(path, "matchExpressions"), i), allow_invalid_values
        )
    for i, req in enumerate(term.get("matchFields") or []):
        errs += node_field_requirement(req, index(child(path, "matchFields"), i))
    return errs


def node_selector(selector: dict, path: str, allow_invalid_values: bool = False) -> list[FieldError]:
    terms_path = child(path, "nodeSelectorTerms")
    terms = selector.get("nodeSelectorTerms") or []
    if not terms:
        return [required(terms_path, "must have at least one node selector term")]
    errs: list[FieldError] = []
    for i, term in enumerate(terms):
        errs += node_selector_term(term, index(terms_path, i), allow_invalid_values)
    return errs


def _weight(term: dict, path: str) -> list[FieldError]:
    weight = term.get("weight", 0)
    return [] if 0 < weight <= 100 else [invalid(child(path, "weight"), weight, "must be in the range 1-100")]


def _pod_affinity_term(term: dict, path: str) -> list[FieldError]:
    errs = label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    errs += label_selector(term.get("namespaceSelector"), child(path, "namespaceSelector"))
    for ns in term.get("namespaces") or []:
        errs += each_message(child(path, "namespace"), ns, name_is_dns_label(ns, False))
    errs += _label_keys(term, path)
    topology_key = term.get("topologyKey", "")
    if not topology_key:
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    return errs + qualified_name(topology_key, child(path, "topologyKey"))


def _label_keys(term: dict, path: str) -> list[FieldError]:
    """matchLabelKeys / mismatchLabelKeys: label names, only with a labelSelector, and not both."""
    errs: list[FieldError] = []
    selector = term.get("labelSelector")
    match, mismatch = term.get("matchLabelKeys") or [], term.get("mismatchLabelKeys") or []
    for name, keys in (("matchLabelKeys", match), ("mismatchLabelKeys", mismatch)):
        if not keys:
            continue
        if selector is None:
            errs.append(forbidden(child(path, name), "must not be specified when labelSelector is not set"))
            continue
        for i, k in enumerate(keys):
            errs += qualified_name(k, index(child(path, name), i))
    errs += [
        invalid(
            index(child(path, "matchLabelKeys"), i), k, "exists in both matchLabelKeys and mismatchLabelKeys"
        )
        for i, k in enumerate(match)
        if k in mismatch
    ]
    return errs


def _pod_affinity(affinity: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    req_path = child(path, "requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        errs += _pod_affinity_term(term, index(req_path, i))
    pref_path = child(path, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, weighted in enumerate(affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        p = index(pref_path, i)
        errs += _weight(weighted, p)
        errs += _pod_affinity_term(weighted.get("podAffinityTerm") or {}, child(p, "podAffinityTerm"))
    return errs


def affinity(value: dict | None, path: str) -> list[FieldError]:
    if not value:
        return []
    errs: list[FieldError] = []
    node = value.get("nodeAffinity")
    if node:
        p = child(path, "nodeAffinity")
        required_selector = node.get("requiredDuringSchedulingIgnoredDuringExecution")
        if required_selector is not None:
            errs += node_selector(
                required_selector, child(p, "requiredDuringSchedulingIgnoredDuringExecution")
            )
        pref_path = child(p, "preferredDuringSchedulingIgnoredDuringExecution")
        for i, term in enumerate(node.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            errs += _weight(term, index(pref_path, i))
            # preferred terms may carry label values that are invalid: they can still match nothing
            errs += node_selector_term(
                term.get("preference") or {},
                child(index(pref_path, i), "preference"),
                allow_invalid_values=True,
            )
    for name in ("podAffinity", "podAntiAffinity"):
        if value.get(name):
            errs += _pod_affinity(value[name], child(path, name))
    return errs


def taint_effect(effect: str, path: str, allow_empty: bool) -> list[FieldError]:
    if not effect:
        return [] if allow_empty else [required(path, "")]
    return [] if effect in TAINT_EFFECTS else [not_supported(path, effect, TAINT_EFFECTS)]


def tolerations(items: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(items or []):
        p = index(path, i)
        k, op, value, effect = (
            t.get("key", ""),
            t.get("operator", ""),
            t.get("value", ""),
            t.get("effect", ""),
        )
        if k:
            errs += qualified_name(k, child(p, "key"))
        if not k and op != "Exists":
            errs.append(
                invalid(
                    child(p, "operator"),
                    op,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(
                    child(p, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"
                )
            )
        if op in ("Equal", ""):
            msgs = is_label_value(value)
            if msgs:
                errs.append(invalid(child(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    invalid(child(p, "operator"), value, "value must be empty when `operator` is 'Exists'")
                )
        else:
            errs.append(not_supported(child(p, "operator"), op, ["Equal", "Exists"]))
        if effect:
            errs += taint_effect(effect, child(p, "effect"), True)
    return errs


def taints(items: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(items or []):
        p = index(path, i)
        errs += qualified_name(t.get("key", ""), child(p, "key"))
        msgs = is_label_value(t.get("value", ""))
        if msgs:
            errs.append(invalid(child(p, "value"), t.get("value", ""), ";".join(msgs)))
        errs += taint_effect(t.get("effect", ""), child(p, "effect"), False)
        pair = (t.get("effect", ""), t.get("key", ""))
        if pair in seen:
            errs.append(FieldError("Duplicate", p, "taints must be unique by key and effect pair", t))
            continue
        seen.add(pair)
    return errs


def topology_spread(items: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    items = items or []
    for i, c in enumerate(items):
        p = index(path, i)
        max_skew = c.get("maxSkew", 0)
        if max_skew <= 0:
            errs.append(invalid(child(p, "maxSkew"), max_skew, "must be greater than zero"))
        if not c.get("topologyKey"):
            errs.append(required(child(p, "topologyKey"), "can not be empty"))
        action = c.get("whenUnsatisfiable", "")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                not_supported(child(p, "whenUnsatisfiable"), action, ["DoNotSchedule", "ScheduleAnyway"])
            )
        for rest in items[i + 1 :]:
            if (rest.get("topologyKey"), rest.get("whenUnsatisfiable")) == (c.get("topologyKey"), action):
                errs.append(
                    duplicate(
                        child(p, "{topologyKey, whenUnsatisfiable}"),
                        f"{{{c.get('topologyKey', '')}, {action}}}",
                    )
                )
                break
        min_domains = c.get("minDomains")
        if min_domains is not None:
            if min_domains <= 0:
                errs.append(invalid(child(p, "minDomains"), min_domains, "must be greater than zero"))
            if action != "DoNotSchedule":
                errs.append(
                    invalid(
                        child(p, "minDomains"),
                        min_domains,
                        f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}",
                    )
                )
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(policy) is not None and c[policy] not in ("Honor", "Ignore"):
                errs.append(not_supported(child(p, policy), c[policy], ["Honor", "Ignore"]))
        errs += _match_label_keys(c, child(p, "matchLabelKeys"))
        errs += label_selector(c.get("labelSelector"), child(p, "labelSelector"))
    return errs


def _match_label_keys(constraint: dict, path: str) -> list[FieldError]:
    keys = constraint.get("matchLabelKeys") or []
    if not keys:
        return []
    selector = constraint.get("labelSelector")
    errs: list[FieldError] = []
    if selector is None:
        errs.append(forbidden(path, "must not be specified when labelSelector is not set"))
    selector_keys = set((selector or {}).get("matchLabels") or {}) | {
        e.get("key") for e in (selector or {}).get("matchExpressions") or []
    }
    for i, k in enumerate(keys):
        errs += qualified_name(k, index(path, i))
        if k in selector_keys:
            errs.append(invalid(index(path, i), k, "exists in both matchLabelKeys and labelSelector"))
    return errs


def topology_selector_term(term: dict, path: str) -> tuple[dict[str, frozenset[str]], list[FieldError]]:
    """A StorageClass allowedTopologies term, with the raw form used to spot duplicate terms."""
    errs: list[FieldError] = []
    raw: dict[str, frozenset[str]] = {}
    expr_path = child(path, "matchLabelExpressions")
    for i, req in enumerate(term.get("matchLabelExpressions") or []):
        p = index(expr_path, i)
        values = req.get("values") or []
        if not values:
            errs.append(required(child(p, "values"), ""))
        seen: set[str] = set()
        for j, v in enumerate(values):
            if v in seen:
                errs.append(duplicate(index(child(p, "values"), j), v))
            seen.add(v)
        errs += qualified_name(req.get("key", ""), child(p, "key"))
        if req.get("key") in raw:
            errs.append(duplicate(child(p, "key"), req.get("key", "")))
        raw[req.get("key", "")] = frozenset(values)
    return raw, errs
