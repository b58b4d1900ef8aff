"""Pods: PodSpec and its containers, PodTemplateSpec for the workloads, and the pod update rules.

Feature-gated behaviour follows kube-apiserver v1.32's defaults (relaxed environment variable
names on, pod-level resources and zero-second sleep actions off).
"""

from __future__ import annotations

import copy
import re

from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, not_found, not_supported, required
from timoneiro.api.validation import affinity, diff, golit, meta, resources, volumes
from timoneiro.api.validation.meta import child, each_message, index, key
from timoneiro.api.validation.names import (
    IP_ERROR,
    inclusive_range_error,
    is_config_map_key,
    is_http_header_name,
    is_signed_int,
    is_valid_port_name,
    is_valid_port_num,
    is_valid_user_id,
    name_is_dns_subdomain,
    parse_ip,
)

MAX_INT32 = 2**31 - 1
PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
_SYSCTL_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SYSCTL = re.compile("^(" + _SYSCTL_SEGMENT + r"[\./])*" + _SYSCTL_SEGMENT + "$")
_SYSCTL_ERROR = (
    f"must have at most 253 characters and match regex ^({_SYSCTL_SEGMENT}[\\./])*{_SYSCTL_SEGMENT}$"
)
_NET_SYSCTLS = ("net.",)
_IPC_SYSCTLS = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
_EPHEMERAL_FORBIDDEN = (
    "ports",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resizePolicy",
    "restartPolicy",
)


# --- containers


def _ports(ports: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports or []):
        p = index(path, i)
        name = port.get("name", "")
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs += each_message(child(p, "name"), name, msgs)
            elif name in names:
                errs.append(duplicate(child(p, "name"), name))
            else:
                names.add(name)
        container_port = port.get("containerPort", 0)
        if not container_port:
            errs.append(required(child(p, "containerPort"), ""))
        else:
            errs += each_message(child(p, "containerPort"), container_port, is_valid_port_num(container_port))
        host_port = port.get("hostPort", 0)
        if host_port:
            errs += each_message(child(p, "hostPort"), host_port, is_valid_port_num(host_port))
        errs += protocol(port.get("protocol", ""), child(p, "protocol"))
    return errs


def protocol(value: str, path: str) -> list[FieldError]:
    return meta.one_of(value, PROTOCOLS, path)


def relaxed_env_name(name: str, path: str) -> list[FieldError]:
    """IsRelaxedEnvVarName: printable ASCII other than '=' (the v1.32 default)."""
    if any(ord(c) > 126 or not c.isprintable() or c == "=" for c in name):
        return [
            invalid(
                path,
                name,
                "a valid environment variable name must consist only of printable ASCII "
                "characters other than '='",
            )
        ]
    return []


