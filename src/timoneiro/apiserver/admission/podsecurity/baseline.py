"""The baseline checks of the Pod Security Standards (k8s.io/pod-security-admission/policy), each a
function of the pod's metadata and spec that returns what it forbids, or None."""

from __future__ import annotations

import json
from collections.abc import Iterator

from timoneiro.apiserver.admission.podsecurity.messages import (
    Violation,
    containers_phrase,
    join_quote,
    pluralize,
    setters_phrase,
)

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
ALLOWED_PROFILE_TYPES = ("RuntimeDefault", "Localhost")
DEFAULT_CAPABILITIES = frozenset((
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"))
SELINUX_TYPES_1_0 = frozenset(("", "container_t", "container_init_t", "container_kvm_t"))
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}
SYSCTLS_1_0 = frozenset(("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                         "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"))
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def containers(spec: dict) -> Iterator[dict]:
    """Init containers, containers, then ephemeral containers, as the policy visits them."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or ()


def security_context(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def go_quoted(key: str, value: str) -> str:
    """key="value", as Go's %s=%q prints an annotation."""
    return f"{key}={json.dumps(value, ensure_ascii=False)}"


def bad_profile_setters(spec: dict, field: str, values: set[str]) -> tuple[bool, list[str]]:
    """Whether the pod and which containers set a profile (seccompProfile, appArmorProfile) of a type other
    than RuntimeDefault or Localhost (adding the types to `values`)."""
    def bad(sc: dict) -> bool:
        profile = sc.get(field)
        if profile is None or profile.get("type") in ALLOWED_PROFILE_TYPES:
            return False
        values.add(profile.get("type") or "")
        return True

    return bad(security_context(spec)), [c.get("name", "") for c in containers(spec) if bad(security_context(c))]


def host_namespaces(meta: dict, spec: dict) -> Violation | None:
    shared = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    return ("host namespaces", ", ".join(shared)) if shared else None


def privileged(meta: dict, spec: dict) -> Violation | None:
    bad = [c.get("name", "") for c in containers(spec) if security_context(c).get("privileged")]
    return ("privileged", f"{containers_phrase(bad)} must not set securityContext.privileged=true") if bad else None


def capabilities_baseline(meta: dict, spec: dict) -> Violation | None:
    bad, added = [], set()
    for c in containers(spec):
        extra = [cap for cap in (security_context(c).get("capabilities") or {}).get("add") or ()
                 if cap not in DEFAULT_CAPABILITIES]
        if extra:
            bad.append(c.get("name", ""))
            added.update(extra)
    if not bad:
        return None
    return ("non-default capabilities",
            f"{containers_phrase(bad)} must not include {join_quote(sorted(added))} in securityContext.capabilities.add")


def host_path_volumes(meta: dict, spec: dict) -> Violation | None:
    names = [v.get("name", "") for v in spec.get("volumes") or () if v.get("hostPath") is not None]
    return ("hostPath volumes", f"{pluralize('volume', 'volumes', len(names))} {join_quote(names)}") if names else None


def host_ports(meta: dict, spec: dict) -> Violation | None:
    bad, ports = [], set()
    for c in containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or () if p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(used)
    if not bad:
        return None
    return ("hostPort", f"{containers_phrase(bad)} {pluralize('uses', 'use', len(bad))} "
            f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def app_armor_profile(meta: dict, spec: dict) -> Violation | None:
    values: set[str] = set()
    setters = setters_phrase(*bad_profile_setters(spec, "appArmorProfile", values))
    annotations = sorted(go_quoted(k, v) for k, v in (meta.get("annotations") or {}).items()
                         if k.startswith(APPARMOR_ANNOTATION_PREFIX)
                         and not (not v or v == "runtime/default" or v.startswith("localhost/")))
    shown = sorted(values) + annotations
    if annotations:
        setters = " and ".join(filter(None, (setters, pluralize("annotation", "annotations", len(annotations)))))
    if not setters:
        return None
    return (pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(shown)),
            f"{setters} must not set AppArmor profile type to {join_quote(shown)}")


def _se_linux_options(allowed_types: frozenset[str]):
    def check(meta: dict, spec: dict) -> Violation | None:
        types: set[str] = set()
        sets_user = sets_role = False

        def bad(sc: dict) -> bool:
            nonlocal sets_user, sets_role
            opts = sc.get("seLinuxOptions")
            if opts is None:
                return False
            valid = True
            if (opts.get("type") or "") not in allowed_types:
                types.add(opts.get("type") or "")
                valid = False
            if opts.get("user"):
                sets_user, valid = True, False
            if opts.get("role"):
                sets_role, valid = True, False
            return not valid

        pod = bad(security_context(spec))
        setters = setters_phrase(pod, [c.get("name", "") for c in containers(spec) if bad(security_context(c))])
        if not setters:
            return None
        data = [f"{pluralize('type', 'types', len(types))} {join_quote(sorted(types))}"] if types else []
        data += ["user may not be set"] * sets_user + ["role may not be set"] * sets_role
        return "seLinuxOptions", f"{setters} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"
    return check


se_linux_options_1_0 = _se_linux_options(SELINUX_TYPES_1_0)
se_linux_options_1_31 = _se_linux_options(SELINUX_TYPES_1_31)


def proc_mount(meta: dict, spec: dict) -> Violation | None:
    bad, types = [], set()
    for c in containers(spec):
        mount = security_context(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            types.add(mount)
    if not bad:
        return None
    return "procMount", f"{containers_phrase(bad)} must not set securityContext.procMount to {join_quote(sorted(types))}"


def seccomp_profile_baseline_1_0(meta: dict, spec: dict) -> Violation | None:
    """Before v1.19 seccomp profiles were annotations."""
    annotations = meta.get("annotations") or {}
    keys = [SECCOMP_POD_ANNOTATION] + [SECCOMP_CONTAINER_ANNOTATION_PREFIX + c.get("name", "")
                                       for c in containers(spec)]
    bad = {go_quoted(k, annotations[k]) for k in keys if k in annotations
           and not (annotations[k] in ("runtime/default", "docker/default") or annotations[k].startswith("localhost/"))}
    if not bad:
        return None
    return "seccompProfile", f"forbidden {pluralize('annotation', 'annotations', len(bad))} {', '.join(sorted(bad))}"


def seccomp_profile_baseline_1_19(meta: dict, spec: dict) -> Violation | None:
    values: set[str] = set()
    setters = setters_phrase(*bad_profile_setters(spec, "seccompProfile", values))
    if not setters:
        return None
    return "seccompProfile", f"{setters} must not set securityContext.seccompProfile.type to {join_quote(sorted(values))}"


def _sysctls(allowed: frozenset[str]):
    def check(meta: dict, spec: dict) -> Violation | None:
        bad = [s.get("name", "") for s in security_context(spec).get("sysctls") or () if s.get("name") not in allowed]
        return ("forbidden sysctls", ", ".join(bad)) if bad else None
    return check


sysctls_1_0, sysctls_1_27, sysctls_1_29, sysctls_1_32 = map(_sysctls, (SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29,
                                                                       SYSCTLS_1_32))


def windows_host_process(meta: dict, spec: dict) -> Violation | None:
    def host_process(sc: dict) -> bool:
        return bool((sc.get("windowsOptions") or {}).get("hostProcess"))

    setters = setters_phrase(host_process(security_context(spec)),
                             [c.get("name", "") for c in containers(spec) if host_process(security_context(c))])
    if not setters:
        return None
    return "hostProcess", f"{setters} must not set securityContext.windowsOptions.hostProcess=true"
