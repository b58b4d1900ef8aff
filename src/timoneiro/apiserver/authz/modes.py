"""--authorization-mode: which authorizers the server asks, in the order given, after the privileged group
(system:masters) that kube-apiserver always puts first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.apiserver.authz import AlwaysAllow, Authorization, Authorizer, Superuser
from timoneiro.apiserver.authz.node import NodeAuthorizer

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

MODES = ("AlwaysAllow", "Node", "RBAC")
DEFAULT_MODE = "Node,RBAC"  # what kubeadm configures, and what every timoneiro server runs unless told


def parse_modes(mode: str) -> list[str]:
    """The modes of a comma list, refused (ValueError) as kube-apiserver refuses them."""
    modes = [m.strip() for m in mode.split(",") if m.strip()]
    if not modes:
        raise ValueError("at least one authorization-mode must be passed")
    for m in modes:
        if m not in MODES:
            raise ValueError(f'authorization-mode "{m}" is not a valid mode (valid modes: {", ".join(MODES)})')
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization-mode {mode!r} has mode specified more than once")
    return modes


def authorization_chain(api: APIServer, mode: str) -> Authorization:
    authorizers: list[Authorizer] = [Superuser()]
    for m in parse_modes(mode):
        if m == "AlwaysAllow":
            authorizers.append(AlwaysAllow())
        elif m == "Node":
            authorizers.append(NodeAuthorizer(api.cache, api.registry))
        else:
            authorizers.append(api.rbac)
    return Authorization(authorizers)
