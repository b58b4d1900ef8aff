"""storage.k8s.io/v1: StorageClasses, CSIDrivers, CSINodes and VolumeAttachments."""

from __future__ import annotations

from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, required
from timoneiro.api.validation import affinity, meta, volumes
from timoneiro.api.validation.meta import child, index
from timoneiro.api.validation.names import inclusive_range_error, name_is_dns_subdomain
from timoneiro.api.validation.rules import Rules, spec_of, with_meta

MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024
MAX_ATTACHMENT_METADATA = 256 * 1024
MAX_VOLUME_ERROR = 1024
MAX_NODE_ID = 192


# --- StorageClass


def _storage_class(obj: dict) -> list[FieldError]:
    provisioner = obj.get("provisioner", "")
    errs = (
        [required("provisioner", "")]
        if not provisioner
        else meta.qualified_name(provisioner.lower(), "provisioner")
    )
    params = obj.get("parameters") or {}
    if len(params) > MAX_PARAMETERS:
        errs.append(FieldError("TooLong", "parameters", f"may not be more than {MAX_PARAMETERS} bytes"))
    else:
        errs += [invalid("parameters", k, "field can not be empty.") for k in params if not k]
        if sum(len(k) + len(str(v)) for k, v in params.items()) > MAX_PARAMETERS_SIZE:
            errs.append(
                FieldError("TooLong", "parameters", f"may not be more than {MAX_PARAMETERS_SIZE} bytes")
            )
    policy = obj.get("reclaimPolicy")
    if policy:
        errs += meta.supported(policy, ["Delete", "Retain"], "reclaimPolicy")
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode", ""))
    else:
        errs += meta.supported(mode, ["Immediate", "WaitForFirstConsumer"], "volumeBindingMode")
    seen: list = []
    for i, term in enumerate(obj.get("allowedTopologies") or []):
        raw, term_errs = affinity.topology_selector_term(term, index("allowedTopologies", i))
        errs += term_errs
        if raw in seen:
            errs.append(duplicate(child(index("allowedTopologies", i), "matchLabelExpressions"), ""))
        seen.append(raw)
    return errs


def _storage_class_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    if (new.get("parameters") or {}) != (old.get("parameters") or {}):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    return errs + meta.immutable(
        new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode"
    )


# --- CSIDriver


