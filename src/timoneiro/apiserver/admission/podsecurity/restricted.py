"""The restricted checks of the Pod Security Standards (k8s.io/pod-security-admission/policy). From v1.25
several skip pods whose spec.os.name is windows, as upstream's do."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.apiserver.admission.podsecurity.baseline import (
    bad_profile_setters,
    containers,
    security_context,
)
from timoneiro.apiserver.admission.podsecurity.messages import (
    Violation,
    containers_phrase,
    join_quote,
    pluralize,
    setters_phrase,
)

CheckFn = Callable[[dict, dict], Violation | None]
ALLOWED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                          "projected", "secret")
# how a refused volume's type is named, first match first
RESTRICTED_VOLUME_SOURCES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd",
    "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos")


def not_on_windows(check: CheckFn) -> CheckFn:
    """The v1.25 form of a check: pods that declare the windows OS pass."""
    def check_unless_windows(meta: dict, spec: dict) -> Violation | None:
        if (spec.get("os") or {}).get("name") == "windows":
            return None
        return check(meta, spec)
    return check_unless_windows


def allow_privilege_escalation(meta: dict, spec: dict) -> Violation | None:
    bad = [c.get("name", "") for c in containers(spec)
           if security_context(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return ("allowPrivilegeEscalation != false",
            f"{containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false")


def capabilities_restricted(meta: dict, spec: dict) -> Violation | None:
    missing_drop, adding, added = [], [], set()
    for c in containers(spec):
        caps = security_context(c).get("capabilities")
        if caps is None:
            missing_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (caps.get("drop") or ()):
            missing_drop.append(c.get("name", ""))
        extra = [cap for cap in caps.get("add") or () if cap != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            added.update(extra)
    found = []
    if missing_drop:
        found.append(f'{containers_phrase(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        found.append(f"{containers_phrase(adding)} must not include {join_quote(sorted(added))} in "
                     "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(found)) if found else None


def restricted_volumes(meta: dict, spec: dict) -> Violation | None:
    bad, types = [], set()
    for volume in spec.get("volumes") or ():
        if any(volume.get(source) is not None for source in ALLOWED_VOLUME_SOURCES):
            continue
        bad.append(volume.get("name", ""))
        types.add(next((s for s in RESTRICTED_VOLUME_SOURCES if volume.get(s) is not None), "unknown"))
    if not bad:
        return None
    return ("restricted volume types",
            f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} {pluralize('uses', 'use', len(bad))} "
            f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
            f"{join_quote(sorted(types))}")


def run_as_non_root(meta: dict, spec: dict) -> Violation | None:
    """The pod or every container must set runAsNonRoot=true (containers inherit the pod's): explicit false
    values are named first, then containers that leave it unset under a pod that does not set it true."""
    pod_value = security_context(spec).get("runAsNonRoot")
    explicit, implicit = [], []
    for c in containers(spec):
        value = security_context(c).get("runAsNonRoot")
        if value is not None and value is not True:
            explicit.append(c.get("name", ""))
        elif value is None and pod_value is not True:
            implicit.append(c.get("name", ""))
    setters = setters_phrase(pod_value is not None and pod_value is not True, explicit)
    if setters:
        return "runAsNonRoot != true", f"{setters} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return "runAsNonRoot != true", f"pod or {containers_phrase(implicit)} must set securityContext.runAsNonRoot=true"
    return None


def run_as_user(meta: dict, spec: dict) -> Violation | None:
    setters = setters_phrase(security_context(spec).get("runAsUser") == 0,
                             [c.get("name", "") for c in containers(spec) if security_context(c).get("runAsUser") == 0])
    return ("runAsUser=0", f"{setters} must not set runAsUser=0") if setters else None


def seccomp_profile_restricted(meta: dict, spec: dict) -> Violation | None:
    values: set[str] = set()
    pod_bad, bad = bad_profile_setters(spec, "seccompProfile", values)
    setters = setters_phrase(pod_bad, bad)
    if setters:
        return ("seccompProfile",
                f"{setters} must not set securityContext.seccompProfile.type to {join_quote(sorted(values))}")
    if security_context(spec).get("seccompProfile") is not None:
        return None
    unset = [c.get("name", "") for c in containers(spec) if security_context(c).get("seccompProfile") is None]
    if not unset:
        return None
    return ("seccompProfile", f'pod or {containers_phrase(unset)} must set securityContext.seccompProfile.type to '
            '"RuntimeDefault" or "Localhost"')
