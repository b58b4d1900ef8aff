"""Persistent volumes and claims, storage classes, CSI drivers and nodes, volume attachments."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, meta, name, spec, status, wide
from timoneiro.api.printers.quantity import quantity

_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
_DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: list | None) -> str:
    """GetAccessModesAsString: short names in a fixed order, each once."""
    return ",".join(short for mode, short in _ACCESS_MODES if mode in (modes or []))


def persistent_volume_cells(pv: dict, now: datetime) -> list:
    pv_spec = spec(pv)
    claim = pv_spec.get("claimRef")
    annotations = meta(pv).get("annotations") or {}
    return [
        name(pv),
        quantity((pv_spec.get("capacity") or {}).get("storage")),
        access_modes(pv_spec.get("accessModes")),
        pv_spec.get("persistentVolumeReclaimPolicy", ""),
        "Terminating" if meta(pv).get("deletionTimestamp") else status(pv).get("phase", ""),
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim is not None else "",
        annotations[_BETA_CLASS] if _BETA_CLASS in annotations else pv_spec.get("storageClassName", ""),
        _unset(pv_spec.get("volumeAttributesClassName")),
        status(pv).get("reason", ""),
        since(created(pv), now),
        _unset(pv_spec.get("volumeMode")),
    ]


def persistent_volume_claim_cells(pvc: dict, now: datetime) -> list:
    pvc_spec, pvc_status = spec(pvc), status(pvc)
    annotations = meta(pvc).get("annotations") or {}
    capacity = modes = ""
    if pvc_spec.get("volumeName"):
        modes = access_modes(pvc_status.get("accessModes"))
        capacity = quantity((pvc_status.get("capacity") or {}).get("storage"))
    storage_class = pvc_spec.get("storageClassName") or ""
    if _BETA_CLASS in annotations:
        storage_class = annotations[_BETA_CLASS]
    return [
        name(pvc),
        "Terminating" if meta(pvc).get("deletionTimestamp") else pvc_status.get("phase", ""),
        pvc_spec.get("volumeName", ""),
        capacity,
        modes,
        storage_class,
        _unset(pvc_spec.get("volumeAttributesClassName")),
        since(created(pvc), now),
        _unset(pvc_spec.get("volumeMode")),
    ]


def _unset(value: str | None) -> str:
    return "<unset>" if value is None else value


def storage_class_cells(obj: dict, now: datetime) -> list:
    annotations = meta(obj).get("annotations") or {}
    default = any(annotations.get(key) == "true" for key in _DEFAULT_CLASS)
    return [
        name(obj) + (" (default)" if default else ""),
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy") or "Delete",
        obj.get("volumeBindingMode") or "Immediate",
        bool(obj.get("allowVolumeExpansion")),
        since(created(obj), now),
    ]


def csi_driver_cells(obj: dict, now: datetime) -> list:
    driver = spec(obj)
    attach = driver.get("attachRequired")
    tokens = driver.get("tokenRequests")
    return [
        name(obj),
        True if attach is None else attach,
        bool(driver.get("podInfoOnMount")),
        bool(driver.get("storageCapacity")),
        "<unset>" if tokens is None else ",".join(t.get("audience", "") for t in tokens),
        bool(driver.get("requiresRepublish")),
        ",".join(driver.get("volumeLifecycleModes") or []) or "<none>",
        since(created(obj), now),
    ]


def csi_node_cells(obj: dict, now: datetime) -> list:
    return [name(obj), len(spec(obj).get("drivers") or []), since(created(obj), now)]


def volume_attachment_cells(obj: dict, now: datetime) -> list:
    va_spec = spec(obj)
    return [
        name(obj),
        va_spec.get("attacher", ""),
        (va_spec.get("source") or {}).get("persistentVolumeName") or "",
        va_spec.get("nodeName", ""),
        bool(status(obj).get("attached")),
        since(created(obj), now),
    ]


PRINTERS = {
    ("", "PersistentVolume"): Printer(
        (
            NAME,
            column("Capacity", "The volume's storage capacity."),
            column("Access Modes", "The ways the volume can be mounted."),
            column("Reclaim Policy", "What happens to the volume when its claim is released."),
            column("Status", "The phase of the volume."),
            column("Claim", "The claim bound to the volume."),
            column("StorageClass", "StorageClass of the pv"),
            column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
            column("Reason", "Why the volume is in its phase."),
            AGE,
            wide("VolumeMode", "Whether the volume is a filesystem or a raw block device."),
        ),
        persistent_volume_cells,
    ),
    ("", "PersistentVolumeClaim"): Printer(
        (
            NAME,
            column("Status", "The phase of the claim."),
            column("Volume", "The volume bound to the claim."),
            column("Capacity", "The storage capacity of the bound volume."),
            column("Access Modes", "The access modes of the bound volume."),
            column("StorageClass", "StorageClass of the pvc"),
            column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            AGE,
            wide("VolumeMode", "Whether the claim wants a filesystem or a raw block device."),
        ),
        persistent_volume_claim_cells,
    ),
    ("storage.k8s.io", "StorageClass"): Printer(
        (
            NAME,
            column("Provisioner", "The volume plugin that provisions volumes of this class."),
            column("ReclaimPolicy", "Reclaim policy of the volumes provisioned."),
            column("VolumeBindingMode", "When claims of this class are bound."),
            column("AllowVolumeExpansion", "Whether volumes of this class may be expanded."),
            AGE,
        ),
        storage_class_cells,
    ),
    ("storage.k8s.io", "CSIDriver"): Printer(
        (
            NAME,
            column("AttachRequired", "Whether volumes need an attach operation.", "boolean"),
            column("PodInfoOnMount", "Whether pod information is passed on mount.", "boolean"),
            column("StorageCapacity", "Whether the driver reports storage capacity.", "boolean"),
            column("TokenRequests", "Audiences of the service account tokens passed on mount."),
            column("RequiresRepublish", "Whether volumes are periodically remounted.", "boolean"),
            column("Modes", "The volume lifecycle modes the driver supports."),
            AGE,
        ),
        csi_driver_cells,
    ),
    ("storage.k8s.io", "CSINode"): Printer(
        (NAME, column("Drivers", "Number of CSI drivers registered on the node.", "integer"), AGE),
        csi_node_cells,
    ),
    ("storage.k8s.io", "VolumeAttachment"): Printer(
        (
            NAME,
            column("Attacher", "The driver that attaches the volume.", format_="name"),
            column("PV", "The persistent volume being attached."),
            column("Node", "The node the volume is attached to."),
            column("Attached", "Whether the volume is attached.", "boolean"),
            AGE,
        ),
        volume_attachment_cells,
    ),
}
