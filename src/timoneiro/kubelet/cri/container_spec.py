"""A container's mounts and security context in the CRI's words (what containerd makes the OCI spec of)."""

from __future__ import annotations

from timoneiro.kubelet.cri import api_pb2 as api
from timoneiro.kubelet.runtime.base import Mount, SecurityContext


def mounts(found: list[Mount]) -> list[api.Mount]:
    return [api.Mount(container_path=m.container_path, host_path=m.host_path, readonly=m.read_only) for m in found]


def security_context(security: SecurityContext | None) -> api.LinuxContainerSecurityContext | None:
    """Capability names go as the pod spec has them (containerd adds the CAP_ prefix)."""
    if security is None:
        return None
    context = api.LinuxContainerSecurityContext(
        capabilities=api.Capability(add_capabilities=security.add_capabilities,
                                    drop_capabilities=security.drop_capabilities),
        privileged=security.privileged, run_as_username=security.run_as_username,
        readonly_rootfs=security.read_only_root_filesystem, supplemental_groups=security.supplemental_groups,
        no_new_privs=security.no_new_privileges)
    if security.run_as_user is not None:
        context.run_as_user.value = security.run_as_user
    if security.run_as_group is not None:
        context.run_as_group.value = security.run_as_group
    return context