def _env(items: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, env in enumerate(items or []):
        p = index(path, i)
        name = env.get("name", "")
        errs += [required(child(p, "name"), "")] if not name else relaxed_env_name(name, child(p, "name"))
        errs += _env_value_from(env, child(p, "valueFrom"))
    return errs


def _key_selector(ref: dict, path: str) -> list[FieldError]:
    errs = each_message(
        child(path, "name"), ref.get("name", ""), name_is_dns_subdomain(ref.get("name", ""), False)
    )
    k = ref.get("key", "")
    if not k:
        return errs + [required(child(path, "key"), "")]
    return errs + each_message(child(path, "key"), k, is_config_map_key(k))


def _env_value_from(env: dict, path: str) -> list[FieldError]:
    source = env.get("valueFrom")
    if source is None:
        return []
    errs: list[FieldError] = []
    count = 0
    if source.get("fieldRef") is not None:
        count += 1
        errs += volumes.object_field_selector(
            source["fieldRef"], volumes.ENV_FIELD_PATHS, child(path, "fieldRef")
        )
    if source.get("resourceFieldRef") is not None:
        count += 1
        errs += volumes.resource_field_selector(
            source["resourceFieldRef"], child(path, "resourceFieldRef"), False
        )
    for name in ("configMapKeyRef", "secretKeyRef"):
        if source.get(name) is not None:
            count += 1
            errs += _key_selector(source[name], child(path, name))
    if count == 0:
        errs.append(
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif env.get("value"):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _env_from(items: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(items or []):
        p = index(path, i)
        if source.get("prefix"):
            errs += relaxed_env_name(source["prefix"], child(p, "prefix"))
        count = 0
        for name in ("configMapRef", "secretRef"):
            ref = source.get(name)
            if ref is None:
                continue
            count += 1
            if not ref.get("name"):
                errs.append(required(child(p, name, "name"), ""))
            else:
                errs += each_message(
                    child(p, name, "name"), ref["name"], name_is_dns_subdomain(ref["name"], True)
                )
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def port_num_or_name(port: int | str | None, path: str) -> list[FieldError]:
    if isinstance(port, str):
        return each_message(path, port, is_valid_port_name(port))
    return each_message(path, port or 0, is_valid_port_num(port or 0))


def _handler(handler: dict, grace: int | None, path: str, allow_sleep: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    # lifecycle hooks may sleep; probes may call gRPC
    kinds = (
        ("exec", "httpGet", "tcpSocket", "sleep") if allow_sleep else ("exec", "httpGet", "tcpSocket", "grpc")
    )
    for name in kinds:
        action = handler.get(name)
        if action is None:
            continue
        if count:
            errs.append(forbidden(child(path, name), "may not specify more than 1 handler type"))
            continue
        count += 1
        p = child(path, name)
        if name == "exec":
            errs += [] if action.get("command") else [required(child(p, "command"), "")]
        elif name == "httpGet":
            errs += [] if action.get("path") else [required(child(p, "path"), "")]
            errs += port_num_or_name(action.get("port"), child(p, "port"))
            errs += meta.supported(action.get("scheme", ""), ["HTTP", "HTTPS"], child(p, "scheme"))
            for header in action.get("httpHeaders") or []:
                errs += each_message(
                    child(p, "httpHeaders"),
                    header.get("name", ""),
                    is_http_header_name(header.get("name", "")),
                )
        elif name in ("tcpSocket", "grpc"):
            errs += port_num_or_name(action.get("port"), child(p, "port"))
        else:
            seconds = action.get("seconds", 0)
            if grace is not None and (seconds <= 0 or seconds > grace):
                errs.append(
                    invalid(
                        p,
                        seconds,
                        f"must be greater than 0 and less than terminationGracePeriodSeconds "
                        f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature "
                        "gate for zero sleep.",
                    )
                )
    if not count:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _probe(probe: dict | None, grace: int | None, path: str, kind: str) -> list[FieldError]:
    if probe is None:
        return []
    errs = _handler(probe, grace, path, allow_sleep=False)
    for name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += meta.nonnegative(probe.get(name, 0), child(path, name))
    grace_override = probe.get("terminationGracePeriodSeconds")
    if grace_override is not None and grace_override <= 0:
        errs.append(
            invalid(child(path, "terminationGracePeriodSeconds"), grace_override, "must be greater than 0")
        )
    if kind == "readinessProbe":
        if grace_override is not None:
            errs.append(
                invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    grace_override,
                    "must not be set for readinessProbes",
                )
            )
    elif probe.get("successThreshold", 1) != 1:
        errs.append(invalid(child(path, "successThreshold"), probe.get("successThreshold"), "must be 1"))
    return errs


def _probes_and_lifecycle(ctr: dict, grace: int | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    lifecycle = ctr.get("lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errs += _handler(lifecycle[hook], grace, child(path, "lifecycle", hook), allow_sleep=True)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        errs += _probe(ctr.get(kind), grace, child(path, kind), kind)
    return errs


def _resize_policy(policies: list | None, restart_policy: str, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, policy in enumerate(policies or []):
        name, restart = policy.get("resourceName", ""), policy.get("restartPolicy", "")
        if name in seen:
            errs.append(duplicate(index(path, i), name))
        seen.add(name)
        errs += meta.one_of(name, ["cpu", "memory"], path)
        errs += meta.one_of(restart, ["NotRequired", "RestartContainer"], path)
        if restart_policy == "Never" and restart != "NotRequired":
            errs.append(invalid(path, restart, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errs


def seccomp_profile(profile: dict | None, path: str) -> list[FieldError]:
    if profile is None:
        return []
    kind = profile.get("type", "")
    errs: list[FieldError] = []
    if not kind:
        errs.append(required(child(path, "type"), "type is required when seccompProfile is set"))
    else:
        errs += meta.supported(kind, ["Localhost", "RuntimeDefault", "Unconfined"], child(path, "type"))
    if kind == "Localhost":
        if profile.get("localhostProfile") is None:
            errs.append(
                required(child(path, "localhostProfile"), "must be set when seccomp type is Localhost")
            )
        else:
            errs += volumes.local_descending_path(
                profile["localhostProfile"], child(path, "localhostProfile")
            )
    elif profile.get("localhostProfile") is not None:
        errs.append(
            invalid(
                child(path, "localhostProfile"), profile, "can only be set when seccomp type is Localhost"
            )
        )
    return errs


def _apparmor_profile(profile: dict | None, path: str) -> list[FieldError]:
    if profile is None:
        return []
    kind, local = profile.get("type", ""), profile.get("localhostProfile")
    if kind == "Localhost":
        if local is None or not local.strip():
            return [required(child(path, "localhostProfile"), "must be set when AppArmor type is Localhost")]
        errs = (
            []
            if local == local.strip()
            else [invalid(child(path, "localhostProfile"), local, "must not be padded with whitespace")]
        )
        if len(local) > 4095:
            errs.append(
                FieldError("TooLong", child(path, "localhostProfile"), "may not be more than 4095 bytes")
            )
        return errs
    if kind in ("RuntimeDefault", "Unconfined"):
        if local is not None:
            return [
                invalid(
                    child(path, "localhostProfile"), local, "can only be set when AppArmor type is Localhost"
                )
            ]
        return []
    if not kind:
        return [required(child(path, "type"), "type is required when appArmorProfile is set")]
    return [not_supported(child(path, "type"), kind, ["Localhost", "RuntimeDefault", "Unconfined"])]


def _ids(sc: dict, path: str, names: tuple[str, ...]) -> list[FieldError]:
    return [
        e
        for name in names
        if sc.get(name) is not None
        for e in each_message(child(path, name), sc[name], is_valid_user_id(sc[name]))
    ]


def container_security_context(sc: dict | None, path: str, host_users: bool) -> list[FieldError]:
    if sc is None:
        return []
    errs = _ids(sc, path, ("runAsUser", "runAsGroup"))
    proc_mount = sc.get("procMount")
    if proc_mount is not None:
        errs += meta.supported(proc_mount, ["Default", "Unmasked"], child(path, "procMount"))
        if host_users and proc_mount == "Unmasked":
            errs.append(
                invalid(child(path, "procMount"), proc_mount, "`hostUsers` must be false to use `Unmasked`")
            )
    errs += seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged"):
            errs.append(
                invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
            )
        if "CAP_SYS_ADMIN" in ((sc.get("capabilities") or {}).get("add") or []):
            errs.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
                )
            )
    errs += _windows_options(sc.get("windowsOptions"), child(path, "windowsOptions"))
    return errs + _apparmor_profile(sc.get("appArmorProfile"), child(path, "appArmorProfile"))


def _windows_options(options: dict | None, path: str) -> list[FieldError]:
    if options is None:
        return []
    errs: list[FieldError] = []
    spec_name = options.get("gmsaCredentialSpecName")
    if spec_name is not None:
        errs += each_message(
            child(path, "gmsaCredentialSpecName"), spec_name, name_is_dns_subdomain(spec_name, False)
        )
    user = options.get("runAsUserName")
    if user is not None and not user:
        errs.append(invalid(child(path, "runAsUserName"), user, "runAsUserName cannot be an empty string"))
    return errs


def container_common(
    ctr: dict, vols: dict[str, dict], claims: set[str], path: str, restart_policy: str, host_users: bool
) -> list[FieldError]:
    """validateContainerCommon: what every container kind (regular, init, ephemeral) must get right."""
    name = ctr.get("name", "")
    errs = [required(child(path, "name"), "")] if not name else meta.dns1123_label(name, child(path, "name"))
    if not ctr.get("image"):
        errs.append(required(child(path, "image"), ""))
    policy = ctr.get("terminationMessagePolicy", "")
    errs += meta.one_of(policy, ["File", "FallbackToLogsOnError"], child(path, "terminationMessagePolicy"))
    errs += _ports(ctr.get("ports"), child(path, "ports"))
    errs += _env(ctr.get("env"), child(path, "env"))
    errs += _env_from(ctr.get("envFrom"), child(path, "envFrom"))
    errs += volumes.volume_mounts(ctr, vols, child(path, "volumeMounts"))
    errs += volumes.volume_devices(ctr, vols, child(path, "volumeDevices"))
    errs += volumes.pull_policy(ctr.get("imagePullPolicy", ""), child(path, "imagePullPolicy"))
    errs += resources.requirements(ctr.get("resources"), child(path, "resources"), claims)
    errs += _resize_policy(ctr.get("resizePolicy"), restart_policy, child(path, "resizePolicy"))
    return errs + container_security_context(
        ctr.get("securityContext"), child(path, "securityContext"), host_users
    )


def _host_port_conflicts(containers: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(ctr.get("ports") or []):
            if not port.get("hostPort"):
                continue
            entry = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{port['hostPort']}"
            if entry in seen:
                errs.append(duplicate(child(index(child(index(path, ci), "ports"), pi), "hostPort"), entry))
            seen.add(entry)
    return errs


def _containers(
    spec: dict, vols: dict, claims: set[str], grace: int | None, path: str, host_users: bool
) -> list[FieldError]:
    containers = spec.get("containers") or []
    if not containers:
        return [required(path, "")]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, ctr in enumerate(containers):
        p = index(path, i)
        errs += container_common(ctr, vols, claims, p, spec.get("restartPolicy", ""), host_users)
        if ctr.get("name", "") in names:
            errs.append(duplicate(child(p, "name"), ctr.get("name", "")))
        names.add(ctr.get("name", ""))
        errs += _probes_and_lifecycle(ctr, grace, p)
        if ctr.get("restartPolicy") is not None:
            errs.append(forbidden(child(p, "restartPolicy"), "may not be set for non-init containers"))
    return errs + _host_port_conflicts(containers, path)


def _init_containers(
    spec: dict, vols: dict, claims: set[str], grace: int | None, path: str, host_users: bool
) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {c.get("name") for c in spec.get("containers") or []}
    for i, ctr in enumerate(spec.get("initContainers") or []):
        p = index(path, i)
        errs += container_common(ctr, vols, claims, p, spec.get("restartPolicy", ""), host_users)
        restart = ctr.get("restartPolicy")
        if restart is not None:
            errs += meta.supported(restart, ["Always"], child(p, "restartPolicy"))
        if ctr.get("name") in names:
            errs.append(duplicate(child(p, "name"), ctr.get("name", "")))
        elif ctr.get("name"):
            names.add(ctr["name"])
        errs += _host_port_conflicts([ctr], path)
        if restart == "Always":
            errs += _probes_and_lifecycle(ctr, grace, p)
        else:
            errs += [
                forbidden(child(p, name), "may not be set for init containers without restartPolicy=Always")
                for name in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
                if ctr.get(name) is not None
            ]
        if ctr.get("resizePolicy"):
            errs.append(
                invalid(child(p, "resizePolicy"), ctr["resizePolicy"], "must not be set for init containers")
            )
    return errs


def _ephemeral_containers(
    spec: dict, vols: dict, claims: set[str], path: str, host_users: bool
) -> list[FieldError]:
    errs: list[FieldError] = []
    others = {c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
    names = set(others)
    for i, ctr in enumerate(spec.get("ephemeralContainers") or []):
        p = index(path, i)
        errs += container_common(ctr, vols, claims, p, spec.get("restartPolicy", ""), host_users)
        errs += _image_whitespace(ctr, p)
        if ctr.get("name") in names:
            errs.append(duplicate(child(p, "name"), ctr.get("name", "")))
        names.add(ctr.get("name"))
        target = ctr.get("targetContainerName", "")
        if target and target not in others:
            errs.append(not_found(child(p, "targetContainerName"), target))
        errs += [
            forbidden(child(p, name), "cannot be set for an Ephemeral Container")
            for name in _EPHEMERAL_FORBIDDEN
            if ctr.get(name) not in (None, [], {})
        ]
        for j, mount in enumerate(ctr.get("volumeMounts") or []):
            errs += [
                forbidden(
                    child(index(child(p, "volumeMounts"), j), name),
                    "cannot be set for an Ephemeral Container",
                )
                for name in ("subPath", "subPathExpr")
                if mount.get(name)
            ]
    return errs


def _image_whitespace(ctr: dict, path: str) -> list[FieldError]:
    image = ctr.get("image", "")
    return (
        [invalid(child(path, "image"), image, "must not have leading or trailing whitespace")]
        if image != image.strip()
        else []
    )


# --- the pod spec


def _pod_security_context(spec: dict, path: str) -> list[FieldError]:
    sc = spec.get("securityContext")
    if sc is None:
        return []
    errs = _ids(sc, path, ("fsGroup", "runAsUser", "runAsGroup"))
    for i, gid in enumerate(sc.get("supplementalGroups") or []):
        errs += each_message(index(child(path, "supplementalGroups"), i), gid, is_valid_user_id(gid))
    if sc.get("shareProcessNamespace") and spec.get("hostPID"):
        errs.append(
            invalid(
                child(path, "shareProcessNamespace"),
                True,
                "ShareProcessNamespace and HostPID cannot both be enabled",
            )
        )
    errs += _sysctls(sc.get("sysctls") or [], spec, child(path, "sysctls"))
    if sc.get("fsGroupChangePolicy") is not None:
        errs += meta.supported(
            sc["fsGroupChangePolicy"], ["Always", "OnRootMismatch"], child(path, "fsGroupChangePolicy")
        )
    errs += seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    errs += _windows_options(sc.get("windowsOptions"), child(path, "windowsOptions"))
    errs += _apparmor_profile(sc.get("appArmorProfile"), child(path, "appArmorProfile"))
    if sc.get("supplementalGroupsPolicy") is not None:
        errs += meta.supported(
            sc["supplementalGroupsPolicy"], ["Merge", "Strict"], child(path, "supplementalGroupsPolicy")
        )
    if sc.get("seLinuxChangePolicy") is not None:
        errs += meta.supported(
            sc["seLinuxChangePolicy"], ["MountOption", "Recursive"], child(path, "seLinuxChangePolicy")
        )
    return errs


def _sysctls(items: list, spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, sysctl in enumerate(items):
        p = child(index(path, i), "name")
        name = sysctl.get("name", "")
        if not name:
            errs.append(required(p, ""))
        elif len(name) > 253 or not _SYSCTL.match(name):
            errs.append(invalid(p, name, _SYSCTL_ERROR))
        elif name in names:
            errs.append(duplicate(p, name))
        normalized = name.replace("/", ".")
        if spec.get("hostNetwork") and normalized.startswith(_NET_SYSCTLS):
            errs.append(invalid(p, name, "may not be specified when 'hostNetwork' is true"))
        elif spec.get("hostIPC") and normalized.startswith(_IPC_SYSCTLS):
            errs.append(invalid(p, name, "may not be specified when 'hostIPC' is true"))
        names.add(name)
    return errs


def _dns_config(spec: dict, path: str) -> list[FieldError]:
    config, policy = spec.get("dnsConfig"), spec.get("dnsPolicy")
    if policy == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.get("nameservers"):
            return [
                required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if config is None:
        return []
    errs: list[FieldError] = []
    servers, searches = config.get("nameservers") or [], config.get("searches") or []
    if len(servers) > 3:
        errs.append(
            invalid(
                child(path, "nameservers"),
                golit.string_slice(servers),
                "must not have more than 3 nameservers",
            )
        )
    errs += [
        invalid(index(child(path, "nameservers"), i), ns, IP_ERROR)
        for i, ns in enumerate(servers)
        if not parse_ip(ns)
    ]
    if len(searches) > 32:
        errs.append(
            invalid(
                child(path, "searches"),
                golit.string_slice(searches),
                "must not have more than 32 search paths",
            )
        )
    if len(" ".join(searches)) > 2048:
        errs.append(
            invalid(
                child(path, "searches"),
                golit.string_slice(searches),
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for i, search in enumerate(searches):
        errs += meta.dns1123_subdomain(search.removesuffix("."), index(child(path, "searches"), i))
    errs += [
        required(index(child(path, "options"), i), "must not be empty")
        for i, option in enumerate(config.get("options") or [])
        if not option.get("name")
    ]
    return errs


def _host_network_ports(spec: dict, path: str, is_pod: bool) -> list[FieldError]:
    if not spec.get("hostNetwork"):
        return []
    errs: list[FieldError] = []
    for i, ctr in enumerate(spec.get("containers") or []):
        for j, port in enumerate(ctr.get("ports") or []):
            host, ctr_port = port.get("hostPort", 0), port.get("containerPort", 0)
            if (is_pod or host) and host != ctr_port:
                errs.append(
                    invalid(
                        child(index(child(index(child(path, "containers"), i), "ports"), j), "hostPort"),
                        host,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
    return errs


def _host_users(spec: dict, path: str) -> list[FieldError]:
    if (spec.get("securityContext") or {}).get("hostUsers") is not False:
        return []
    return [
        forbidden(child(path, name), "when `pod.Spec.HostUsers` is false")
        for field_name, name in (
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "HostPID"),
            ("hostIPC", "HostIPC"),
        )
        if spec.get(field_name)
    ]


def _resource_claims(claims: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, claim in enumerate(claims or []):
        p = index(path, i)
        name = claim.get("name", "")
        if not name:
            errs.append(required(child(p, "name"), ""))
        elif name in names:
            errs.append(duplicate(child(p, "name"), name))
        else:
            errs += meta.dns1123_label(name, child(p, "name"))
            names.add(name)
        sources = [s for s in ("resourceClaimName", "resourceClaimTemplateName") if claim.get(s) is not None]
        if len(sources) == 2:
            errs.append(
                invalid(
                    p,
                    claim,
                    "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
                )
            )
        if not sources:
            errs.append(
                invalid(p, claim, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`")
            )
        for s in sources:
            errs += meta.name_with(name_is_dns_subdomain, claim[s], child(p, s))
    return errs


def _os(spec: dict, path: str) -> list[FieldError]:
    os_spec = spec.get("os")
    if os_spec is None:
        return []
    name = os_spec.get("name", "")
    if not name:
        return [required(child(path, "os", "name"), "cannot be empty")]
    if name not in ("linux", "windows"):
        return [not_supported(child(path, "os"), name, ["linux", "windows"])]
    containers = [
        (index(child(path, kind), i), c)
        for kind in ("containers", "initContainers", "ephemeralContainers")
        for i, c in enumerate(spec.get(kind) or [])
    ]
    if name == "linux":
        errs = []
        if (spec.get("securityContext") or {}).get("windowsOptions") is not None:
            errs.append(
                forbidden(
                    child(path, "securityContext", "windowsOptions"),
                    "windows options cannot be set for a linux pod",
                )
            )
        return errs + [
            forbidden(
                child(p, "securityContext", "windowsOptions"), "windows options cannot be set for a linux pod"
            )
            for p, c in containers
            if (c.get("securityContext") or {}).get("windowsOptions") is not None
        ]
    return _windows_pod(spec, path, containers)


_WINDOWS_POD_FORBIDDEN = (
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "fsGroup",
    "fsGroupChangePolicy",
    "sysctls",
    "runAsUser",
    "runAsGroup",
    "supplementalGroups",
    "supplementalGroupsPolicy",
    "seLinuxChangePolicy",
)
_WINDOWS_CONTAINER_FORBIDDEN = (
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
)


def _windows_pod(spec: dict, path: str, containers: list[tuple[str, dict]]) -> list[FieldError]:
    msg = "cannot be set for a windows pod"
    sc = spec.get("securityContext") or {}
    errs = [
        forbidden(child(path, "securityContext", name), msg)
        for name in _WINDOWS_POD_FORBIDDEN
        if sc.get(name) not in (None, [])
    ]
    errs += [forbidden(child(path, name), msg) for name in ("hostPID", "hostIPC") if spec.get(name)]
    if sc.get("hostUsers") is not None:
        errs.append(forbidden(child(path, "hostUsers"), msg))
    if spec.get("shareProcessNamespace") is not None:
        errs.append(forbidden(child(path, "shareProcessNamespace"), msg))
    for p, c in containers:
        csc = c.get("securityContext") or {}
        errs += [
            forbidden(child(p, "securityContext", name), msg)
            for name in _WINDOWS_CONTAINER_FORBIDDEN
            if csc.get(name) is not None
        ]
    return errs


def pod_spec(spec: dict, path: str, pod_name: str = "", is_pod: bool = False) -> list[FieldError]:
    """ValidatePodSpec, in upstream's order."""
    errs: list[FieldError] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds"), ""))
    host_users = (spec.get("securityContext") or {}).get("hostUsers") is not False
    vols, verrs = volumes.pod_volumes(spec.get("volumes"), child(path, "volumes"), pod_name, is_pod)
    errs += verrs
    claims = {c.get("name") for c in spec.get("resourceClaims") or [] if c.get("name")}
    errs += _resource_claims(spec.get("resourceClaims"), child(path, "resourceClaims"))
    errs += _containers(spec, vols, claims, grace, child(path, "containers"), host_users)
    errs += _init_containers(spec, vols, claims, grace, child(path, "initContainers"), host_users)
    errs += _ephemeral_containers(spec, vols, claims, child(path, "ephemeralContainers"), host_users)
    errs += _host_network_ports(spec, path, is_pod)
    restart = spec.get("restartPolicy", "")
    errs += meta.one_of(restart, RESTART_POLICIES, child(path, "restartPolicy"))
    dns_policy = spec.get("dnsPolicy", "")
    errs += meta.one_of(dns_policy, DNS_POLICIES, child(path, "dnsPolicy"))
    errs += meta.labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    errs += _pod_security_context(spec, child(path, "securityContext"))
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        if set(secret) - {"name"}:
            errs.append(invalid(index(child(path, "imagePullSecrets"), i), secret, "only name may be set"))
    errs += affinity.affinity(spec.get("affinity"), child(path, "affinity"))
    errs += _dns_config(spec, child(path, "dnsConfig"))
    for i, gate in enumerate(spec.get("readinessGates") or []):
        errs += meta.qualified_name(
            gate.get("conditionType", ""), child(index(child(path, "readinessGates"), i), "conditionType")
        )
    seen_gates: set[str] = set()
    for i, gate in enumerate(spec.get("schedulingGates") or []):
        p = index(child(path, "schedulingGates"), i)
        errs += meta.qualified_name(gate.get("name", ""), p)
        if gate.get("name") in seen_gates:
            errs.append(duplicate(p, gate.get("name", "")))
        seen_gates.add(gate.get("name", ""))
    errs += affinity.topology_spread(
        spec.get("topologySpreadConstraints"), child(path, "topologySpreadConstraints")
    )
    errs += _host_users(spec, path)
    for name in ("serviceAccountName", "nodeName"):
        if spec.get(name):
            errs += meta.name_with(name_is_dns_subdomain, spec[name], child(path, name))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        errs.append(
            invalid(child(path, "activeDeadlineSeconds"), deadline, inclusive_range_error(1, MAX_INT32))
        )
    for name in ("hostname", "subdomain"):
        if spec.get(name):
            errs += meta.dns1123_label(spec[name], child(path, name))
    errs += affinity.tolerations(spec.get("tolerations"), child(path, "tolerations"))
    for i, alias in enumerate(spec.get("hostAliases") or []):
        p = index(child(path, "hostAliases"), i)
        if not parse_ip(alias.get("ip", "")):
            errs.append(invalid(child(p, "ip"), alias.get("ip", ""), IP_ERROR))
        for j, host in enumerate(alias.get("hostnames") or []):
            errs += meta.dns1123_subdomain(host, index(child(p, "hostnames"), j))
    for name in ("priorityClassName", "runtimeClassName"):
        if spec.get(name):
            errs += meta.name_with(name_is_dns_subdomain, spec[name], child(path, name))
    preemption = spec.get("preemptionPolicy")
    if preemption is not None:
        errs += preemption_policy(preemption, child(path, "preemptionPolicy"))
    if spec.get("overhead") is not None:
        errs += resources.requirements({"limits": spec["overhead"]}, child(path, "overhead"), claims)
    return errs + _os(spec, path)


def preemption_policy(value: str, path: str) -> list[FieldError]:
    return meta.one_of(value, ["PreemptLowerPriority", "Never"], path)


def pod_annotations(annotations: dict | None, spec: dict, path: str) -> list[FieldError]:
    """ValidatePodSpecificAnnotations: mirror pods, deletion cost, legacy seccomp/AppArmor annotations."""
    annotations = annotations or {}
    errs: list[FieldError] = []
    if MIRROR_POD_ANNOTATION in annotations and not spec.get("nodeName"):
        errs.append(
            invalid(
                key(path, MIRROR_POD_ANNOTATION),
                annotations[MIRROR_POD_ANNOTATION],
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    if DELETION_COST_ANNOTATION in annotations:
        cost = annotations[DELETION_COST_ANNOTATION]
        if not is_signed_int(cost) or not -(2**31) <= int(cost) <= MAX_INT32:
            errs.append(invalid(key(path, DELETION_COST_ANNOTATION), cost, "must be a 32bit integer"))
    for name, value in annotations.items():
        if name == SECCOMP_POD_ANNOTATION or name.startswith(SECCOMP_CONTAINER_PREFIX):
            errs += _legacy_seccomp(value, child(path, name))
        if name.startswith(APPARMOR_PREFIX):
            container = name[len(APPARMOR_PREFIX) :]
            names = {
                c.get("name")
                for kind in ("containers", "initContainers", "ephemeralContainers")
                for c in spec.get(kind) or []
            }
            if container not in names:
                errs.append(invalid(key(path, name), container, "container not found"))
            if value not in ("", "runtime/default", "unconfined") and not value.startswith("localhost/"):
                errs.append(invalid(key(path, name), value, f'invalid AppArmor profile name: "{value}"'))
    return errs


def _legacy_seccomp(profile: str, path: str) -> list[FieldError]:
    if profile in ("runtime/default", "docker/default", "unconfined"):
        return []
    if profile.startswith("localhost/"):
        return volumes.local_descending_path(profile[len("localhost/") :], path)
    return [invalid(path, profile, "must be a valid seccomp profile")]


def template_spec(template: dict | None, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: the pod template inside a workload."""
    template = template or {}
    m = template.get("metadata") or {}
    spec = template.get("spec") or {}
    errs = meta.labels(m.get("labels"), child(path, "labels"))
    errs += meta.annotations(m.get("annotations"), child(path, "annotations"))
    errs += pod_annotations(m.get("annotations"), spec, child(path, "annotations"))
    errs += pod_spec(spec, child(path, "spec"))
    if spec.get("ephemeralContainers"):
        errs.append(
            forbidden(
                child(path, "spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"
            )
        )
    return errs


def selector_mismatch(template_path: str, labels: dict | None) -> FieldError:
    """A pod controller's selector that does not select its own template's labels."""
    return invalid(
        child(template_path, "metadata", "labels"),
        golit.string_map(labels),
        "`selector` does not match template `labels`",
    )


def workload_template(template: dict | None, selector_ok: bool, path: str, owner: str) -> list[FieldError]:
    """ValidatePodTemplateSpecForReplicaSet (and RC): labels match the selector, pods always restart."""
    template = template or {}
    spec = template.get("spec") or {}
    errs: list[FieldError] = []
    if not selector_ok:
        errs.append(selector_mismatch(path, (template.get("metadata") or {}).get("labels")))
    errs += template_spec(template, path)
    return errs + always_restarted(spec, path, owner)


def always_restarted(spec: dict, template_path: str, owner: str) -> list[FieldError]:
    """What every pod controller asks of its template's pod spec: restartPolicy Always and no
    activeDeadlineSeconds (`owner` names the controller in the message)."""
    errs: list[FieldError] = []
    if spec.get("restartPolicy") != "Always":
        errs.append(
            not_supported(
                child(template_path, "spec", "restartPolicy"), spec.get("restartPolicy", ""), ["Always"]
            )
        )
    if spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                child(template_path, "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return errs


# --- Pod create and update


def validate_pod(pod: dict) -> list[FieldError]:
    """validatePodMetadataAndSpec: what both create and update check of the pod itself."""
    m = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    errs = meta.object_meta(m, True, name_is_dns_subdomain)
    errs += pod_annotations(m.get("annotations"), spec, "metadata.annotations")
    errs += pod_spec(spec, "spec", m.get("name", ""), is_pod=True)
    if not spec.get("serviceAccountName"):
        for vi, vol in enumerate(spec.get("volumes") or []):
            for si, source in enumerate((vol.get("projected") or {}).get("sources") or []):
                if source.get("serviceAccountToken") is not None:
                    errs.append(
                        forbidden(
                            f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                            "must not be specified when serviceAccountName is not set",
                        )
                    )
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(spec.get(kind) or []):
            errs += _image_whitespace(ctr, index(child("spec", kind), i))
    return errs


def validate_pod_create(pod: dict) -> list[FieldError]:
    spec = pod.get("spec") or {}
    errs = validate_pod(pod)
    if spec.get("ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if spec.get("nodeName") and spec.get("schedulingGates"):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    """ValidatePodUpdate: a running pod may change little more than its images and deadline."""
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
    errs += validate_pod(new)
    errs += _annotation_updates(new, old)
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for kind in ("containers", "initContainers"):
        new_ctrs, old_ctrs = spec.get(kind) or [], old_spec.get(kind) or []
        if len(new_ctrs) != len(old_ctrs):
            return errs + [forbidden(child("spec", kind), "pod updates may not add or remove containers")]
        for i, ctr in enumerate(new_ctrs):
            if not ctr.get("image"):
                errs.append(required(child(index(child("spec", kind), i), "image"), ""))
            errs += _image_whitespace(ctr, index(child("spec", kind), i))
    deadline, old_deadline = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        if not 0 <= deadline <= MAX_INT32:
            return errs + [
                invalid("spec.activeDeadlineSeconds", deadline, inclusive_range_error(0, MAX_INT32))
            ]
        if old_deadline is not None and old_deadline < deadline:
            return errs + [
                invalid(
                    "spec.activeDeadlineSeconds", deadline, "must be less than or equal to previous value"
                )
            ]
    elif old_deadline is not None:
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )
    errs += _only_added_tolerations(spec.get("tolerations") or [], old_spec.get("tolerations") or [])
    errs += _only_deleted_gates(spec.get("schedulingGates") or [], old_spec.get("schedulingGates") or [])
    if spec == old_spec:
        return errs
    munged = copy.deepcopy(spec)
    for kind in ("containers", "initContainers"):
        for ctr, old_ctr in zip(munged.get(kind) or [], old_spec.get(kind) or [], strict=False):
            ctr["image"] = old_ctr.get("image")
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        _copy_field(munged, old_spec, name)
    if not old_spec.get("nodeName"):
        # pods/binding assigns the node through this same update path; kube-apiserver's binding
        # storage sets it without pod update validation
        _copy_field(munged, old_spec, "nodeName")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if old_spec.get("schedulingGates"):
        errs += _gated_pod_mutations(munged, old_spec)
    if munged != old_spec:
        errs.append(
            forbidden(
                "spec",
                f"pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n"
                + diff.render("core.PodSpec", old_spec, munged),
            )
        )
    return errs


def _copy_field(target: dict, source: dict, name: str) -> None:
    if name in source:
        target[name] = copy.deepcopy(source[name])
    else:
        target.pop(name, None)


def _gated_pod_mutations(munged: dict, old_spec: dict) -> list[FieldError]:
    """A pod still held by scheduling gates may gain node selectors and node affinity terms."""
    errs: list[FieldError] = []
    new_selector, old_selector = munged.get("nodeSelector") or {}, old_spec.get("nodeSelector") or {}
    if new_selector != old_selector:
        if any(new_selector.get(k) != v for k, v in old_selector.items()):
            errs.append(
                invalid(
                    "spec.nodeSelector",
                    golit.string_map(new_selector),
                    "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                )
            )
        _copy_field(munged, old_spec, "nodeSelector")
    old_affinity, new_affinity = old_spec.get("affinity"), munged.get("affinity")
    old_node = (old_affinity or {}).get("nodeAffinity")
    new_node = (new_affinity or {}).get("nodeAffinity")
    if new_node == old_node:
        return errs
    if old_node and old_node.get("requiredDuringSchedulingIgnoredDuringExecution"):
        errs += _node_affinity_additions(new_node, old_node)
    if new_affinity is None:
        if old_node is not None:
            munged["affinity"] = {"nodeAffinity": old_node}
    elif (
        old_affinity is None
        and not new_affinity.get("podAffinity")
        and not new_affinity.get("podAntiAffinity")
    ):
        munged.pop("affinity")
    else:
        munged["affinity"] = {**new_affinity, "nodeAffinity": old_node}
        if old_node is None:
            munged["affinity"].pop("nodeAffinity")
    return errs


def _node_affinity_additions(new_node: dict | None, old_node: dict) -> list[FieldError]:
    path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    old_terms = old_node["requiredDuringSchedulingIgnoredDuringExecution"].get("nodeSelectorTerms") or []
    new_terms = ((new_node or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    if old_terms and len(old_terms) != len(new_terms):
        return [
            invalid(path, new_terms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed")
        ]
    return [
        invalid(index(path, i), new_term, "only additions are allowed (no mutations or deletions)")
        for i, (new_term, old_term) in enumerate(zip(new_terms, old_terms, strict=False))
        if not _term_only_adds(new_term, old_term)
    ]


def _term_only_adds(new_term: dict, old_term: dict) -> bool:
    old_exprs, old_fields = old_term.get("matchExpressions") or [], old_term.get("matchFields") or []
    new_exprs, new_fields = new_term.get("matchExpressions") or [], new_term.get("matchFields") or []
    if not old_exprs and not old_fields and (new_exprs or new_fields):
        return False
    return new_exprs[: len(old_exprs)] == old_exprs and new_fields[: len(old_fields)] == old_fields


def _only_added_tolerations(new: list, old: list) -> list[FieldError]:
    for old_t in old:
        if not any(
            {**old_t, "tolerationSeconds": t.get("tolerationSeconds")}
            == {**t, "tolerationSeconds": t.get("tolerationSeconds")}
            for t in new
        ):
            return [
                forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return affinity.tolerations(new, "spec.tolerations")


def _only_deleted_gates(new: list, old: list) -> list[FieldError]:
    old_names = {g.get("name") for g in old}
    return [
        forbidden(
            f"spec.schedulingGates[{i}].name",
            f"only deletion is allowed, but found new scheduling gate '{g.get('name', '')}'",
        )
        for i, g in enumerate(new)
        if g.get("name") not in old_names
    ]


def _annotation_updates(new: dict, old: dict) -> list[FieldError]:
    new_ann = (new.get("metadata") or {}).get("annotations") or {}
    old_ann = (old.get("metadata") or {}).get("annotations") or {}
    path = "metadata.annotations"
    errs: list[FieldError] = []
    for name, value in old_ann.items():
        if new_ann.get(name) == value and name in new_ann:
            continue
        if name.startswith(APPARMOR_PREFIX):
            errs.append(forbidden(key(path, name), "may not remove or update AppArmor annotations"))
        if name == MIRROR_POD_ANNOTATION:
            errs.append(forbidden(key(path, name), "may not remove or update mirror pod annotation"))
    for name in new_ann:
        if name in old_ann:
            continue
        if name.startswith(APPARMOR_PREFIX):
            errs.append(forbidden(key(path, name), "may not add AppArmor annotations"))
        if name == MIRROR_POD_ANNOTATION:
            errs.append(forbidden(key(path, name), "may not add mirror pod annotation"))
    return errs + pod_annotations(new_ann, new.get("spec") or {}, path)
