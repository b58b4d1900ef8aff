"""A container's security settings as upstream's kubelet works them out: the pod's securityContext and the
container's merged (the container's wins for the user, group and runAsNonRoot; capabilities, privileged,
readOnlyRootFilesystem and allowPrivilegeEscalation are the container's only), the user the image runs as
when neither says, fsGroup and supplementalGroups as supplemental groups, and runAsNonRoot checked against
the user the container would run as (upstream's errors, which the container shows with
CreateContainerConfigError).
"""

from __future__ import annotations

from timoneiro.kubelet.containers import pod_full_name
from timoneiro.kubelet.runtime.base import Image, RuntimeFailure, SecurityContext

CONFIG_ERROR = "CreateContainerConfigError"
_INHERITED = ("runAsUser", "runAsGroup", "runAsNonRoot")  # the pod's, unless the container sets them
MAX_USER_ID = 2**31 - 1


def effective(pod: dict, container: dict) -> dict:
    """The container's securityContext with what it inherits from the pod's filled in."""
    pod_context = (pod.get("spec") or {}).get("securityContext") or {}
    merged = dict(container.get("securityContext") or {})
    for key in _INHERITED:
        if merged.get(key) is None and pod_context.get(key) is not None:
            merged[key] = pod_context[key]
    return merged


def image_user(image: Image | None) -> tuple[int | None, str]:
    """The image's user as a uid, else a name; an image that says neither runs as root."""
    if image is not None and image.uid is not None:
        return image.uid, ""
    if image is not None and image.username:
        return None, image.username
    return 0, ""


def verify_run_as_non_root(pod: dict, container: dict, uid: int | None, username: str) -> None:
    """Refuse a container with runAsNonRoot that would run as root, or as a user it cannot tell."""
    context = effective(pod, container)
    if not context.get("runAsNonRoot"):
        return
    where = f'(pod: "{pod_full_name(pod)}", container: {container["name"]})'
    if context.get("runAsUser") is not None:
        if context["runAsUser"] == 0:
            raise RuntimeFailure(CONFIG_ERROR, f"container's runAsUser breaks non-root policy {where}")
        return
    if uid is None and username:
        raise RuntimeFailure(CONFIG_ERROR, f"container has runAsNonRoot and image has non-numeric user "
                                           f"({username}), cannot verify user is non-root {where}")
    if uid == 0:
        raise RuntimeFailure(CONFIG_ERROR, f"container has runAsNonRoot and image will run as root {where}")
    if uid is not None and not 0 <= uid <= MAX_USER_ID:
        raise RuntimeFailure(CONFIG_ERROR, f"container has runAsNonRoot and image has an invalid user id ({uid}). "
                                           f"(Must be 1-({MAX_USER_ID})): must be between 0 and {MAX_USER_ID}, "
                                           f"inclusive {where}")


def security_context(pod: dict, container: dict, image: Image | None) -> SecurityContext:
    """What the runtime is told, after verify_run_as_non_root passed."""
    context = effective(pod, container)
    pod_context = (pod.get("spec") or {}).get("securityContext") or {}
    uid, username = image_user(image)
    capabilities = context.get("capabilities") or {}
    groups = [pod_context["fsGroup"]] if pod_context.get("fsGroup") is not None else []
    groups += list(pod_context.get("supplementalGroups") or ())
    escalation = context.get("allowPrivilegeEscalation")
    return SecurityContext(
        run_as_user=context["runAsUser"] if context.get("runAsUser") is not None else uid,
        run_as_username=username if context.get("runAsUser") is None else "",
        run_as_group=context.get("runAsGroup"), supplemental_groups=groups,
        read_only_root_filesystem=bool(context.get("readOnlyRootFilesystem")),
        privileged=bool(context.get("privileged")), no_new_privileges=escalation is False,
        add_capabilities=list(capabilities.get("add") or ()), drop_capabilities=list(capabilities.get("drop") or ()))


def privileged(pod: dict) -> bool:
    """Whether any container of the pod is privileged (its sandbox must be too)."""
    spec = pod.get("spec") or {}
    return any(((c.get("securityContext") or {}).get("privileged")) for key in ("initContainers", "containers")
               for c in spec.get(key) or ())


def fs_user(pod: dict) -> int | None:
    """The user every container of the pod runs as, when they all set the same one: projected
    service-account tokens are made theirs (upstream's FsUserFrom)."""
    spec = pod.get("spec") or {}
    users = {effective(pod, c).get("runAsUser") for key in ("initContainers", "containers")
             for c in spec.get(key) or ()}
    return users.pop() if len(users) == 1 and None not in users else None
