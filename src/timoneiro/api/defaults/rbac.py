"""Defaults of rbac.authorization.k8s.io/v1 bindings (pkg/apis/rbac/v1/defaults.go)."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill

GROUP = "rbac.authorization.k8s.io"


def binding(obj: dict) -> None:
    """RoleBinding and ClusterRoleBinding: roleRef and User/Group subjects name the RBAC group.

    A ServiceAccount subject's group is the core group, "", which Go leaves out.
    """
    fill.if_zero(fill.ensure(obj, "roleRef"), "apiGroup", GROUP)
    for subject in fill.dicts(obj, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            fill.if_zero(subject, "apiGroup", GROUP)


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "ClusterRoleBinding": binding,
    "RoleBinding": binding,
}
