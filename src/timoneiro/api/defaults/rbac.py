"""Defaults of rbac.authorization.k8s.io/v1 bindings (pkg/apis/rbac/v1/defaults.go)."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill

GROUP = "rbac.authorization.k8s.io"
SUBJECT_GROUPS = {"ServiceAccount": "", "User": GROUP, "Group": GROUP}


def binding(obj: dict) -> None:
    """RoleBinding and ClusterRoleBinding: roleRef and User/Group subjects name the RBAC group."""
    fill.if_zero(fill.ensure(obj, "roleRef"), "apiGroup", GROUP)
    for subject in fill.dicts(obj, "subjects"):
        if not subject.get("apiGroup") and subject.get("kind") in SUBJECT_GROUPS:
            subject["apiGroup"] = SUBJECT_GROUPS[subject["kind"]]


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "ClusterRoleBinding": binding,
    "RoleBinding": binding,
}
