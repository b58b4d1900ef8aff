"""Role bindings and cluster role bindings (roles themselves get the default table upstream)."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, name, wide


def binding_cells(obj: dict, now: datetime) -> list:
    role = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind, subject_name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{subject_name}")
        elif kind == "User":
            users.append(subject_name)
        elif kind == "Group":
            groups.append(subject_name)
    return [
        name(obj), f"{role.get('kind', '')}/{role.get('name', '')}", since(created(obj), now),
        ", ".join(users), ", ".join(groups), ", ".join(accounts),
    ]


_BINDING_COLUMNS = (
    NAME,
    column("Role", "The role the binding grants."),
    AGE,
    wide("Users", "Users the binding grants the role to."),
    wide("Groups", "Groups the binding grants the role to."),
    wide("ServiceAccounts", "Service accounts the binding grants the role to."),
)

PRINTERS = {
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(_BINDING_COLUMNS, binding_cells),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(_BINDING_COLUMNS, binding_cells),
}
