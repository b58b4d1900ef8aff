"""Defaults of admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies and their bindings
(pkg/apis/admissionregistration/v1/defaults.go): failurePolicy Fail, matchPolicy Equivalent, empty
selectors that select everything, rule scope "*", and a paramRef's parameterNotFoundAction Deny."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill


def _match_resources(match: dict | None) -> None:
    if match is None:
        return
    fill.if_nil(match, "matchPolicy", "Equivalent")
    fill.if_nil(match, "namespaceSelector", {})
    fill.if_nil(match, "objectSelector", {})
    for key in ("resourceRules", "excludeResourceRules"):
        for rule in match.get(key) or []:
            if isinstance(rule, dict):
                fill.if_nil(rule, "scope", "*")


def policy(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_nil(spec, "failurePolicy", "Fail")
    _match_resources(fill.child(spec, "matchConstraints"))


def binding(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    _match_resources(fill.child(spec, "matchResources"))
    ref = fill.child(spec, "paramRef")
    if ref is not None:
        fill.if_nil(ref, "parameterNotFoundAction", "Deny")


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "ValidatingAdmissionPolicy": policy,
    "ValidatingAdmissionPolicyBinding": binding,
}
