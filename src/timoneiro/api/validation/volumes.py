"""Volumes: pod volume sources and mounts, PersistentVolume and PersistentVolumeClaim specs."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from fractions import Fraction

from timoneiro.api import quantity
from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, not_found, not_supported, required
from timoneiro.api.validation import affinity, diff
from timoneiro.api.validation.meta import (
    child,
    dns1123_label,
    dns1123_subdomain,
    each_message,
    index,
    key,
    label_selector,
    one_of,
    qualified_name,
    supported,
    template_meta,
)
from timoneiro.api.validation.names import (
    inclusive_range_error,
    is_config_map_key,
    is_dns1123_subdomain,
    name_is_dns_label,
    name_is_dns_subdomain,
)
from timoneiro.api.validation.resources import parsed, positive_quantity, quantity_value

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
VOLUME_MODES = ["Block", "Filesystem"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]
ENV_FIELD_PATHS = sorted(
    {
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
VOLUME_FIELD_PATHS = sorted(
    {"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations", "metadata.uid"}
)
RESOURCE_FIELD_PATHS = sorted(
    {
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
    }
)
_DOWNWARD_LABELS = {
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
}
_MEMORY_DIVISORS = {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
_DIVISOR_RULES = (
    (
        ("limits.cpu", "requests.cpu"),
        {"1m", "1"},
        "only divisor's values 1m and 1 are supported with the cpu resource",
    ),
    (
        ("limits.memory", "requests.memory"),
        _MEMORY_DIVISORS,
        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the "
        "memory resource",
    ),
    (
        ("limits.ephemeral-storage", "requests.ephemeral-storage"),
        _MEMORY_DIVISORS,
        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the "
        "local ephemeral storage resource",
    ),
)

Check = Callable[[dict, str], list[FieldError]]


# --- paths and small shared checks


def no_backsteps(target: str, path: str) -> list[FieldError]:
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def local_descending_path(target: str, path: str) -> list[FieldError]:
    errs = [invalid(path, target, "must be a relative path")] if target.startswith("/") else []
    return errs + no_backsteps(target, path)


def local_non_reserved_path(target: str, path: str) -> list[FieldError]:
    errs = local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


def _mode(value: int | None, path: str) -> list[FieldError]:
    if value is not None and not 0 <= value <= 0o777:
        return [invalid(path, value, FILE_MODE_ERROR)]
    return []


def _required_fields(*names: str) -> Check:
    def check(source: dict, path: str) -> list[FieldError]:
        return [required(child(path, n), "") for n in names if not source.get(n)]

    return check


def _partition(source: dict, path: str) -> list[FieldError]:
    partition = source.get("partition", 0)
    return (
        []
        if 0 <= partition <= 255
        else [invalid(child(path, "partition"), partition, inclusive_range_error(1, 255))]
    )


def _all(*checks: Check) -> Check:
    def check(source: dict, path: str) -> list[FieldError]:
        return [e for c in checks for e in c(source, path)]

    return check


# --- individual volume sources


def _empty_dir(source: dict, path: str) -> list[FieldError]:
    limit = source.get("sizeLimit")
    if limit is not None:
        q, errs = parsed(limit, child(path, "sizeLimit"))
        if errs or (q is not None and q.sign() < 0):
            return [forbidden(child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity")]
    return []


def _host_path(source: dict, path: str) -> list[FieldError]:
    if not source.get("path"):
        return [required(child(path, "path"), "")]
    errs = no_backsteps(source["path"], child(path, "path"))
    if source.get("type") is not None and source["type"] not in HOST_PATH_TYPES:
        errs.append(not_supported(child(path, "type"), source["type"], HOST_PATH_TYPES))
    return errs


def _git_repo(source: dict, path: str) -> list[FieldError]:
    errs = [] if source.get("repository") else [required(child(path, "repository"), "")]
    return errs + local_descending_path(source.get("directory", ""), child(path, "directory"))


def key_to_path(item: dict, path: str) -> list[FieldError]:
    errs = [] if item.get("key") else [required(child(path, "key"), "")]
    if not item.get("path"):
        errs.append(required(child(path, "path"), ""))
    errs += local_non_reserved_path(item.get("path", ""), child(path, "path"))
    return errs + _mode(item.get("mode"), child(path, "mode"))


def _items(source: dict, path: str) -> list[FieldError]:
    return [
        e
        for i, item in enumerate(source.get("items") or [])
        for e in key_to_path(item, index(child(path, "items"), i))
    ]


def _secret(source: dict, path: str) -> list[FieldError]:
    errs = [] if source.get("secretName") else [required(child(path, "secretName"), "")]
    return errs + _mode(source.get("defaultMode"), child(path, "defaultMode")) + _items(source, path)


def _config_map(source: dict, path: str) -> list[FieldError]:
    errs = [] if source.get("name") else [required(child(path, "name"), "")]
    return errs + _mode(source.get("defaultMode"), child(path, "defaultMode")) + _items(source, path)


def _nfs(source: dict, path: str) -> list[FieldError]:
    errs = _required_fields("server", "path")(source, path)
    if not posixpath.isabs(source.get("path", "")):
        errs.append(invalid(child(path, "path"), source.get("path", ""), "must be an absolute path"))
    return errs


def _iscsi(source: dict, path: str) -> list[FieldError]:
    errs = _required_fields("targetPortal", "iqn")(source, path)
    iqn = source.get("iqn", "")
    if iqn and not iqn.startswith(("iqn", "eui", "naa")):
        errs.append(invalid(child(path, "iqn"), iqn, "must be valid format starting with iqn, eui, or naa"))
    lun = source.get("lun", 0)
    if not 0 <= lun <= 255:
        errs.append(invalid(child(path, "lun"), lun, inclusive_range_error(0, 255)))
    if (source.get("chapAuthDiscovery") or source.get("chapAuthSession")) and source.get("secretRef") is None:
        errs.append(required(child(path, "secretRef"), ""))
    return errs


def _fc(source: dict, path: str) -> list[FieldError]:
    wwns, wwids = source.get("targetWWNs") or [], source.get("wwids") or []
    errs: list[FieldError] = []
    if not wwns and not wwids:
        errs.append(
            required(child(path, "targetWWNs"), "must specify either targetWWNs or wwids, but not both")
        )
    if wwns and wwids:
        errs.append(
            invalid(
                child(path, "targetWWNs"), wwns, "targetWWNs and wwids can not be specified simultaneously"
            )
        )
    if wwns:
        lun = source.get("lun")
        if lun is None:
            errs.append(required(child(path, "lun"), "lun is required if targetWWNs is specified"))
        elif not 0 <= lun <= 255:
            errs.append(invalid(child(path, "lun"), lun, inclusive_range_error(0, 255)))
    return errs


def _flocker(source: dict, path: str) -> list[FieldError]:
    name, uuid = source.get("datasetName", ""), source.get("datasetUUID", "")
    errs: list[FieldError] = []
    if not name and not uuid:
        errs.append(required(path, "one of datasetName and datasetUUID is required"))
    if name and uuid:
        errs.append(
            invalid(path, "resource", "datasetName and datasetUUID can not be specified simultaneously")
        )
    if "/" in name:
        errs.append(invalid(child(path, "datasetName"), name, "must not contain '/'"))
    return errs


def _flex(source: dict, path: str) -> list[FieldError]:
    errs = _required_fields("driver")(source, path)
    for option in source.get("options") or {}:
        namespace = option.split("/", 1)[0] if "/" in option else option
        if ("." + namespace.lower()).endswith((".kubernetes.io", ".k8s.io")):
            errs.append(
                invalid(
                    key(child(path, "options"), option),
                    option,
                    "kubernetes.io and k8s.io namespaces are reserved",
                )
            )
    return errs


def csi_driver_name(name: str, path: str) -> list[FieldError]:
    errs = [] if name else [required(path, "")]
    if len(name) > 63:
        errs.append(FieldError("TooLong", path, "may not be more than 63 bytes"))
    return errs + each_message(path, name, is_dns1123_subdomain(name.lower()))


def _csi(source: dict, path: str) -> list[FieldError]:
    errs = csi_driver_name(source.get("driver", ""), child(path, "driver"))
    ref = source.get("nodePublishSecretRef")
    if ref is not None:
        if not ref.get("name"):
            errs.append(required(child(path, "nodePublishSecretRef", "name"), ""))
        else:
            errs += each_message(child(path, "name"), ref["name"], name_is_dns_subdomain(ref["name"], False))
    return errs


def _storageos(source: dict, path: str) -> list[FieldError]:
    if not source.get("volumeName"):
        errs = [required(child(path, "volumeName"), "")]
    else:
        errs = dns1123_label(source["volumeName"], child(path, "volumeName"))
    if source.get("volumeNamespace"):
        errs += dns1123_label(source["volumeNamespace"], child(path, "volumeNamespace"))
    return errs


def _quobyte(source: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not source.get("registry"):
        errs.append(
            required(
                child(path, "registry"), "must be a host:port pair or multiple pairs separated by commas"
            )
        )
    if not source.get("volume"):
        errs.append(required(child(path, "volume"), ""))
    return errs


def _ephemeral(source: dict, path: str) -> list[FieldError]:
    template = source.get("volumeClaimTemplate")
    if template is None:
        return [required(child(path, "volumeClaimTemplate"), "")]
    p = child(path, "volumeClaimTemplate")
    return template_meta(template.get("metadata"), child(p, "metadata")) + pvc_spec(
        template.get("spec") or {}, child(p, "spec")
    )


def _image(source: dict, path: str, is_pod: bool) -> list[FieldError]:
    errs = [required(child(path, "reference"), "")] if is_pod and not source.get("reference") else []
    return errs + pull_policy(source.get("pullPolicy", ""), child(path, "pullPolicy"))


def pull_policy(policy: str, path: str) -> list[FieldError]:
    return one_of(policy, ["Always", "IfNotPresent", "Never"], path)


# --- downward API and projections


def object_field_selector(ref: dict, allowed: list[str], path: str) -> list[FieldError]:
    if not ref.get("apiVersion"):
        return [required(child(path, "apiVersion"), "")]
    field_path = ref.get("fieldPath", "")
    if not field_path:
        return [required(child(path, "fieldPath"), "")]
    converted = _convert_downward_label(ref["apiVersion"], field_path)
    if converted.startswith("error:"):
        return [invalid(child(path, "fieldPath"), field_path, f"error converting fieldPath: {converted[6:]}")]
    subscripted = _split_subscript(converted)
    if subscripted:
        base, subscript = subscripted
        if base == "metadata.annotations":
            return qualified_name(subscript.lower(), path)
        if base == "metadata.labels":
            return qualified_name(subscript, path)
        return [invalid(path, base, "does not support subscript")]
    if converted not in allowed:
        return [not_supported(child(path, "fieldPath"), converted, allowed)]
    return []


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    if not field_path.endswith("']"):
        return None
    base, sep, subscript = field_path[:-2].partition("['")
    return (base, subscript) if sep and base else None


def _convert_downward_label(version: str, label: str) -> str:
    """podshelper.ConvertDownwardAPIFieldLabel; an error comes back prefixed "error:"."""
    if version != "v1":
        return f"error:unsupported pod version: {version}"
    subscripted = _split_subscript(label)
    if subscripted:
        if subscripted[0] in ("metadata.annotations", "metadata.labels"):
            return label
        return f"error:field label does not support subscript: {label}"
    if label in _DOWNWARD_LABELS:
        return label
    if label == "spec.host":
        return "spec.nodeName"
    return f"error:field label not supported: {label}"


def resource_field_selector(ref: dict, path: str, volume: bool) -> list[FieldError]:
    resource = ref.get("resource", "")
    errs: list[FieldError] = []
    if volume and not ref.get("containerName"):
        errs.append(required(child(path, "containerName"), ""))
    elif not resource:
        errs.append(required(child(path, "resource"), ""))
    elif resource not in RESOURCE_FIELD_PATHS and not resource.startswith(
        ("requests.hugepages-", "limits.hugepages-")
    ):
        errs.append(not_supported(child(path, "resource"), resource, RESOURCE_FIELD_PATHS))
    divisor = ref.get("divisor")
    if divisor is None:
        return errs
    try:
        shown = str(quantity.parse(divisor))
    except quantity.QuantityError:
        shown = str(divisor)
    if shown == "0":
        return errs
    for names, allowed, msg in _DIVISOR_RULES:
        if resource in names and shown not in allowed:
            errs.append(invalid(child(path, "divisor"), resource, msg))
    if resource.startswith(("requests.hugepages-", "limits.hugepages-")) and shown not in _MEMORY_DIVISORS:
        errs.append(
            invalid(
                child(path, "divisor"),
                resource,
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, "
                "1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource",
            )
        )
    return errs


def _downward_file(item: dict, path: str) -> list[FieldError]:
    errs = [] if item.get("path") else [required(child(path, "path"), "")]
    errs += local_non_reserved_path(item.get("path", ""), child(path, "path"))
    if item.get("fieldRef") is not None:
        errs += object_field_selector(item["fieldRef"], VOLUME_FIELD_PATHS, child(path, "fieldRef"))
        if item.get("resourceFieldRef") is not None:
            errs.append(
                invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously")
            )
    elif item.get("resourceFieldRef") is not None:
        errs += resource_field_selector(item["resourceFieldRef"], child(path, "resourceFieldRef"), True)
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return errs + _mode(item.get("mode"), child(path, "mode"))


def _downward_api(source: dict, path: str) -> list[FieldError]:
    errs = _mode(source.get("defaultMode"), child(path, "defaultMode"))
    # upstream reports every item's errors at the volume's own path, without an index
    return errs + [e for item in source.get("items") or [] for e in _downward_file(item, path)]


def _projected(source: dict, path: str) -> list[FieldError]:
    errs = _mode(source.get("defaultMode"), child(path, "defaultMode"))
    seen: set[str] = set()

    def claim(p: str, shown: str) -> list[FieldError]:
        if p in seen:
            return [invalid(path, shown, "conflicting duplicate paths")]
        seen.add(p)
        return []

    for i, src in enumerate(source.get("sources") or []):
        src_path = index(child(path, "sources"), i)
        count = 0
        for name in ("secret", "configMap"):
            if src.get(name) is None:
                continue
            count += 1
            ref, p = src[name], child(src_path, name)
            if not ref.get("name"):
                errs.append(required(child(p, "name"), ""))
            for j, item in enumerate(ref.get("items") or []):
                errs += key_to_path(item, index(child(p, "items"), j))
                if item.get("path"):
                    errs += claim(item["path"], ref.get("name", ""))
        if src.get("downwardAPI") is not None:
            count += 1
            for item in src["downwardAPI"].get("items") or []:
                errs += _downward_file(item, child(src_path, "downwardAPI"))
                if item.get("path"):
                    errs += claim(item["path"], item["path"])
        token = src.get("serviceAccountToken")
        if token is not None:
            count += 1
            p = child(src_path, "serviceAccountToken")
            seconds = token.get("expirationSeconds", 3600)
            if seconds < 600:
                errs.append(
                    invalid(
                        child(p, "expirationSeconds"),
                        seconds,
                        "may not specify a duration less than 10 minutes",
                    )
                )
            if seconds > 1 << 32:
                errs.append(
                    invalid(
                        child(p, "expirationSeconds"),
                        seconds,
                        "may not specify a duration larger than 2^32 seconds",
                    )
                )
            if not token.get("path"):
                errs.append(required(child(path, "path"), ""))
            else:
                errs += local_non_reserved_path(token["path"], child(path, "path"))
        if src.get("clusterTrustBundle") is not None:
            count += 1
            bundle, p = src["clusterTrustBundle"], child(src_path, "clusterTrustBundle")
            if not bundle.get("path"):
                errs.append(required(child(p, "path"), ""))
            errs += local_non_reserved_path(bundle.get("path", ""), child(p, "path"))
            errs += claim(bundle.get("path", ""), bundle.get("path", ""))
        if count > 1:
            errs.append(forbidden(src_path, "may not specify more than 1 volume type per source"))
    return errs


def _local(source: dict, path: str) -> list[FieldError]:
    if not source.get("path"):
        return [required(child(path, "path"), "")]
    return no_backsteps(source["path"], child(path, "path"))


def _csi_persistent(source: dict, path: str) -> list[FieldError]:
    errs = csi_driver_name(source.get("driver", ""), child(path, "driver"))
    return errs + _required_fields("volumeHandle")(source, path)


# JSON key -> (path segment used in the "more than 1 volume type" error, path segment for the
# source's own errors, check). Upstream names a few of these differently from the JSON key.
_POD_SOURCES: dict[str, tuple[str, str, Check]] = {
    "emptyDir": ("emptyDir", "emptyDir", _empty_dir),
    "hostPath": ("hostPath", "hostPath", _host_path),
    "gitRepo": ("gitRepo", "gitRepo", _git_repo),
    "gcePersistentDisk": (
        "gcePersistentDisk",
        "persistentDisk",
        _all(_required_fields("pdName"), _partition),
    ),
    "awsElasticBlockStore": (
        "awsElasticBlockStore",
        "awsElasticBlockStore",
        _all(_required_fields("volumeID"), _partition),
    ),
    "secret": ("secret", "secret", _secret),
    "nfs": ("nfs", "nfs", _nfs),
    "iscsi": ("iscsi", "iscsi", _iscsi),
    "glusterfs": ("glusterfs", "glusterfs", _required_fields("endpoints", "path")),
    "flocker": ("flocker", "flocker", _flocker),
    "persistentVolumeClaim": (
        "persistentVolumeClaim",
        "persistentVolumeClaim",
        _required_fields("claimName"),
    ),
    "rbd": ("rbd", "rbd", _required_fields("monitors", "image")),
    "cinder": ("cinder", "cinder", _required_fields("volumeID")),
    "cephfs": ("cephFS", "cephfs", _required_fields("monitors")),
    "quobyte": ("quobyte", "quobyte", _quobyte),
    "downwardAPI": ("downwarAPI", "downwardAPI", _downward_api),
    "fc": ("fc", "fc", _fc),
    "flexVolume": ("flexVolume", "flexVolume", _flex),
    "configMap": ("configMap", "configMap", _config_map),
    "azureFile": ("azureFile", "azureFile", _required_fields("secretName", "shareName")),
    "vsphereVolume": ("vsphereVolume", "vsphereVolume", _required_fields("volumePath")),
    "photonPersistentDisk": ("photonPersistentDisk", "photonPersistentDisk", _required_fields("pdID")),
    "portworxVolume": ("portworxVolume", "portworxVolume", _required_fields("volumeID")),
    "azureDisk": ("azureDisk", "azureDisk", _required_fields("diskName", "diskURI")),
    "storageos": ("storageos", "storageos", _storageos),
    "projected": ("projected", "projected", _projected),
    "scaleIO": ("scaleIO", "scaleIO", _required_fields("gateway", "system", "volumeName")),
    "csi": ("csi", "csi", _csi),
    "ephemeral": ("ephemeral", "ephemeral", _ephemeral),
}

_PV_SOURCES: dict[str, tuple[str, str, Check]] = {
    "hostPath": _POD_SOURCES["hostPath"],
    "gcePersistentDisk": _POD_SOURCES["gcePersistentDisk"],
    "awsElasticBlockStore": _POD_SOURCES["awsElasticBlockStore"],
    "glusterfs": _POD_SOURCES["glusterfs"],
    "flocker": _POD_SOURCES["flocker"],
    "nfs": _POD_SOURCES["nfs"],
    "rbd": _POD_SOURCES["rbd"],
    "quobyte": _POD_SOURCES["quobyte"],
    "cephfs": _POD_SOURCES["cephfs"],
    "iscsi": _POD_SOURCES["iscsi"],
    "cinder": _POD_SOURCES["cinder"],
    "fc": _POD_SOURCES["fc"],
    "flexVolume": _POD_SOURCES["flexVolume"],
    "azureFile": _POD_SOURCES["azureFile"],
    "vsphereVolume": _POD_SOURCES["vsphereVolume"],
    "photonPersistentDisk": _POD_SOURCES["photonPersistentDisk"],
    "portworxVolume": _POD_SOURCES["portworxVolume"],
    "azureDisk": _POD_SOURCES["azureDisk"],
    "scaleIO": _POD_SOURCES["scaleIO"],
    "local": ("local", "local", _local),
    "storageos": _POD_SOURCES["storageos"],
    "csi": ("csi", "csi", _csi_persistent),
}
PV_SOURCE_KEYS = tuple(_PV_SOURCES)


def _one_source(
    source: dict, path: str, table: dict[str, tuple[str, str, Check]], extra: dict[str, Check] | None = None
) -> list[FieldError]:
    """Exactly one volume type, each checked by its own rules."""
    count = 0
    errs: list[FieldError] = []
    for name, (dup_name, own_name, check) in table.items():
        if source.get(name) is None:
            continue
        if count:
            errs.append(forbidden(child(path, dup_name), "may not specify more than 1 volume type"))
            continue
        count += 1
        errs += check(source[name], child(path, own_name))
    for name, check in (extra or {}).items():
        if source.get(name) is not None:
            if count:
                errs.append(forbidden(child(path, name), "may not specify more than 1 volume type"))
            else:
                count += 1
                errs += check(source[name], child(path, name))
    if not count:
        errs.append(required(path, "must specify a volume type"))
    return errs


def pod_volumes(
    volumes: list | None, path: str, pod_name: str = "", is_pod: bool = False
) -> tuple[dict[str, dict], list[FieldError]]:
    """ValidateVolumes: returns the valid volumes by name, which mounts may refer to."""
    errs: list[FieldError] = []
    valid: dict[str, dict] = {}
    created_claims = {
        f"{pod_name}-{v.get('name', '')}" for v in volumes or [] if pod_name and v.get("ephemeral")
    }
    for i, vol in enumerate(volumes or []):
        p = index(path, i)
        name = vol.get("name", "")
        own = _one_source(vol, p, _POD_SOURCES, {"image": lambda s, at: _image(s, at, is_pod)})
        if vol.get("ephemeral") is not None and pod_name and name:
            claim_name = f"{pod_name}-{name}"
            own += [
                invalid(child(p, "name"), name, f'PVC name "{claim_name}": {msg}')
                for msg in name_is_dns_subdomain(claim_name, False)
            ]
        own += [required(child(p, "name"), "")] if not name else dns1123_label(name, child(p, "name"))
        if name in valid:
            own.append(duplicate(child(p, "name"), name))
        if own:
            errs += own
        else:
            valid[name] = vol
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and claim in created_claims:
            errs.append(
                invalid(
                    child(p, "persistentVolumeClaim", "claimName"),
                    claim,
                    "must not reference a PVC that gets created for an ephemeral volume",
                )
            )
    return valid, errs


def volume_mounts(container: dict, volumes: dict[str, dict], path: str) -> list[FieldError]:
    """ValidateVolumeMounts, including upstream's habit of reporting subPath errors without an index."""
    devices = {d.get("name"): d.get("devicePath") for d in container.get("volumeDevices") or []}
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    privileged = bool((container.get("securityContext") or {}).get("privileged"))
    for i, m in enumerate(container.get("volumeMounts") or []):
        p = index(path, i)
        name, mount_path = m.get("name", ""), m.get("mountPath", "")
        if not name:
            errs.append(required(child(p, "name"), ""))
        if name not in volumes:
            errs.append(not_found(child(p, "name"), name))
        if not mount_path:
            errs.append(required(child(p, "mountPath"), ""))
        if mount_path in mount_points:
            errs.append(invalid(child(p, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if name in devices:
            errs.append(invalid(child(p, "name"), name, "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            errs.append(
                invalid(
                    child(p, "mountPath"), mount_path, "must not already exist as a path in volumeDevices"
                )
            )
        if (volumes.get(name) or {}).get("image") is not None:
            for field_name in ("subPath", "subPathExpr"):
                if m.get(field_name):
                    errs.append(
                        invalid(child(p, field_name), m[field_name], "not allowed in image volume sources")
                    )
        if m.get("subPath"):
            errs += local_descending_path(m["subPath"], child(path, "subPath"))
        if m.get("subPathExpr"):
            if m.get("subPath"):
                errs.append(
                    invalid(
                        child(p, "subPathExpr"),
                        m["subPathExpr"],
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            errs += local_descending_path(m["subPathExpr"], child(path, "subPathExpr"))
        propagation = m.get("mountPropagation")
        if propagation is not None:
            errs += supported(
                propagation, ["Bidirectional", "HostToContainer", "None"], child(path, "mountPropagation")
            )
            if propagation == "Bidirectional" and not privileged:
                errs.append(
                    forbidden(
                        child(path, "mountPropagation"),
                        "Bidirectional mount propagation is available only to privileged containers",
                    )
                )
        errs += _recursive_read_only(m, child(path, "recursiveReadOnly"))
    return errs


def _recursive_read_only(mount: dict, path: str) -> list[FieldError]:
    mode = mount.get("recursiveReadOnly")
    if mode is None or mode == "Disabled":
        return []
    if mode not in ("Enabled", "IfPossible"):
        return [not_supported(path, mode, ["Disabled", "Enabled", "IfPossible"])]
    errs = [] if mount.get("readOnly") else [forbidden(path, "may only be specified when readOnly is true")]
    if mount.get("mountPropagation") not in (None, "None"):
        errs.append(forbidden(path, "may only be specified when mountPropagation is None or not specified"))
    return errs


def volume_devices(container: dict, volumes: dict[str, dict], path: str) -> list[FieldError]:
    mounts = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
    errs: list[FieldError] = []
    names: set[str] = set()
    device_paths: set[str] = set()
    for i, d in enumerate(container.get("volumeDevices") or []):
        p = index(path, i)
        name, device_path = d.get("name", ""), d.get("devicePath", "")
        source = volumes.get(name)
        if not name:
            errs.append(required(child(p, "name"), ""))
        if name in names:
            errs.append(invalid(child(p, "name"), name, "must be unique"))
        if (
            source is not None
            and source.get("persistentVolumeClaim") is None
            and source.get("ephemeral") is None
        ):
            errs.append(
                invalid(
                    child(p, "name"),
                    name,
                    "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
                )
            )
        if source is None:
            errs.append(not_found(child(p, "name"), name))
        if not device_path:
            errs.append(required(child(p, "devicePath"), ""))
        if device_path in device_paths:
            errs.append(invalid(child(p, "devicePath"), device_path, "must be unique"))
        if device_path and no_backsteps(device_path, p):
            errs.append(invalid(child(p, "devicePath"), device_path, "can not contain backsteps ('..')"))
        else:
            device_paths.add(device_path)
        if name in mounts:
            errs.append(invalid(child(p, "name"), name, "must not already exist in volumeMounts"))
        if device_path in mounts.values():
            errs.append(
                invalid(
                    child(p, "devicePath"), device_path, "must not already exist as a path in volumeMounts"
                )
            )
        if name:
            names.add(name)
    return errs


# --- PersistentVolume and PersistentVolumeClaim


def _access_modes(modes: list, path: str) -> list[FieldError]:
    errs = [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m != "ReadWriteOncePod" and m in ACCESS_MODES for m in modes):
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def pv_spec(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(required(child(path, "accessModes"), ""))
    errs += _access_modes(modes, child(path, "accessModes"))
    capacity = spec.get("capacity") or {}
    cap_path = child(path, "capacity")
    if not capacity:
        errs.append(required(cap_path, ""))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported(cap_path, capacity, ["storage"]))
    for name, text in capacity.items():
        q, perrs = parsed(text, key(cap_path, name))
        errs += perrs
        if q is not None:
            if q.int_value() < 0:
                errs.append(invalid(key(cap_path, name), q.int_value(), "must be a valid resource quantity"))
            errs += positive_quantity(q, key(cap_path, name))
    policy = spec.get("persistentVolumeReclaimPolicy", "")
    if policy:
        errs += supported(policy, RECLAIM_POLICIES, child(path, "persistentVolumeReclaimPolicy"))
    node_affinity = spec.get("nodeAffinity")
    if node_affinity is not None:
        if node_affinity.get("required") is not None:
            errs += affinity.node_selector(node_affinity["required"], child(path, "nodeAffinity", "required"))
        else:
            errs.append(
                required(child(path, "nodeAffinity", "required"), "must specify required node constraints")
            )
    errs += _one_source(spec, path, _PV_SOURCES)
    if (
        spec.get("local") is not None
        and node_affinity is None
        and not any(spec.get(k) is not None for k in PV_SOURCE_KEYS[: PV_SOURCE_KEYS.index("local")])
    ):
        errs.append(required(child(path, "nodeAffinity"), "Local volume requires node affinity"))
    host_path = (spec.get("hostPath") or {}).get("path")
    if host_path and posixpath.normpath(host_path) == "/" and policy == "Recycle":
        errs.append(
            forbidden(
                child(path, "persistentVolumeReclaimPolicy"),
                "may not be 'recycle' for a hostPath mount of '/'",
            )
        )
    if spec.get("storageClassName"):
        errs += each_message(
            child(path, "storageClassName"),
            spec["storageClassName"],
            name_is_dns_subdomain(spec["storageClassName"], False),
        )
    if spec.get("volumeMode") is not None:
        errs += supported(spec["volumeMode"], VOLUME_MODES, child(path, "volumeMode"))
    return errs


def pv_update(new: dict, old: dict) -> list[FieldError]:
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    new_source = {k: new_spec.get(k) for k in PV_SOURCE_KEYS if new_spec.get(k) is not None}
    old_source = {k: old_spec.get(k) for k in PV_SOURCE_KEYS if old_spec.get(k) is not None}
    csi_new, csi_old = new_source.get("csi"), old_source.get("csi")
    if csi_new and csi_old and "controllerExpandSecretRef" not in csi_old:
        new_source["csi"] = {k: v for k, v in csi_new.items() if k != "controllerExpandSecretRef"}
    errs: list[FieldError] = []
    if new_source != old_source:
        errs.append(
            forbidden(
                "spec.persistentvolumesource",
                "spec.persistentvolumesource is immutable after creation\n"
                + diff.render("core.PersistentVolumeSource", old_source, new_source),
            )
        )
    if new_spec.get("volumeMode") != old_spec.get("volumeMode"):
        errs.append(invalid("volumeMode", new_spec.get("volumeMode"), "field is immutable"))
    if old_spec.get("nodeAffinity") is not None and new_spec.get("nodeAffinity") != old_spec.get(
        "nodeAffinity"
    ):
        errs.append(
            invalid(
                "nodeAffinity",
                new_spec.get("nodeAffinity"),
                "field is immutable, except for updating from beta label to GA",
            )
        )
    return errs


def pvc_spec(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(required(child(path, "accessModes"), "at least 1 access mode is required"))
    if spec.get("selector") is not None:
        errs += label_selector(spec["selector"], child(path, "selector"))
    errs += _access_modes(modes, child(path, "accessModes"))
    storage_path = key(child(path, "resources"), "storage")
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        errs.append(required(storage_path, ""))
    else:
        q, perrs = parsed(storage, storage_path)
        errs += perrs
        if q is not None:
            errs += positive_quantity(q, storage_path) or quantity_value("storage", q, storage, storage_path)
    if spec.get("storageClassName"):
        errs += each_message(
            child(path, "storageClassName"),
            spec["storageClassName"],
            name_is_dns_subdomain(spec["storageClassName"], False),
        )
    if spec.get("volumeMode") is not None:
        errs += supported(spec["volumeMode"], VOLUME_MODES, child(path, "volumeMode"))
    for name in ("dataSource", "dataSourceRef"):
        if spec.get(name) is not None:
            errs += _data_source(spec[name], child(path, name))
    ref, source = spec.get("dataSourceRef"), spec.get("dataSource")
    if ref and ref.get("namespace"):
        if source is not None:
            errs.append(
                invalid(
                    path,
                    child(path, "dataSource"),
                    "may not be specified when dataSourceRef.namespace is specified",
                )
            )
    elif source and ref and any(source.get(k) != ref.get(k) for k in ("apiGroup", "kind", "name")):
        errs.append(invalid(path, child(path, "dataSource"), "must match dataSourceRef"))
    if spec.get("volumeAttributesClassName"):
        errs += each_message(
            child(path, "volumeAttributesClassName"),
            spec["volumeAttributesClassName"],
            name_is_dns_subdomain(spec["volumeAttributesClassName"], False),
        )
    return errs


def _data_source(ref: dict, path: str) -> list[FieldError]:
    errs = [required(child(path, n), "") for n in ("name", "kind") if not ref.get(n)]
    group = ref.get("apiGroup") or ""
    if not group and ref.get("kind") != "PersistentVolumeClaim":
        errs.append(
            invalid(
                path,
                ref.get("kind", ""),
                "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            )
        )
    if group:
        errs += dns1123_subdomain(group, child(path, "apiGroup"))
    if ref.get("namespace"):
        errs += each_message(
            child(path, "namespace"), ref["namespace"], name_is_dns_label(ref["namespace"], False)
        )
    return errs


def pvc_update(new: dict, old: dict) -> list[FieldError]:
    """Claims are immutable but for a first volumeName, a storage class from its beta annotation,
    and growing (or, after a failed expansion, shrinking back) a bound claim's storage request."""
    new_spec, old_spec = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    errs: list[FieldError] = []
    annotation = "volume.beta.kubernetes.io/storage-class"
    new_ann = (new.get("metadata") or {}).get("annotations") or {}
    old_ann = (old.get("metadata") or {}).get("annotations") or {}
    compare_new, compare_old = dict(new_spec), dict(old_spec)
    if not old_spec.get("volumeName"):
        compare_old["volumeName"] = new_spec.get("volumeName")
    upgraded = (
        annotation in old_ann
        and old_spec.get("storageClassName") is None
        and new_spec.get("storageClassName") == old_ann[annotation]
        and new_ann.get(annotation, old_ann[annotation]) == old_ann[annotation]
    )
    if upgraded:
        compare_new["storageClassName"] = None
    else:
        if new_ann.get(annotation, "") != old_ann.get(annotation, ""):
            errs.append(
                invalid(
                    f"metadata.annotations.{annotation}", new_ann.get(annotation, ""), "field is immutable"
                )
            )
        if (
            new_spec.get("storageClassName") is not None
            and old_spec.get("storageClassName") is None
            and (annotation not in old_ann or new_spec["storageClassName"] == old_ann[annotation])
        ):
            compare_new["storageClassName"] = old_spec.get("storageClassName")
    bound = (new.get("status") or {}).get("phase") == "Bound"
    if bound and (new_spec.get("resources") or {}).get("requests") is not None:
        resources = dict(compare_new.get("resources") or {})
        requests = dict(resources.get("requests") or {})
        requests["storage"] = ((old_spec.get("resources") or {}).get("requests") or {}).get("storage")
        compare_new["resources"] = {**resources, "requests": requests}
    if bound and new_spec.get("volumeAttributesClassName") is not None:
        compare_new["volumeAttributesClassName"] = old_spec.get("volumeAttributesClassName")
    if _drop_none(compare_new) != _drop_none(compare_old):
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims\n"
                + diff.render("core.PersistentVolumeClaimSpec", compare_old, compare_new),
            )
        )
    errs += _storage_shrink(new_spec, old_spec, old.get("status") or {})
    if new_spec.get("volumeMode") != old_spec.get("volumeMode"):
        errs.append(invalid("volumeMode", new_spec.get("volumeMode"), "field is immutable"))
    return errs


def _storage_shrink(new_spec: dict, old_spec: dict, old_status: dict) -> list[FieldError]:
    def storage(holder: dict | None) -> quantity.Quantity:
        try:
            return quantity.parse((holder or {}).get("storage", 0))
        except quantity.QuantityError:
            return quantity.Quantity(Fraction(0))

    new_size = storage((new_spec.get("resources") or {}).get("requests"))
    old_size = storage((old_spec.get("resources") or {}).get("requests"))
    if new_size < old_size and new_size <= storage(old_status.get("capacity")):
        return [forbidden("spec.resources.requests.storage", "field can not be less than status.capacity")]
    return []


def _drop_none(value: dict) -> dict:
    return {k: v for k, v in value.items() if v is not None}


def config_map_key(k: str, path: str) -> list[FieldError]:
    return each_message(path, k, is_config_map_key(k))