def _csi_driver(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    # upstream spells this path attachedRequired
    errs = [
        required(child(path, name), "")
        for key, name in (
            ("attachRequired", "attachedRequired"),
            ("podInfoOnMount", "podInfoOnMount"),
            ("storageCapacity", "storageCapacity"),
        )
        if spec.get(key) is None
    ]
    if spec.get("fsGroupPolicy") is not None:
        errs += meta.supported(
            spec["fsGroupPolicy"], ["File", "None", "ReadWriteOnceWithFSType"], child(path, "fsGroupPolicy")
        )
    audiences: set[str] = set()
    for i, request in enumerate(spec.get("tokenRequests") or []):
        p = index(child(path, "tokenRequests"), i)
        audience = request.get("audience", "")
        if audience in audiences:
            errs.append(duplicate(child(p, "audience"), audience))
            continue
        audiences.add(audience)
        seconds = request.get("expirationSeconds")
        if seconds is not None and seconds < 600:
            errs.append(
                invalid(
                    child(p, "expirationSeconds"), seconds, "may not specify a duration less than 10 minutes"
                )
            )
        if seconds is not None and seconds > 1 << 32:
            errs.append(
                invalid(
                    child(p, "expirationSeconds"),
                    seconds,
                    "may not specify a duration larger than 2^32 seconds",
                )
            )
    for mode in spec.get("volumeLifecycleModes") or []:
        errs += meta.supported(mode, ["Persistent", "Ephemeral"], child(path, "volumeLifecycleModes"))
    period = spec.get("nodeAllocatableUpdatePeriodSeconds")
    if period is not None and period < 10:
        errs.append(
            invalid(
                child(path, "nodeAllocatableUpdatePeriodSeconds"),
                period,
                "must be greater than or equal to 10 seconds",
            )
        )
    return errs


def _csi_driver_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = spec_of(new), spec_of(old)
    errs = meta.immutable(spec.get("attachRequired"), old_spec.get("attachRequired"), "spec.attachedRequired")
    return errs + meta.immutable(
        spec.get("volumeLifecycleModes"), old_spec.get("volumeLifecycleModes"), "spec.volumeLifecycleModes"
    )


# --- CSINode


def _csi_node(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, driver in enumerate(spec_of(obj).get("drivers") or []):
        p = index("spec.drivers", i)
        name = driver.get("name", "")
        errs += volumes.csi_driver_name(name, child(p, "name"))
        node_id = driver.get("nodeID", "")
        if not node_id:
            errs.append(required(child(p, "nodeID"), ""))
        if len(node_id) > MAX_NODE_ID:
            errs.append(invalid(child(p, "nodeID"), node_id, f"must be {MAX_NODE_ID} characters or less"))
        count = (driver.get("allocatable") or {}).get("count")
        if count is not None:
            errs += meta.nonnegative(count, child(p, "allocatable", "count"))
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        names.add(name)
        keys: set[str] = set()
        for topology_key in driver.get("topologyKeys") or []:
            if not topology_key:
                errs.append(required(p, ""))
            if topology_key in keys:
                errs.append(duplicate(p, topology_key))
            keys.add(topology_key)
            errs += meta.qualified_name(topology_key, p)
    return errs


def _csi_node_update(new: dict, old: dict) -> list[FieldError]:
    old_drivers = {d.get("name"): d for d in spec_of(old).get("drivers") or []}
    errs: list[FieldError] = []
    for driver in spec_of(new).get("drivers") or []:
        before = old_drivers.get(driver.get("name"))
        if before is not None:
            errs += meta.immutable(_without_allocatable(driver), _without_allocatable(before), "spec.drivers")
    return errs


def _without_allocatable(driver: dict) -> dict:
    return {k: v for k, v in driver.items() if k != "allocatable"}


# --- VolumeAttachment


def _volume_attachment(obj: dict) -> list[FieldError]:
    spec = spec_of(obj)
    errs = volumes.csi_driver_name(spec.get("attacher", ""), "spec.attacher")
    source = spec.get("source") or {}
    pv_name, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
    if pv_name is None and inline is None:
        errs.append(
            required("spec.source", "must specify exactly one of inlineVolumeSpec and persistentVolumeName")
        )
    elif pv_name is not None and inline is not None:
        errs.append(
            forbidden("spec.source", "must specify exactly one of inlineVolumeSpec and persistentVolumeName")
        )
    elif pv_name is not None:
        if not pv_name:
            errs.append(
                required("spec.source.persistentVolumeName", "must specify non empty persistentVolumeName")
            )
        errs += meta.name_with(name_is_dns_subdomain, pv_name, "spec.source.persistentVolumeName")
    errs += meta.name_with(name_is_dns_subdomain, spec.get("nodeName", ""), "spec.nodeName")
    status = obj.get("status") or {}
    metadata = status.get("attachmentMetadata") or {}
    if sum(len(k) + len(str(v)) for k, v in metadata.items()) > MAX_ATTACHMENT_METADATA:
        errs.append(
            FieldError(
                "TooLong",
                "status.attachmentMetadata",
                f"may not be more than {MAX_ATTACHMENT_METADATA} bytes",
            )
        )
    for name in ("attachError", "detachError"):
        error = status.get(name)
        if error is None:
            continue
        if len(error.get("message", "")) > MAX_VOLUME_ERROR:
            errs.append(
                FieldError(
                    "TooLong",
                    child("status", name, "message"),
                    f"may not be more than {MAX_ATTACHMENT_METADATA} bytes",
                )
            )
        code = error.get("errorCode")
        if code is not None and code < 0:
            errs.append(
                invalid(child("status", name, "errorCode"), code, inclusive_range_error(0, 2**31 - 1))
            )
    return errs


def _volume_attachment_update(new: dict, old: dict) -> list[FieldError]:
    if spec_of(new) != spec_of(old):
        return [invalid("spec", spec_of(new), meta.IMMUTABLE)]
    return []


_attachment = with_meta(False, name_is_dns_subdomain, _volume_attachment)
_csi_node_rules = with_meta(False, name_is_dns_subdomain, _csi_node)


def _volume_attachment_full_update(new: dict, old: dict) -> list[FieldError]:
    return _attachment.create(new) + _volume_attachment_update(new, old)


def _csi_node_full_update(new: dict, old: dict) -> list[FieldError]:
    return _csi_node_rules.create(new) + _csi_node_update(new, old)


def _storage_class_full_update(new: dict, old: dict) -> list[FieldError]:
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
    return _storage_classes.create(new) + errs + _storage_class_update(new, old)


_storage_classes = with_meta(False, name_is_dns_subdomain, _storage_class)

RULES: dict[str, Rules] = {
    "StorageClass": Rules(_storage_classes.create, _storage_class_full_update),
    "CSIDriver": with_meta(False, name_is_dns_subdomain, _csi_driver, _csi_driver_update),
    "CSINode": Rules(_csi_node_rules.create, _csi_node_full_update),
    "VolumeAttachment": Rules(_attachment.create, _volume_attachment_full_update),
}
